from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.cli import main


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    yield


def use_database(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)


def test_missing_setting_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["costs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: DATABASE_URL is required") and err.count("\n") == 1


def test_init_db_and_costs(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_database(db_url, monkeypatch)
    assert main(["init-db"]) == 0
    assert main(["costs"]) == 0
    out = capsys.readouterr().out
    costs = json.loads(out[out.index("}") + 1 :])
    assert costs["requests"] == 0 and costs["tier1_hit_rate"] is None


def test_token_create_list_and_revoke_by_id(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg

    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO users (id, email, name, role) VALUES ('u1', 'a@b.example', 'A', 'manager')"
        )
    use_database(db_url, monkeypatch)
    assert (
        main(["token", "create", "--user", "a@b.example", "--label", "laptop", "--days", "7"]) == 0
    )
    created = json.loads(capsys.readouterr().out)
    assert created["token"].startswith("scm_")
    assert main(["token", "list"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["id"] == created["id"] and listed["label"] == "laptop"
    assert created["token"] not in json.dumps(listed) and listed["expires_at"]
    assert main(["token", "revoke", "--id", str(created["id"])]) == 0
    assert json.loads(capsys.readouterr().out) == {"id": created["id"], "revoked": True}
    assert main(["token", "revoke", "--id", str(created["id"])]) == 0
    assert json.loads(capsys.readouterr().out)["revoked"] is False
    assert main(["token", "create", "--user", "nobody@example.com"]) == 2


def test_claude_desktop_config_starts_the_stdio_server(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg

    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO users (id, email, name, role, deleted_at) VALUES"
            " ('u1', 'maya.chen@northwind.example', 'Maya', 'manager', NULL),"
            " ('u2', 'gone@northwind.example', 'Gone', 'rep', now())"
        )
    use_database(db_url, monkeypatch)
    assert main(["claude-desktop-config", "--user", "maya.chen@northwind.example"]) == 0
    entry = json.loads(capsys.readouterr().out)["mcpServers"]["sales-coach"]
    assert entry["args"] == ["-m", "functions.mcp_server"]
    assert entry["env"]["MCP_USER"] == "maya.chen@northwind.example"
    assert entry["env"]["DATABASE_URL"] == db_url
    # an entry for nobody, or for someone removed, would only fail inside Claude Desktop
    for user in ("nobody@northwind.example", "gone@northwind.example"):
        assert main(["claude-desktop-config", "--user", user]) == 2
        assert "not an active Gong user" in capsys.readouterr().err


def test_set_role(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg

    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO users (id, email, name) VALUES ('u9', 'ops@b.example', 'Ops')")
    use_database(db_url, monkeypatch)
    assert main(["set-role", "ops@b.example", "admin"]) == 0
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT role FROM users WHERE id = 'u9'").fetchone() == ("admin",)


def test_status_shows_the_outbox(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg

    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO webhook_events (idempotency_key, call_id, payload, last_error, attempts,"
            " status, failures) VALUES ('1', '1', '{}', 'ConnectError: prefect down', 2,"
            " 'pending', 0), ('2', '2', '{}', NULL, 0, 'pending', 0),"
            " ('3', '3', '{}', 'InvalidAnalysis: x', 0, 'needs_attention', 5)"
        )
    use_database(db_url, monkeypatch)
    assert main(["status"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["webhook_events"] == {"pending": 2, "needs_attention": 1}
    assert [(r["call_id"], r["attempts"], r["last_error"]) for r in status["retrying"]] == [
        ("1", 2, "ConnectError: prefect down")
    ]
    assert [(r["call_id"], r["failures"]) for r in status["needs_attention"]] == [("3", 5)]
    assert status["claude_slots"] == {"in_use": 0, "limit": 16}
    assert main(["requeue", "3"]) == 0
    assert json.loads(capsys.readouterr().out) == {"requeued": ["3"]}
    assert main(["status"]) == 0
    assert json.loads(capsys.readouterr().out)["webhook_events"] == {"pending": 3}


BAD_DATABASES = {
    "unreachable": "postgresql://coach@127.0.0.1:9/coach?connect_timeout=2",
    "malformed": "this is not a database url",
}
DATABASE_COMMANDS = [
    ["costs"],
    ["status"],
    ["init-db"],
    ["requeue"],
    ["token", "list"],
    ["set-role", "x@y.example", "admin"],
    ["agreement"],
    ["forget", "--email", "x@y.example"],
    ["calibrate"],
    ["retention"],
]


@pytest.mark.parametrize("bad", list(BAD_DATABASES))
def test_a_bad_database_url_is_one_line_for_every_database_command(
    bad: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", BAD_DATABASES[bad])
    for argv in DATABASE_COMMANDS:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, (argv, err)
        assert "DATABASE_URL" in err, (argv, err)


@pytest.mark.parametrize(
    "argv",
    [
        ["backfill", "--from", "yesterday", "--to", "2026-11-02"],
        ["import-scorecards", "--from", "2026-13-01"],
        ["agreement", "--to", "soon"],
        ["agreement", "--bootstrap", "-1"],
        ["token", "create", "--user", "a@b.example", "--days", "-5"],
        ["token", "create", "--user", "a@b.example", "--days", "0"],
        ["token", "create", "--user", "a@b.example", "--days", "5000"],
        ["calibrate", "--min-gap", "0"],
    ],
)
def test_bad_values_are_a_usage_error_not_a_traceback(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error: argument" in err


def test_calibrate_without_a_rubrics_folder_is_one_line(
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_database(db_url, monkeypatch)
    monkeypatch.setenv("RUBRICS_DIR", str(tmp_path / "nowhere"))
    assert main(["calibrate", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_analyze_without_settings_is_one_line_and_starts_no_prefect_server(
    tmp_path: Path,
) -> None:
    """Run as a user would, in a fresh process: a missing DATABASE_URL is one line, before any
    flow (and the temporary Prefect server a flow starts without PREFECT_API_URL)."""
    import os
    import subprocess
    import sys

    from common.config import ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "PREFECT_"))}
    env["HOME"] = str(tmp_path)  # a Prefect home of its own: nothing started there
    done = subprocess.run(
        [sys.executable, "-m", "functions.cli", "analyze", "7001001"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: DATABASE_URL is required")
    assert done.stderr.count("\n") == 1
    assert not (tmp_path / ".prefect").exists()


def test_token_days_are_bounded_and_zero_is_not_the_default(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg

    from common import access
    from common.errors import InvalidRequest

    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO users (id, email, name) VALUES ('u1', 'a@b.example', 'A')")
        for days in (-5, 0, 367):
            with pytest.raises(InvalidRequest, match="1 to 366"):
                access.create_token(conn, "u1", days=days)
        assert conn.execute("SELECT count(*) FROM api_tokens").fetchone() == (0,)
