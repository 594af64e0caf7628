"""What the `sales-coach` commands do, run through the command line as a user would."""

from __future__ import annotations

import json

import pytest

from functions.cli import main


def use_database(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)


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


def test_forget_dry_run_prints_each_matched_snippet(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The dry run shows where and how the person is named, so a person can check it before
    `--yes`: a short window of each match with its table and column, not the whole text."""
    import psycopg

    note = "n" * 500 + " Follow up with Ann@Acme.example about the pilot. " + "n" * 500
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO calls (id, title) VALUES ('c1', 'Pilot'), ('c2', 'Other')")
        conn.execute(
            "INSERT INTO manager_scores (call_id, reviewer_id, dimension, score, note, source,"
            " source_ref, scored_at) VALUES ('c1', 'm1', 'discovery', 3, %s, 'mcp', 'n1', now()),"
            " ('c2', 'm1', 'discovery', 3, 'ask joann@acme.example', 'mcp', 'n2', now())",
            (note,),
        )
    use_database(db_url, monkeypatch)
    assert main(["forget", "--email", "ann@acme.example"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert not shown["erased"]
    [call] = shown["calls"]
    assert call["call_id"] == "c1" and call["found_in"] == ["manager note"]
    assert call["matches"] == [
        {
            "found_in": "manager note",
            "column": "manager_scores.note",
            "snippet": f"...{'n' * 24} Follow up with Ann@Acme.example about the pilot."
            f" {'n' * 22}...",
        }
    ]
