"""The Docker side of `make deploy-e2e`: an engine on this machine (started, and installed
from Debian when missing), `python:3.11-slim` or a local stand-in for it when the registry
cannot be reached, and the shell helpers and notes of the run."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from common.config import ROOT
from local.stack import DATA_DIR

ROOTFS = DATA_DIR / "deploy-rootfs"  # the stand-in base's file tree, kept between runs
BASE = "python:3.11-slim"
MIRROR = "http://deb.debian.org/debian"
STAND_IN = (
    f"a local stand-in for {BASE}: Debian bookworm from debootstrap, its Python 3.11 in a venv"
    " at /opt/python on PATH, and this host's CA bundle for pip"
)
LABEL_FORMAT = '{{index .Config.Labels "io.sales-coach.stand-in"}}'


class E2E:
    """One run's log (seconds since start), its notes (settings of the run) and checks."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.notes: dict[str, str] = {}
        self.checks: dict[str, bool] = {}

    def log(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", flush=True)


def sh(*args: str, timeout: float = 900, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[:4])}... failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return done.stdout


def ok(*args: str, timeout: float = 60) -> bool:
    try:
        return subprocess.run(args, capture_output=True, timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# -- 1. the engine and 2. the base image ------------------------------------------------------


def apt_install(package: str, command: str) -> None:
    """Install the Debian package unless `command` is on PATH already."""
    if shutil.which(command):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sh("apt-get", "update", "-qq", env=env)
    sh("apt-get", "install", "-y", "-qq", package, env=env)


def docker_engine(e: E2E) -> None:
    if shutil.which("docker") and ok("docker", "info"):
        e.notes["engine"] = "a Docker engine already running"
        return
    if not shutil.which("dockerd"):
        e.log("installing docker.io")
        apt_install("docker.io", "dockerd")
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    log = (DATA_DIR / "dockerd.log").open("ab")
    subprocess.Popen(
        ["dockerd", "--bridge=none", "--iptables=false", "--ip6tables=false"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not ok("docker", "info"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"dockerd did not start; see {DATA_DIR / 'dockerd.log'}")
        time.sleep(1)
    e.notes["engine"] = "dockerd started here: --bridge=none --iptables=false (host network only)"


def base_image(e: E2E) -> None:
    if ok("docker", "image", "inspect", BASE):
        label = sh("docker", "image", "inspect", "--format", LABEL_FORMAT, BASE).strip()
        e.notes["base_image"] = (
            f"{STAND_IN} (made by an earlier run)" if label == "true" else f"{BASE} in the engine"
        )
        return
    if ok("docker", "pull", BASE, timeout=45):
        e.notes["base_image"] = f"{BASE} pulled from the registry"
        return
    e.log(f"the registry is out of reach: making a local stand-in for {BASE}")
    python = ROOTFS / "opt" / "python" / "bin" / "python"
    if not python.exists():
        shutil.rmtree(ROOTFS, ignore_errors=True)
        apt_install("debootstrap", "debootstrap")
        sh(
            "debootstrap",
            "--variant=minbase",
            "--include=python3,python3-venv,ca-certificates",
            "bookworm",
            str(ROOTFS),
            MIRROR,
            timeout=900,
        )
        sh("chroot", str(ROOTFS), "python3", "-m", "venv", "/opt/python")
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for f in (ROOTFS / cache).glob("*"):
                if f.is_file():
                    f.unlink()
    # pip in the image trusts what pip on this host trusts (this network's TLS)
    bundle = Path(os.environ.get("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt"))
    shutil.copy(bundle, ROOTFS / "etc/ssl/certs/ca-certificates.crt")
    (ROOTFS / "etc/pip.conf").write_text("[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")
    tar = subprocess.Popen(["tar", "-C", str(ROOTFS), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(
        [
            "docker",
            "import",
            "--change",
            "ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change",
            "ENV LANG=C.UTF-8",
            "--change",
            'CMD ["python3"]',
            "--change",
            "LABEL io.sales-coach.stand-in=true",
            "-",
            BASE,
        ],
        stdin=tar.stdout,
        check=True,
        capture_output=True,
    )
    tar.wait()
    e.notes["base_image"] = STAND_IN
