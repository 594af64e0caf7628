"""`make deploy-e2e`: the system deployed as the README's runbook tells a RevOps engineer, in
Docker, and run for a day in miniature under faults.

1. A Docker engine (started here if none runs, `docker.io` installed when missing).
2. `python:3.11-slim`: the registry's, or a local stand-in made with debootstrap when the
   registry cannot be reached, so the product Dockerfiles build unchanged.
3. Embedded Postgres over TCP, S3 (moto), the Gong and Claude stand-ins (or the Anthropic API
   from ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY), a Prefect server, on the host.
4. The runbook's commands: a Docker work pool whose job template carries the secrets,
   `prefect deploy` of `analyze-calls` and `dispatch-webhook-events` from prefect.yaml (its
   migrate and build steps), a Docker worker, the webhook and the MCP server in containers of
   `Dockerfile.http`, a bearer token for Claude Desktop.
5. Checks of what was deployed: the flow image has the rubrics, migrations, prices and report
   templates; no container runs as root; the journal of paid responses is on a volume.
6. A day in miniature: signed deliveries to the containerised webhook, the dispatcher on its
   schedule, analyses in containers; one running analysis container is `docker kill`ed and
   Postgres is stopped for a few seconds; then the MCP server is asked over HTTP.

The last line is JSON: calls, analysed, parked, paid_requests, paid_twice, containers (flow
runs that ran in containers), image_build_s, seconds, and the checks. Exit status 1 when a
call is left unanalysed or parked, a response was paid twice, or a check failed.

    python -m local.deploy_e2e [--calls 30] [--deadline 900]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import yaml

from common.config import ROOT
from local import outcome
from local.pipeline import deliver
from local.prefect_stack import PrefectStack, prefect_stack
from local.samples import distinct_calls
from local.serve import free_port, serve
from local.signing import GongSigner
from local.stack import DATA_DIR, GONG_KEY, GONG_SECRET, PostgresControl, start_tcp_postgres

WORK = DATA_DIR / "deploy-e2e"
ROOTFS = DATA_DIR / "deploy-rootfs"  # the stand-in base's file tree, kept between runs
BASE = "python:3.11-slim"
FLOW_IMAGE = "sales-coach-flows"  # SALES_COACH_IMAGE (production: a registry path)
HTTP_IMAGE = "sales-coach-http:e2e"
POOL = "sales-coach-docker"
DEPLOYMENTS = (  # the runbook's: every deployment on the Docker pool
    "analyze-calls",
    "dispatch-webhook-events",
    "weekly-review",
    "health",
    "retention",
    "import-scorecards",
    "backfill",
    "analyze-batch",
)
MIRROR = "http://deb.debian.org/debian"
STAND_IN = (
    f"a local stand-in for {BASE}: Debian bookworm from debootstrap, its Python 3.11 in a venv"
    " at /opt/python on PATH, and this host's CA bundle for pip"
)
LABEL_FORMAT = '{{index .Config.Labels "io.sales-coach.stand-in"}}'
CONTAINERS = ("sales-coach-webhook", "sales-coach-mcp")
ADMIN = "alex.kim@northwind.example"  # RevOps in the Gong stand-in's users

# What the flow needs inside its image; run there by `check_flow_image`.
IMAGE_CHECK = """
import importlib.resources as r, os, pathlib, sys
from common.rubrics import load
from common.scoring import applicability
rubrics = pathlib.Path(os.environ["RUBRICS_DIR"])
common = r.files("common")
missing = [str(p) for p in (
    common / "prices.csv", common / "migrations" / "0001_first_release.sql",
    common / "reports" / "templates", rubrics / "applicability.yaml",
    rubrics / "knowledge_base") if not p.exists()]
if missing:
    sys.exit("missing: " + ", ".join(missing))
