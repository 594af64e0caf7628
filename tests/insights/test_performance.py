"""Team and rep numbers from the read model: who improved and who needs help, at team size."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from common.insights import performance
from common.insights.performance import RepRef
from common.insights.week import current_week, week_bounds

DIMS = ("product_knowledge", "discovery", "objections", "engagement")


def _call(
    conn: psycopg.Connection[dict[str, object]], rep: str, at: datetime, score: float
) -> None:
    call_id = f"c-{rep}-{at:%Y%m%d}"
    conn.execute(
        "INSERT INTO calls (id, title, primary_user_id, started_at) VALUES (%s, 'Demo', %s, %s)",
        (call_id, rep, at),
    )
    result = json.dumps({"coaching_note": "", "strengths": [], "improvements": [], "criteria": []})
    for d in DIMS:
        conn.execute(
            "INSERT INTO coaching_sessions (created_at, call_id, rep_id, dimension, model,"
            " cache_key, transcript_hash, rubric_version, status, overall_score, result)"
            " VALUES (now(), %s, %s, %s, 'm', 'k', 'h', 'v', 'completed', %s, %s)",
            (call_id, rep, d, score, result),
        )


def test_a_large_team_names_the_extremes_first_and_counts_them_all(db_url: str) -> None:
    """30 reps up by 0.5 to 2.9 points, 25 down to averages under 2.5: the answer names the
    most improved and the lowest averages first, LISTED of each, and counts them all."""
    tz = "UTC"
    week = current_week(datetime.now(UTC) - timedelta(weeks=1), tz)
    start, _ = week_bounds(week, tz)
    reps: dict[str, str] = {}
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        for i in range(55):
            rep = f"r{i:02d}"
            reps[rep] = f"Rep {i:02d}"
            before, now = (2.0, 2.5 + i * 0.1) if i < 30 else (3.0, 2.4 - (i - 30) * 0.05)
            _call(conn, rep, start - timedelta(weeks=2), before)
            _call(conn, rep, start + timedelta(days=1), round(now, 2))
        overview = performance.team_overview(conn, reps, week, tz, limit=10)
    assert overview.reps_total == 55 and [r.rep_id for r in overview.reps] == [
        f"r{i:02d}" for i in range(10)
    ]
    assert overview.improved_total == 30 and len(overview.improved) == performance.LISTED
    assert [r.rep_id for r in overview.improved][:3] == ["r29", "r28", "r27"]
    assert overview.needs_help_total == 25 and len(overview.needs_help) == performance.LISTED
    assert [r.rep_id for r in overview.needs_help][:2] == ["r54", "r53"]  # lowest first


def _scored(
    conn: psycopg.Connection[dict[str, object]],
    rep: str,
    at: datetime,
    score: float,
    state: str = "published",
    spread: float = 1.0,
) -> str:
    """A call scored on discovery by three samples at score - spread, score, score + spread
    (the published score their median): run-to-run SD `spread`."""
    call_id = f"c-{rep}-{at:%Y%m%d%H%M}"
    conn.execute(
        "INSERT INTO calls (id, title, primary_user_id, started_at) VALUES (%s, 'Demo', %s, %s)",
        (call_id, rep, at),
    )
    samples = [
        {"stage": 0, "index": i, "model": "m", "overall_score": score + d, "criteria": {}}
        for i, d in enumerate((-spread, 0.0, spread))
    ]
    result = {"coaching_note": "", "strengths": [], "improvements": [], "criteria": []}
    conn.execute(
        "INSERT INTO coaching_sessions (created_at, call_id, rep_id, dimension, model,"
        " cache_key, transcript_hash, rubric_version, status, overall_score, result, state)"
        " VALUES (now(), %s, %s, 'discovery', 'm', 'k', 'h', 'v', 'completed', %s, %s, %s)",
        (call_id, rep, score, json.dumps(result | {"samples": samples}), state),
    )
    return call_id


def test_a_move_within_run_to_run_noise_is_neither_improved_nor_needing_help(
    db_url: str,
) -> None:
    """Samples of each call one point apart (run-to-run SD 1.0); three calls a side: a move
    under 1.96 * sqrt(2/3) = 1.6 points is what re-scoring the same calls could show."""
    tz = "UTC"
    week = current_week(datetime.now(UTC) - timedelta(weeks=1), tz)
    start, _ = week_bounds(week, tz)
    reps = {"up": "Planted rise", "same": "Null rise", "down": "Null fall"}
    levels = {"up": (2.0, 4.5), "same": (3.0, 3.5), "down": (3.5, 2.9)}
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        for rep, (before, now) in levels.items():
            for i in range(3):
                _scored(conn, rep, start - timedelta(weeks=2, hours=i), before)
                _scored(conn, rep, start + timedelta(days=1, hours=i), now)
        overview = performance.team_overview(conn, reps, week, tz)
    assert [r.rep_id for r in overview.improved] == ["up"]
    assert overview.needs_help_total == 0  # "down" fell 0.6: noise, and averages 2.9
    assert {r.rep_id for r in overview.within_noise} == {"same", "down"}
    rows = {r.rep_id: r for r in overview.reps}
    assert rows["same"].change == 0.5 and rows["same"].within_noise is True
    assert rows["up"].within_noise is False


def test_held_scores_enter_no_average_ranking_or_trend(db_url: str) -> None:
    tz = "UTC"
    week = current_week(datetime.now(UTC) - timedelta(weeks=1), tz)
    start, end = week_bounds(week, tz)
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        _scored(conn, "r1", start + timedelta(days=1), 4.0)
        _scored(conn, "r1", start + timedelta(days=2), 1.0, state="needs_review")
        _scored(conn, "r2", start + timedelta(days=1), 3.0)
        refs = [RepRef(rep_id="r1", rep_name="Rae"), RepRef(rep_id="r2", rep_name="Sam")]
        ranked = performance.compare(conn, refs, start, end, None)
        perf = performance.rep_performance(conn, refs[0], start, end, tz)
        assert [(r.rep_id, r.average) for r in ranked.reps] == [("r1", 4.0), ("r2", 3.0)]
        assert perf.averages == {"discovery": 4.0} and perf.weeks[0].scores == {"discovery": 4.0}
        held, total = performance.held_for_review(conn, ["r1", "r2"], end)
    assert [r.held for r in ranked.reps] == [1, 0]
    assert [c.average for c in perf.best_calls] == [4.0] and perf.held == 1
    assert total == 1 and held[0].rep_id == "r1" and held[0].ai_suggestion == 1.0


# -- job roles: ranked and compared within a role only ------------------------------------------

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def _in_role(conn: psycopg.Connection[dict[str, object]], rep: str, role: str) -> None:
    from common.calls import roles

    conn.execute("INSERT INTO users (id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING", (rep, rep))
    roles.set_job_role(conn, rep, role, since=LONG_AGO)  # type: ignore[arg-type]


def test_needs_help_and_improved_rank_within_each_job_role(db_url: str) -> None:
    """SEs are scored on harsher rubrics: across roles they would fill the top of the list.
    Within roles, each role's reps are listed lowest first, AEs apart from SEs."""
    tz = "UTC"
    week = current_week(datetime.now(UTC) - timedelta(weeks=1), tz)
    start, _ = week_bounds(week, tz)
    levels = {  # rep: (role, before, this week)
        "a1": ("ae", 2.4, 2.4),
        "a2": ("ae", 3.5, 3.5),
        "a3": ("ae", 4.0, 3.0),
        "s1": ("se", 1.5, 1.5),
        "s2": ("se", 2.0, 2.0),
    }
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        for rep, (role, before, now) in levels.items():
            _in_role(conn, rep, role)
            _call(conn, rep, start - timedelta(weeks=2), before)
            _call(conn, rep, start + timedelta(days=1), now)
        overview = performance.team_overview(conn, {r: r.upper() for r in levels}, week, tz)
    assert [(r.rep_id, r.job_role) for r in overview.needs_help] == [
        ("a1", "ae"),
        ("a3", "ae"),
        ("s1", "se"),
        ("s2", "se"),
    ]
    assert [(r.rep_id, r.job_role) for r in overview.reps] == [
        ("a1", "ae"),
        ("a2", "ae"),
        ("a3", "ae"),
        ("s1", "se"),
        ("s2", "se"),
    ]
    assert overview.job_roles == {"ae": 3, "se": 2} and overview.needs_help_total == 4


