"""The weekly review on a seeded week, against real Postgres and the moto S3 server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from common.config import Settings, load_settings
from common.reports.numbers import previous_week
from common.storage import ObjectStore
from flows.weekly_review import build_week
from local.seed import seed
from local.serve import serve
from tests.insights.won_deals import close_every_call

WEEK = previous_week(datetime.now(UTC), "UTC")


@pytest.fixture
def slack() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def hook(request: Request) -> JSONResponse:
        received.append(await request.json())
        return JSONResponse({"ok": True})

    server = serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))
    yield f"{server.url}/hook", received
    server.stop()


@pytest.fixture
def seeded(settings: Settings, slack: tuple[str, list[dict[str, Any]]]) -> Settings:
    # weeks end at the start of the current week, so the last seeded week is WEEK
    now = datetime.combine(WEEK + timedelta(weeks=1), datetime.min.time(), tzinfo=UTC)
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        seed(conn, reps=4, managers=2, weeks=6, calls_per_week=3, now=now)
    return load_settings(**{**settings.model_dump(), "slack_webhook_url": slack[0]})


def db_average(db_url: str, rep: str, dimension: str, start: date, end: date) -> float:
    with psycopg.connect(db_url) as conn:
        value = conn.execute(
            "SELECT avg(s.overall_score) FROM coaching_sessions s JOIN calls c ON c.id = s.call_id"
            " WHERE s.rep_id = %s AND s.dimension = %s AND c.started_at >= %s AND c.started_at < %s",
            (rep, dimension, start, end),
        ).fetchone()[0]  # type: ignore[index]
    return round(float(value), 2)


def test_weekly_reports_match_the_database(
    seeded: Settings, slack: tuple[str, list[dict[str, Any]]]
) -> None:
    result = build_week(seeded, WEEK)
    assert result["reps"] == 4 and result["teams"] == 2 and result["delivered"] == ["slack"]
    assert result["index_url"] in slack[1][0]["text"]

    index = httpx.get(result["index_url"]).text
    rep_link = re.search(r'href="([^"]+rep-u-r001[^"]+)"', index)
    assert rep_link, "the index links every rep report"
    html = httpx.get(rep_link.group(1).replace("&amp;", "&")).text
    this_week = db_average(
        seeded.database_url, "u-r001", "discovery", WEEK, WEEK + timedelta(weeks=1)
    )
    before = db_average(seeded.database_url, "u-r001", "discovery", WEEK - timedelta(weeks=4), WEEK)
    assert f"{this_week:.2f}" in html
    change = round(this_week - before, 2)
    assert (f"+{change:.2f}" if change > 0 else f"{change:.2f}") in html
    assert "3 calls analysed" in html and "<svg" in html and "<polyline" in html
    assert "Seeded quote from the call." in html and "in Gong</a>" in html

    with psycopg.connect(seeded.database_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT scope, subject_id, summary, object_key FROM weekly_reports ORDER BY 1, 2"
        ).fetchall()
    assert [(r["scope"], r["subject_id"]) for r in rows] == [
        ("index", ""),
        ("rep", "u-r000"),
        ("rep", "u-r001"),
        ("rep", "u-r002"),
        ("rep", "u-r003"),
        ("team", "u-m0"),
        ("team", "u-m1"),
    ]
    rep_row = next(r for r in rows if r["subject_id"] == "u-r001")
    assert rep_row["summary"]["scores"]["discovery"] == this_week
    assert rep_row["object_key"] == f"reports/weekly/{WEEK.isoformat()}/rep-u-r001.html"


def test_rerunning_a_week_replaces_its_reports(seeded: Settings) -> None:
    build_week(seeded, WEEK)
    with psycopg.connect(seeded.database_url) as conn:
        conn.execute(
            "UPDATE coaching_sessions SET overall_score = 1.0, result = jsonb_set(result, '{overall_score}', '1.0')"
            " WHERE rep_id = 'u-r002'"
        )
    build_week(seeded, WEEK)
    with psycopg.connect(seeded.database_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT summary FROM weekly_reports WHERE subject_id = 'u-r002'"
        ).fetchall()
    assert len(rows) == 1 and rows[0]["summary"]["scores"]["discovery"] == 1.0


def test_team_report_shows_agreement_with_managers(seeded: Settings) -> None:
    with psycopg.connect(seeded.database_url) as conn:  # u-m0 agrees with the AI on u-r000's calls
        scored = conn.execute(
            """
            INSERT INTO manager_scores (call_id, rep_id, reviewer_id, dimension, criterion,
                score, source, source_ref, scored_at)
            SELECT s.call_id, s.rep_id, 'u-m0', s.dimension, 'overall',
                   floor(s.overall_score + 0.5)::int, 'csv', s.call_id || ':' || s.dimension,
                   %s::date + interval '2 days'
            FROM coaching_sessions s JOIN calls c ON c.id = s.call_id
            WHERE s.rep_id = 'u-r000' AND c.started_at >= %s
            """,
            (WEEK, WEEK),
        ).rowcount
    assert scored > 0
    result = build_week(seeded, WEEK)
    index = httpx.get(result["index_url"]).text
    pages = {}
    for team in ("u-m0", "u-m1"):
        link = re.search(rf'href="([^"]+team-{team}[^"]+)"', index)
        assert link
        pages[team] = httpx.get(link.group(1).replace("&amp;", "&")).text
    assert "Agreement with managers" in pages["u-m0"]
    row = re.search(r"<td>overall</td><td>(\d+)</td>\s*<td>(\d+)%</td>", pages["u-m0"])
    assert row and int(row.group(1)) == scored and row.group(2) == "100"
    assert "Agreement with managers" not in pages["u-m1"]  # no manager scores: no section


def test_the_companys_closed_deals_reach_the_reports_once_there_are_enough(
    seeded: Settings,
) -> None:
    """Every seeded call its own closed deal (a fair coin): 72 deals, 36 a team. Below
    VALIDITY_MIN_DEALS (100) the team report says how many more are needed and the rep's
    benchmarks are the vendors'; at 20 the rep's are the company's won deals' figures and the
    team report has its criteria section."""
    store = ObjectStore.from_settings(seeded)

    def pages() -> dict[str, str]:
        with psycopg.connect(seeded.database_url, row_factory=dict_row) as conn:
            rows = conn.execute(
                "SELECT subject_id, object_key FROM weekly_reports WHERE week_start = %s",
                (WEEK,),
            ).fetchall()
        return {r["subject_id"]: store.get_bytes(r["object_key"]).decode() for r in rows}

    with psycopg.connect(seeded.database_url, row_factory=dict_row, autocommit=True) as conn:
        close_every_call(conn, ["u-r000", "u-r001", "u-r002", "u-r003"], seed=3)
    build_week(seeded, WEEK, deliver=False)
    before = pages()
    assert "too few closed deals: 36 of 100, 64 more needed" in before["u-m0"]
    assert "vendors&#39; pooled benchmark" in before["u-r000"]
    assert "won deals here" not in before["u-r000"]

    build_week(seeded.model_copy(update={"validity_min_deals": 20}), WEEK, deliver=False)
    after = pages()
    assert "36 closed deals of 2 reps" in after["u-m0"] and "not proof of cause" in after["u-m0"]
    assert "won deals here: " in after["u-r000"] and "vendors" not in after["u-r000"]


def test_the_team_report_groups_its_reps_by_job_role(seeded: Settings) -> None:
    """m1's team: Rep 001 an account executive, Rep 003 a sales engineer. Each role is its
    own table (compared within itself only), and each rep's report names the role."""
    from common.calls import roles

    with psycopg.connect(seeded.database_url, row_factory=dict_row) as conn:
        roles.set_job_role(conn, "u-r003", "se", since=datetime(2020, 1, 1, tzinfo=UTC))
    build_week(seeded, WEEK)
    store = ObjectStore.from_settings(seeded)
    with psycopg.connect(seeded.database_url, row_factory=dict_row) as conn:
        found = {
            (r["scope"], r["subject_id"]): r
            for r in conn.execute(
                "SELECT scope, subject_id, summary, object_key FROM weekly_reports"
            )
        }
    team = found[("team", "u-m1")]
    assert {i: v["job_role"] for i, v in team["summary"]["reps"].items()} == {
        "u-r001": "ae",
        "u-r003": "se",
    }
    assert found[("rep", "u-r003")]["summary"]["job_role"] == "se"
    html = httpx.get(store.presigned_url(team["object_key"])).text
    ae, se = html.index("Account executive (1)"), html.index("Sales engineer (1)")
    assert ae < html.index("Rep 001") < se < html.index("Rep 003")
    assert html.count("<th>rep</th>") == 2  # a table per role: no rank across them
    rep_html = httpx.get(store.presigned_url(found[("rep", "u-r003")]["object_key"])).text
    assert "Sales engineer &middot; weekly coaching review" in rep_html
