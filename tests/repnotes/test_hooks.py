"""The analysis queues the rep's note when a call's scores are final (the analyze-call flow
end to end: Gong stand-in, moto S3, real Postgres, Claude stand-in), from what it published,
and only when REP_NOTES is on."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import dict_row

from common.config import Settings
from flows.analyze_call import analyze_call
from flows.rep_notes import rep_notes
from local.anthropic_server import StandInState
from tests.notify.receivers import slack_stand_in

NEGOTIATION = "7001003"  # Dana Lee's (Gong user 2003) call in the Gong stand-in


def notes(s: Settings) -> list[dict[str, object]]:
    with psycopg.connect(s.database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT n.call_id, n.rep_id, n.status, n.focus, n.body, n.action, n.moment_link,"
            " (SELECT count(*) FROM shown_scores v WHERE v.call_id = n.call_id AND NOT v.held)"
            " AS shown FROM rep_notes n"
        ).fetchall()


def test_an_analysed_call_queues_its_note(
    engine_env: Settings, claude: StandInState, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyze_call(NEGOTIATION)
    assert notes(engine_env) == []  # REP_NOTES off: nothing
    monkeypatch.setenv("REP_NOTES", "true")
    analyze_call(NEGOTIATION, force=True)
    (n,) = notes(engine_env)
    assert (n["call_id"], n["rep_id"], n["status"]) == (NEGOTIATION, "2003", "pending")
    assert n["shown"] and str(n["moment_link"]).startswith("https://")
    assert n["action"] and str(n["focus"]).count(".") == 1


def test_the_flow_delivers_the_due_notes(
    engine_env: Settings, claude: StandInState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REP_NOTES", "true")
    analyze_call(NEGOTIATION)
    with slack_stand_in() as (slack, server):
        slack.add_user("dana@northwind.example")
        monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
        monkeypatch.setenv("SLACK_API_URL", f"{server.url}/api")
        with psycopg.connect(engine_env.database_url) as conn:
            conn.execute(
                "UPDATE users SET email = %s WHERE id = '2003'", ("dana@northwind.example",)
            )
        done = rep_notes.fn()
        assert (done["claimed"], done["sent"], done["messages"]) == (1, 1, 1)
        assert len(slack.messages_to("dana@northwind.example")) == 1