rules = load(rubrics)
applicability.load(rubrics)
print(os.getuid(), os.environ["JOURNAL_DIR"], len(rules.rubrics))
"""


class E2E:
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
    WORK.parent.mkdir(parents=True, exist_ok=True)
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


# -- 3. the services on the host, and 4. the runbook ------------------------------------------


def e2e_prefect_file(local_base: bool) -> Path:
    """prefect.yaml with this run's differences, and only those: no push (the image stays in
    this engine), builds and containers on the host network, and with a local stand-in base
    no pull of it before the build."""
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    for d in spec["deployments"]:
        if d["name"] not in DEPLOYMENTS:
            continue
        d.pop("push", None)
        for step in d.get("build") or []:
            for name, args in step.items():
                if name.endswith("build_docker_image"):
                    args["network_mode"] = "host"
                    if local_base:
                        args["pull"] = False
        variables = d["work_pool"]["job_variables"]
        variables.setdefault("container_create_kwargs", {})["network_mode"] = "host"
    path = WORK / "prefect.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def work_pool(prefect: PrefectStack, secrets: dict[str, str]) -> None:
    """The runbook's pool: a Docker work pool whose job template carries the secrets, made
    with the runbook's commands (`jq` included)."""
    apt_install("jq", "jq")
    default = WORK / "docker-pool.json"
    default.write_text(
        prefect.cli("work-pool", "get-default-base-job-template", "--type", "docker").stdout
    )
    (WORK / "secrets.json").write_text(json.dumps(secrets))
    filled = sh(
        "jq",
        "--slurpfile",
        "env",
        str(WORK / "secrets.json"),
        ".variables.properties.env.default = $env[0]",
        str(default),
    )
    path = WORK / "docker-pool.secrets.json"
    path.write_text(filled)
    prefect.cli(
        "work-pool",
        "create",
        POOL,
        "--type",
        "docker",
        "--base-job-template",
        str(path),
        "--overwrite",
    )
    prefect.cli("work-pool", "set-concurrency-limit", POOL, "4")


def deploy(e: E2E, prefect: PrefectStack) -> float:
    """`prefect deploy` with prefect.yaml's migrate and build steps; seconds it took."""
    started = time.monotonic()
    names = [a for n in DEPLOYMENTS for a in ("--name", n)]
    local_base = e.notes["base_image"].startswith("a local stand-in")
    prefect.cli("deploy", "--prefect-file", str(e2e_prefect_file(local_base)), *names, timeout=1200)
    return time.monotonic() - started


def run_container(name: str, env: dict[str, str], *command: str) -> None:
    """`docker run -d --env-file NAME.env IMAGE ...` as the runbook runs it (host network
    here instead of `-p`)."""
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    env_file = WORK / f"{name}.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    sh(
        "docker",
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "host",
        "--env-file",
        str(env_file),
        HTTP_IMAGE,
        *command,
    )


def cli(env: dict[str, str], *args: str) -> str:
    """`sales-coach ...` as the runbook runs it: from the flow image, with the pool's secrets."""
    flags = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
    image = f"{FLOW_IMAGE}:latest"
    return sh("docker", "run", "--rm", "--network", "host", *flags, image, "sales-coach", *args)


