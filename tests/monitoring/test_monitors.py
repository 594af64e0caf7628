"""Monitors from seeded rows with known answers; one alert per incident and one on recovery
(a local Slack stand-in and a real SMTP server); /metrics in Prometheus format; the ops page."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from common.config import Settings
from common.db import connect
from common.monitoring import monitors
from common.monitoring.health import check
from common.storage import ObjectStore
from functions.webhook import create_app
from local.samples import sample_calls, webhook_payload
from local.serve import serve
from local.signing import hmac_signature
from tests.monitoring.channels import Inbox, wired


def seed(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute(  # 100 stored deliveries answered in 1..100 ms
            "INSERT INTO webhook_events (idempotency_key, call_id, payload, status, response_ms)"
            " SELECT 'w' || i, 'w' || i, '{}', 'test', i FROM generate_series(1, 100) i"
        )
        conn.execute(  # 20 calls analysed 1..20 s after their webhook
            "INSERT INTO webhook_events (idempotency_key, call_id, payload, status, received_at,"
            " completed_at) SELECT 'c' || i, 'c' || i, '{}', 'completed',"
            " now() - make_interval(secs => i), now() FROM generate_series(1, 20) i"
        )
        conn.execute(  # 2 waiting for over 15 minutes, 1 just arrived, 1 parked
            "INSERT INTO webhook_events (idempotency_key, call_id, payload, status, received_at)"
            " VALUES ('p1', 'p1', '{}', 'pending', now() - interval '20 minutes'),"
            " ('p2', 'p2', '{}', 'pending', now() - interval '1 hour'),"
            " ('p3', 'p3', '{}', 'pending', now()),"
            " ('x1', 'x1', '{}', 'needs_attention', now())"
        )
        conn.execute(  # 3 requests: 3,000 of 4,000 prompt tokens read from cache; $60 spent
            "INSERT INTO claude_usage (model, input_tokens, output_tokens, cache_read_tokens, usd)"
            " VALUES ('m', 1000, 100, 3000, 20), ('m', 0, 100, 0, 20), ('m', 0, 100, 0, 20)"
        )
        conn.execute("INSERT INTO claude_errors (model, message) VALUES ('m', 'overloaded')")
        conn.execute(
            "INSERT INTO cache_lookups (call_id, dimension, cache_key, hit) VALUES"
            " ('a', 'd', 'k', true), ('a', 'd', 'k', true), ('a', 'd', 'k', true), ('b', 'd', 'k', false)"
        )
        conn.execute("INSERT INTO rate_limits (name, used_today) VALUES ('gong', 8500)")


def test_each_monitor_from_seeded_rows(settings: Settings) -> None:
    seed(settings.database_url)
    s = settings.model_copy(update={"monthly_budget_usd": 100.0, "gong_daily_budget": 10_000})
    with connect(s.database_url) as conn:
        got = {m.name: m for m in monitors.compute(conn, s)}
    expected = {  # value, ok
        "webhook_p99_ms": (99.01, True),
        "prompt_cache_hit_rate": (0.75, True),
        "analysis_cache_hit_rate": (0.75, True),
        "tokens_this_month": (4300.0, True),
        "budget_used": (0.6, True),
        "analysis_p95_s": (19.05, True),
        "error_rate": (0.25, False),
        "calls_waiting": (2.0, True),
        "calls_parked": (1.0, False),
        "gong_budget_used": (0.85, False),
    }
    assert set(got) == set(expected)
    for name, (value, ok) in expected.items():
        assert got[name].value == pytest.approx(value, abs=0.02), name
        assert got[name].ok is ok, name
    strict = s.model_copy(update={"monitor_webhook_p99_ms": 50.0, "monitor_analysis_p95_s": 10.0})
    with connect(s.database_url) as conn:
        again = {m.name: m.ok for m in monitors.compute(conn, strict)}
    assert again["webhook_p99_ms"] is False and again["analysis_p95_s"] is False


@pytest.fixture
def channels(settings: Settings) -> Iterator[tuple[Settings, list[str], Inbox]]:
    with wired(settings, alert_recipients="ops@northwind.example") as ch:
        yield ch


def test_an_incident_alerts_once_and_once_on_recovery(
    channels: tuple[Settings, list[str], Inbox],
) -> None:
    s, posts, inbox = channels
    with psycopg.connect(s.database_url) as conn:
        conn.execute(
            "INSERT INTO webhook_events (idempotency_key, call_id, payload, status)"
            " VALUES ('x1', 'x1', '{}', 'needs_attention')"
        )
    first = check(s)
    assert first["opened"] == ["calls_parked"] and first["alerted"] == ["log", "slack", "email"]
    for _ in range(3):  # still parked: the incident stays open, nobody is told again
        assert check(s)["alerted"] == []
    assert len(posts) == 1 and posts[0].startswith("FIRING calls_parked = 1 calls")
    assert len(inbox.messages) == 1 and "FIRING calls_parked" in inbox.messages[0]
    with psycopg.connect(s.database_url) as conn:
        conn.execute("UPDATE webhook_events SET status = 'completed' WHERE call_id = 'x1'")
    assert check(s)["recovered"] == ["calls_parked"]
    assert check(s)["alerted"] == []
    assert len(posts) == 2 and posts[1].startswith("RECOVERED calls_parked = 0 calls")
    assert len(inbox.messages) == 2 and "RECOVERED" in inbox.messages[1]
    with psycopg.connect(s.database_url) as conn:
        rows = conn.execute(
            "SELECT monitor, closed_at IS NOT NULL FROM monitor_incidents"
        ).fetchall()
    assert rows == [("calls_parked", True)]


def test_the_ops_page_shows_monitors_and_their_trend(settings: Settings) -> None:
    seed(settings.database_url)
    result = check(settings)
    html = httpx.get(result["ops_page"]).text
    assert "gong_budget_used" in html and "failing" in html and html.count("<svg") >= 7
    assert ObjectStore.from_settings(settings).list_keys("ops/") == ["ops/index.html"]


def test_metrics_in_prometheus_format_and_webhook_timing(settings: Settings) -> None:
    seed(settings.database_url)
    settings = settings.model_copy(update={"metrics_token": SecretStr("scrape-me")})
    server = serve(create_app(settings))
    try:
        assert httpx.get(f"{server.url}/metrics").status_code == 401
        wrong = {"Authorization": "Bearer guess"}
        assert httpx.get(f"{server.url}/metrics", headers=wrong).status_code == 401
        body = __import__("json").dumps(webhook_payload(sample_calls()[0]["call"])).encode()
        signature = hmac_signature("hmac-test-secret", body)
        stored = httpx.post(
            f"{server.url}/webhooks/gong", content=body, headers={"X-Signature-SHA256": signature}
        )
        assert stored.status_code == 200
        scraper = {"Authorization": "Bearer scrape-me"}
        text = httpx.get(f"{server.url}/metrics", headers=scraper).text
    finally:
        server.stop()
    values = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert values[("sales_coach_calls_parked", ())] == 1
    assert values[("sales_coach_calls_parked_threshold", ())] == 0
    assert values[("sales_coach_monitor_ok", (("monitor", "calls_parked"),))] == 0
    assert values[("sales_coach_monitor_ok", (("monitor", "calls_waiting"),))] == 1
    with psycopg.connect(settings.database_url) as conn:
        timing = conn.execute(
            "SELECT response_ms FROM webhook_events WHERE idempotency_key = %s",
            (sample_calls()[0]["call"]["metaData"]["id"],),
        ).fetchone()
    assert timing and 0 < timing[0] < 5000
