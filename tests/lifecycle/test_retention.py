"""Retention drops whole partitions, old rows and the objects they pointed at, nothing newer."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from common.config import Settings
from common.lifecycle.retention import enforce
from common.storage import ObjectStore

SESSION = """INSERT INTO coaching_sessions (created_at, call_id, rep_id, dimension, model,
    cache_key, transcript_hash, rubric_version, status, overall_score, result)
    VALUES (now() - %s::interval, %s, 'r1', 'discovery', 'm', 'k', 'h', 'v', 'completed', 3,
    '{}')"""


def test_retention_drops_partitions_rows_and_objects(settings: Settings) -> None:
    store = ObjectStore.from_settings(settings)
    store.ensure_bucket()
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        conn.execute("SELECT ensure_session_partitions((now() - interval '7 years')::date, 2)")
        for call_id, ago in (("old", "7 years"), ("new", "2 months")):
            key = f"transcripts/{call_id}.json.gz"
            store.put_json_gz(key, {"callId": call_id})
            conn.execute(
                "INSERT INTO calls (id, primary_user_id, started_at, transcript_key)"
                " VALUES (%s, 'r1', now() - %s::interval, %s)",
                (call_id, ago, key),
            )
            conn.execute(SESSION, (ago, call_id))
            report = f"reports/weekly/{call_id}/team-m1.html"
            store.put_bytes(report, b"<html/>", "text/html")
            conn.execute(
                "INSERT INTO weekly_reports (week_start, scope, subject_id, object_key)"
                " VALUES ((now() - %s::interval)::date, 'team', 'm1', %s)",
                (ago, report),
            )
        old_partition = conn.execute(
            "SELECT tableoid::regclass::text AS p FROM coaching_sessions WHERE call_id = 'old'"
        ).fetchone()
    assert old_partition and old_partition["p"] != "coaching_sessions_default"

    removed = enforce(settings.model_copy(update={"retention_years": 5}))

    assert removed["session_partitions"] >= 1 and removed["calls"] == 1
    assert removed["weekly_reports"] == 1 and removed["objects"] == 2
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        assert conn.execute("SELECT to_regclass(%s) AS t", (old_partition["p"],)).fetchone() == {
            "t": None
        }
        left = conn.execute("SELECT id FROM calls").fetchall()
        sessions = conn.execute("SELECT call_id FROM coaching_sessions").fetchall()
        scores = conn.execute("SELECT call_id FROM call_scores").fetchall()
    assert (
        left == [{"id": "new"}]
        and sessions == [{"call_id": "new"}]
        and scores == [{"call_id": "new"}]
    )
    assert sorted(store.list_keys()) == [
        "reports/weekly/new/team-m1.html",
        "transcripts/new.json.gz",
    ]