def wait_healthy(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer 200")


# -- 5. checks of what was deployed -----------------------------------------------------------


def check_flow_image(e: E2E) -> None:
    image = f"{FLOW_IMAGE}:latest"
    out = sh("docker", "run", "--rm", "--network", "host", image, "python", "-c", IMAGE_CHECK)
    uid, journal, dimensions = out.split()
    e.checks["flow_image_has_its_files"] = dimensions == "4"
    e.checks["flow_image_not_root"] = uid != "0"
    e.notes["journal_dir"] = journal


def inspect_flow_container(e: E2E, container: str) -> None:
    """A flow-run container as the worker made it: not root, the journal on a volume."""
    found = subprocess.run(
        ["docker", "inspect", container], capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        return  # already gone (auto_remove)
    info = json.loads(found.stdout)[0]
    user = info["Config"].get("User") or "root"
    journal = e.notes.get("journal_dir", "/var/lib/sales-coach/journal")
    on_volume = any(
        m.get("Type") == "volume" and m.get("Destination") == journal for m in info["Mounts"]
    )
    e.checks["flow_containers_not_root"] = e.checks.get("flow_containers_not_root", True) and (
        user.split(":")[0] not in ("root", "0")
    )
    e.checks["journal_on_a_volume"] = e.checks.get("journal_on_a_volume", True) and on_volume


def flow_containers(deployment: str | None = None) -> list[str]:
    args = ["docker", "ps", "-q", "--filter", "label=io.prefect.flow-run-id"]
    if deployment:
        args += ["--filter", f"label=io.prefect.deployment-name={deployment}"]
    return sh(*args).split()


# -- 6. the day in miniature ------------------------------------------------------------------


def faults(
    e: E2E, postgres: PostgresControl, summary: dict[str, Any], stop: threading.Event
) -> None:
    """Kill one running analysis container, then stop Postgres for a few seconds; inspect
    every flow container seen meanwhile."""
    killed = False
    while not stop.is_set():
        for c in flow_containers():
            inspect_flow_container(e, c)
        running = flow_containers("analyze-calls")
        if running and not killed:
            time.sleep(4)  # into its analysis
            victim = running[0]
            inspect_flow_container(e, victim)
            subprocess.run(["docker", "kill", victim], capture_output=True, check=False)
            e.log(f"docker kill {victim[:12]} (a running analysis)")
            summary["killed_containers"] = 1
            killed = True
            time.sleep(8)
            e.log("stopping Postgres")
            postgres.stop()
            time.sleep(6)
            postgres.start()
            e.log("Postgres is back")
            summary["postgres_stopped_s"] = 6
        time.sleep(1)


def containers_started(since: float) -> int:
    """Distinct flow runs that started a container since `since` (epoch seconds)."""
    out = sh(
        "docker",
        "events",
        "--since",
        str(int(since)),
        "--until",
        str(int(time.time())),
        "--filter",
        "type=container",
        "--filter",
        "event=start",
        "--filter",
        "label=io.prefect.flow-run-id",
        "--format",
        '{{index .Actor.Attributes "io.prefect.flow-run-id"}}',
    )
    return len(set(out.split()))


def ask_mcp(url: str, token: str) -> int:
    """Calls the remote MCP server lists for an admin (over HTTP with a bearer token)."""
    import asyncio

    from fastmcp import Client

    async def go() -> int:
        async with Client(url, auth=token) as client:
            page = await client.call_tool("search_calls", {"page_size": 100})
            return int(page.structured_content["total"])  # type: ignore[index]

    return asyncio.run(go())


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--deadline", type=float, default=900, help="seconds to settle")
    args = ap.parse_args()
    e = E2E()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    summary: dict[str, Any] = {"calls": args.calls}
    docker_engine(e)
    base_image(e)
    e.log(f"engine: {e.notes['engine']}; base: {e.notes['base_image']}")
    with ExitStack() as stack:
        from moto.server import ThreadedMotoServer

        from local.anthropic_server import StandInState
        from local.anthropic_server import create_app as claude_app
        from local.gong_server import GongState
        from local.gong_server import create_app as gong_app

        postgres = start_tcp_postgres(WORK / "postgres", free_port())
        stack.callback(postgres.stop)
        db_url = postgres.tcp_uri("postgres")
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        s3_host, s3_port = moto.get_host_and_port()
        calls = distinct_calls(args.calls, prefix="95")
        gong_state = GongState(GONG_KEY, GONG_SECRET, rate_per_s=3)
        for sample in calls:
            gong_state.add(sample["call"], sample["transcript"])
        gong = serve(gong_app(gong_state))
        stack.callback(gong.stop)
        claude_url, claude_key = (
            os.environ.get("ANTHROPIC_BASE_URL"),
            os.environ.get("ANTHROPIC_API_KEY", ""),
        )
        if not claude_url:
            claude = serve(
                claude_app(StandInState(fail_rate=0.05, latency_s=1.0, generation_s=2.0))
            )
            stack.callback(claude.stop)
            claude_url, claude_key = claude.url, "sk-ant-local-stand-in"
            e.notes["claude"] = "the local Anthropic-compatible stand-in"
        else:
            e.notes["claude"] = claude_url
        signer = GongSigner()
        webhook_port, mcp_port = free_port(), free_port()
        webhook_url = f"http://127.0.0.1:{webhook_port}/webhooks/gong"
        secrets = {  # the pool's job template carries these, as the runbook says
            "DATABASE_URL": db_url,
            "S3_ENDPOINT_URL": f"http://{s3_host}:{s3_port}",
            "S3_BUCKET": "sales-coach-e2e",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "GONG_BASE_URL": gong.url,
            "GONG_ACCESS_KEY": GONG_KEY,
            "GONG_ACCESS_KEY_SECRET": GONG_SECRET,
            "ANTHROPIC_BASE_URL": claude_url,
            "ANTHROPIC_API_KEY": claude_key,
            # minutes of production behaviour in a few here, as bench/chaos.py does
            "CALLS_PER_RUN": "6",
            "CLAUDE_CLAIM_LEASE_S": "15",
            "ANALYSIS_RETRY_BASE_S": "5",
            "ANALYSIS_RETRY_MAX_S": "20",
            "ANALYSIS_RUN_DEADLINE_S": "150",
            "DB_OUTAGE_WAIT_S": "60",
            "MONTHLY_BUDGET_USD": "1000",
        }
        host_env = {  # `prefect deploy` runs the migrate step (`sales-coach init-db`) here
            **secrets,
            "SALES_COACH_IMAGE": FLOW_IMAGE,
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        }
        prefect = stack.enter_context(prefect_stack(WORK / "prefect", host_env))
        e.log(
            f"Postgres on TCP ({db_url}), S3, Gong and Claude stand-ins, Prefect at {prefect.api_url}"
        )

        # 4. the runbook
        work_pool(prefect, secrets)
        build_s = deploy(e, prefect)
        e.log(f"prefect deploy (migrate, build {FLOW_IMAGE}) took {build_s:.0f}s")
        started = time.monotonic()
        sh("docker", "build", "--network", "host", "-f", "Dockerfile.http", "-t", HTTP_IMAGE, ".")
        build_s += time.monotonic() - started
        summary["image_build_s"] = round(build_s, 1)
        check_flow_image(e)
        http_env = {**secrets, "PREFECT_API_URL": prefect.api_url}
        run_container(
            CONTAINERS[0],
            {
                **http_env,
                "PORT": str(webhook_port),
                "GONG_WEBHOOK_PUBLIC_KEYS": signer.public_key_b64_der,
                "GONG_WEBHOOK_URL": webhook_url,
            },
        )
        run_container(
            CONTAINERS[1],
            {**http_env, "PORT": str(mcp_port), "MCP_AUTH": "tokens"},
            "sales-coach-http",
            "mcp",
        )
        for name in CONTAINERS:
            stack.callback(subprocess.run, ["docker", "rm", "-f", name], capture_output=True)
        wait_healthy(f"http://127.0.0.1:{webhook_port}/healthz")
        wait_healthy(f"http://127.0.0.1:{mcp_port}/healthz")
        users = json.loads(sh("docker", "inspect", *CONTAINERS))
        e.checks["http_containers_not_root"] = all(
            (u["Config"].get("User") or "root").split(":")[0] not in ("root", "0") for u in users
        )
        cli(secrets, "sync-users")  # the runbook: users from Gong, then who is an admin
        cli(secrets, "set-role", ADMIN, "admin")
        prefect.start_worker("docker-worker-1", pool=POOL)
        e.log("webhook and MCP server up in containers; a Docker worker polls the pool")

        # 6. the day in miniature
        since = time.time()
        start = time.monotonic()
        stop = threading.Event()
        chaos = threading.Thread(target=faults, args=(e, postgres, summary, stop), daemon=True)
        chaos.start()
        summary.update(deliver(signer, webhook_url, calls, repeats=0.1, pause_s=0.3))
        e.log(f"delivered {summary['delivered']} signed webhooks ({summary['retried']} retried)")
        settled = outcome.settle(db_url, prefect.api_url, args.calls, start + args.deadline, e.log)
        stop.set()
        chaos.join(timeout=30)
        summary.update(outcome.results(db_url))
        summary["containers"] = containers_started(since)
        summary["journal_left"] = int(
            sh(
                "docker",
                "run",
                "--rm",
                "-v",
                "sales-coach-journal:/j",
                f"{FLOW_IMAGE}:latest",
                "sh",
                "-c",
                "find /j -name '*.json' | wc -l",
            ).strip()
        )
        token = json.loads(
            cli(secrets, "token", "create", "--user", ADMIN, "--label", "claude-desktop")
        )["token"]
        mcp_url = f"http://127.0.0.1:{mcp_port}/mcp"
        desktop = json.loads(
            cli(secrets, "claude-desktop-config", "--remote", mcp_url, "--token", token)
        )
        e.checks["claude_desktop_config_names_the_server"] = mcp_url in json.dumps(desktop)
        summary["mcp_calls_listed"] = ask_mcp(mcp_url, token)
        summary["seconds"] = round(time.monotonic() - start, 1)
        summary["settled"] = settled
    summary["checks"] = e.checks
    summary["settings_of_this_run"] = {
        **e.notes,
        "push": "skipped: the flow image stays in this engine (production pushes it to the"
        " registry in SALES_COACH_IMAGE)",
        "network": "builds and every container on the host network",
        "postgres": "embedded, over TCP on 127.0.0.1 with trust authentication",
        "gong_and_s3": "the Gong stand-in and moto's S3 server",
    }
    print(json.dumps(summary), flush=True)
    good = (
        settled
        and summary["analysed"] == args.calls
        and summary["parked"] == 0
        and summary["paid_twice"] == 0
        and all(e.checks.values())
        and len(e.checks) >= 5
    )
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
