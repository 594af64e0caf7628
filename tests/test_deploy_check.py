"""make deploy-check passes on the repository's files and fails on broken ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from common.config import ROOT
from local.deploy_check import check_flow_dockerfile, check_http_dockerfile, main


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    shutil.copy(ROOT / "prefect.yaml", tmp_path / "prefect.yaml")
    shutil.copy(ROOT / "template.yaml", tmp_path / "template.yaml")
    return tmp_path / "prefect.yaml", tmp_path / "template.yaml"


def run(prefect: Path, template: Path) -> int:
    return main(["--prefect-file", str(prefect), "--template", str(template), "--root", str(ROOT)])


def test_repository_files_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "are valid" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "flows/analyze_call.py:analyze_calls\n    tags",
            "flows/analyze_call.py:analyse_calls\n    tags",
            "does not import",
        ),
        (
            "entrypoint: flows/backfill.py:backfill\n    work_pool: *docker_pool",
            "entrypoint: flows/nowhere.py:backfill\n    work_pool: *docker_pool",
            "does not name a file",
        ),
        (
            "parameters: {poll_seconds: 60}",
            "parameters: {poll_secs: 60}",
            "'poll_secs' is not a parameter",
        ),
        (
            '- cron: "0 7 * * 1"\n        timezone: UTC\n    work_pool: *docker_pool',
            '- cron: "0 7 * * 8"\n        timezone: UTC\n    work_pool: *docker_pool',
            "is invalid",
        ),
        (
            "dockerfile: Dockerfile",
            "dockerfile: Dockerfile.missing",
            "Dockerfile.missing does not exist",
        ),
        ("name: sales-coach-docker", "name: kubernetes", "work pool 'kubernetes'"),
    ],
)
def test_broken_prefect_yaml_fails(
    files: tuple[Path, Path], old: str, new: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    prefect, template = files
    text = prefect.read_text()
    assert old in text
    prefect.write_text(text.replace(old, new, 1))
    assert run(prefect, template) == 1
    assert message in capsys.readouterr().out


def test_broken_template_handler_fails(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    prefect, template = files
    template.write_text(
        template.read_text().replace(
            "functions.lambda_handlers.mcp", "functions.lambda_handlers.nope"
        )
    )
    assert run(prefect, template) == 1
    assert (
        "McpFunction: handler 'functions.lambda_handlers.nope' does not import"
        in capsys.readouterr().out
    )


def test_cfn_lint_findings_fail_the_check(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    prefect, template = files
    text = template.read_text()
    assert "MemorySize:" in text
    template.write_text(text.replace("MemorySize:", "MemorySizes:", 1))
    assert run(prefect, template) == 1
    assert "cfn-lint" in capsys.readouterr().out


FLOW_VOLUMES = ["sales-coach-journal:/var/lib/sales-coach/journal"]


def test_the_flow_image_passes_and_each_broken_need_fails() -> None:
    """The flow Dockerfile as shipped passes; each edit that would break a flow run in its
    container (no rubrics, running as root, the journal on the container's disk) fails."""
    text = (ROOT / "Dockerfile").read_text()
    assert check_flow_dockerfile(text, FLOW_VOLUMES) == []
    assert "journal" in check_flow_dockerfile(text, [])[0]  # no volume in the job template
    assert "journal" in check_flow_dockerfile(text, ["other:/tmp/journal"])[0]
    no_rubrics = text.replace("COPY rubrics ./rubrics\n", "")
    assert check_flow_dockerfile(no_rubrics, FLOW_VOLUMES) == [
        "does not copy rubrics/ to RUBRICS_DIR"
    ]
    as_root = text.replace("USER 10001\n", "")
    assert check_flow_dockerfile(as_root, FLOW_VOLUMES) == [
        "runs as root: add an unprivileged USER"
    ]
    back_to_root = text.replace("USER 10001\n", "USER 10001\nUSER root\n")
    assert "runs as root" in check_flow_dockerfile(back_to_root, FLOW_VOLUMES)[0]


def test_the_http_image_needs_a_user_and_a_health_check(tmp_path: Path) -> None:
    shipped = (ROOT / "Dockerfile.http").read_text()
    assert check_http_dockerfile(ROOT / "Dockerfile.http") == []
    broken = tmp_path / "Dockerfile.http"
    broken.write_text(shipped.replace("USER 10001\n", "").replace("HEALTHCHECK", "# HC"))
    assert check_http_dockerfile(broken) == [
        "Dockerfile.http: runs as root: add an unprivileged USER",
        "Dockerfile.http: has no HEALTHCHECK",
    ]


def test_prefect_yaml_without_the_journal_volume_fails(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    prefect, template = files
    text = prefect.read_text()
    old = "        - sales-coach-journal:/var/lib/sales-coach/journal\n"
    assert old in text
    prefect.write_text(text.replace(old, "        - sales-coach-journal:/tmp/elsewhere\n"))
    assert run(prefect, template) == 1
    assert "is on the container's own disk" in capsys.readouterr().out