def test_a_reps_change_is_measured_within_their_role_at_each_call(db_url: str) -> None:
    """An AE who became an SE this week: their AE weeks are no baseline for their SE calls,
    so a lower score on the SE rubric is no decline."""
    from common.calls import roles

    tz = "UTC"
    week = current_week(datetime.now(UTC) - timedelta(weeks=1), tz)
    start, _ = week_bounds(week, tz)
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        _in_role(conn, "x", "ae")
        _call(conn, "x", start - timedelta(weeks=2), 4.0)
        roles.set_job_role(conn, "x", "se", since=start)  # type: ignore[arg-type]
        _call(conn, "x", start + timedelta(days=1), 3.0)
        overview = performance.team_overview(conn, {"x": "X"}, week, tz)
    [line] = overview.reps
    assert (line.job_role, line.calls, line.change, line.previous_4_weeks) == ("se", 1, None, {})
    assert overview.needs_help_total == 0


def test_compare_splits_reps_by_role_and_ranks_within_each(db_url: str) -> None:
    tz = "UTC"
    week = current_week(datetime.now(UTC) - timedelta(weeks=1), tz)
    start, end = week_bounds(week, tz)
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        for rep, role, score in (("a1", "ae", 2.5), ("a2", "ae", 3.5), ("s1", "se", 4.5)):
            _in_role(conn, rep, role)
            _call(conn, rep, start + timedelta(days=1), score)
        _in_role(conn, "quiet", "csm")  # no calls: listed in their role, unranked by score
        refs = [RepRef(rep_id=r, rep_name=r.upper()) for r in ("a1", "s1", "a2", "quiet")]
        mixed = performance.compare(conn, refs, start, end, "discovery")
        same = performance.compare(conn, refs[::2], start, end, None)
    assert [(r.job_role, r.rank, r.rep_id) for r in mixed.reps] == [
        ("ae", 1, "a2"),
        ("ae", 2, "a1"),
        ("csm", 1, "quiet"),
        ("se", 1, "s1"),  # the best score of all, ranked among SEs only
    ]
    assert mixed.split_by_role and "ae, csm, se" in mixed.split_by_role
    assert same.split_by_role is None and [r.rank for r in same.reps] == [1, 2]
