"""A rubric change previewed (common/accuracy/preview.py) on the Claude stand-in and Postgres:
only what changed is re-scored, through the eval's batch path at half price and apart from
production, and the numbers shown are the scores shown now beside the edited rubric's."""

from __future__ import annotations

import argparse
import io
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from statistics import fmean
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.accuracy.preview import (
    RubricPreview,
    SampledCall,
    compare,
    run_preview,
    stratified,
    table,
)
from common.config import DIMENSIONS, ROOT, Settings
from common.errors import CoachError
from common.rubrics import load
from common.scoring.costs import Usage, price_table
from flows.analyze_call import analyze_call
from functions import cli_preview
from local.anthropic_server import StandInState

DAYS_AGO = {"7001001": 1, "7001002": 2, "7001004": 3, "7001003": 45}  # 7001003: too old
RECENT = {"7001001": "2003", "7001002": "2004", "7001004": "2005"}  # call -> rep
# what changed for each recent call: 7001004 is a renewal, never scored on discovery
RESCORED = {
    "7001001": ["discovery", "engagement"],
    "7001002": ["discovery", "engagement"],
    "7001004": ["engagement"],
}


def rows(db_url: str, sql: str, *params: object) -> list[dict[str, Any]]:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def edited(tmp_path: Path, name: str = "edited") -> Path:
    """Discovery and engagement edited, their versions not bumped: criteria's wording
    changed, and discovery's `listening` replaced by `active_listening` (a criterion removed,
    one added)."""
    rubrics = tmp_path / name
    shutil.copytree(ROOT / "rubrics", rubrics)
    path = rubrics / "discovery.yaml"
    text = path.read_text().replace("Open, layered questions", "Open and layered questions")
    path.write_text(text.replace("id: listening", "id: active_listening"))
    path = rubrics / "engagement.yaml"
    path.write_text(path.read_text().replace("name: Patience", "name: Patience and pauses"))
    return rubrics


def bumped_only(tmp_path: Path) -> Path:
    rubrics = tmp_path / "bumped"
    shutil.copytree(ROOT / "rubrics", rubrics)
    path = rubrics / "discovery.yaml"
    path.write_text(path.read_text().replace("version: 1.1.0", "version: 1.2.0"))
    return rubrics


@pytest.fixture
def analysed(engine_env: Settings) -> Settings:
    """Four calls analysed in production, three of them recent (one per rep), and a manager's
    word on one call's discovery: the score shown there is the manager's, not the AI's."""
    s = engine_env
    for call_id in DAYS_AGO:
        analyze_call(call_id)
    with psycopg.connect(s.database_url) as conn:
        for call_id, days in DAYS_AGO.items():
            conn.execute(
                "UPDATE calls SET started_at = now() - make_interval(days => %s) WHERE id = %s",
                (days, call_id),
            )
        conn.execute(
            "INSERT INTO manager_scores (call_id, rep_id, reviewer_id, dimension, criterion,"
            " score, source, source_ref, scored_at) VALUES"
            " ('7001001', '2003', 'm-1', 'discovery', 'overall', 5, 'mcp', 'p-1', now()),"
            " ('7001001', '2003', 'm-1', 'discovery', 'pain_and_impact', 1, 'mcp', 'p-2', now())"
        )
    return s


def production(db_url: str) -> dict[str, Any]:
    """Everything production shows or reuses: sessions (the tier-1 cache), the read model,
    the scores shown, managers' scores, the cache's lookups."""
    return {
        "sessions": rows(db_url, "SELECT * FROM coaching_sessions ORDER BY id"),
        "call_scores": rows(db_url, "SELECT * FROM call_scores ORDER BY call_id"),
        "shown": rows(
            db_url, "SELECT call_id, dimension, shown_score, held FROM shown_scores ORDER BY 1, 2"
        ),
        "manager_scores": rows(db_url, "SELECT * FROM manager_scores ORDER BY id"),
        "lookups": rows(db_url, "SELECT count(*) AS n FROM cache_lookups"),
        "rubrics": rows(
            db_url, "SELECT dimension, version, content_hash FROM rubrics ORDER BY 1, 2"
        ),
    }


def expected_before(
    db_url: str, dimension: str, call_ids: list[str]
) -> dict[tuple[str, str], float]:
    """(call, criterion) -> the dimension's score shown now, read straight from the tables: a
    manager's word, else the AI's criteria of a published session; nothing when held."""
    out: dict[tuple[str, str], float] = {}
    for s in rows(
        db_url,
        "SELECT call_id, state, overall_score::float8 AS overall, result FROM coaching_sessions"
        " WHERE dimension = %s AND status = 'completed' AND superseded_at IS NULL"
        " AND call_id = ANY(%s)",
        dimension,
        call_ids,
    ):
        if s["state"] != "published":
            continue
        if s["overall"] is not None:
            out[(s["call_id"], "overall")] = s["overall"]
        for c in s["result"]["criteria"]:
            if c["score"] is not None:
                out[(s["call_id"], c["criterion_id"])] = float(c["score"])
    for m in rows(
        db_url,
        "SELECT call_id, criterion, score FROM manager_scores WHERE dimension = %s",
        dimension,
    ):
        out[(m["call_id"], m["criterion"])] = float(m["score"])
    return out


def expected_after(db_url: str, dimension: str, run_id: int) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for r in rows(
        db_url,
        "SELECT * FROM eval_results WHERE eval_run_id = %s AND dimension = %s",
        run_id,
        dimension,
    ):
        assert r["status"] == "completed"
        if r["overall_score"] is not None:
            out[(r["call_id"], "overall")] = float(r["overall_score"])
        for c in r["result"]["criteria"]:
            if c["score"] is not None:
                out[(r["call_id"], c["criterion_id"])] = float(c["score"])
    return out


def test_an_edited_criterion_is_shown_per_criterion_and_per_rep(
    analysed: Settings, claude: StandInState, tmp_path: Path
) -> None:
    s = analysed
    p = run_preview(edited(tmp_path), sample=30, days=30, seed=7, poll_s=0)

    assert p.status == "scored" and p.run_id is not None
    assert p.changed == ["discovery", "engagement"]
    discovery = next(v for v in p.versions if v.dimension == "discovery")
    assert (discovery.old_version, discovery.new_version) == ("1.1.0", "1.1.0")
    # the window and the strata: the old call is left out, every rep is in, each call
    # re-scored on what changed for it only
    assert {c.call_id: c.rep_id for c in p.sample} == RECENT
    assert {c.call_id: c.dimensions for c in p.sample} == RESCORED
    results = rows(s.database_url, "SELECT * FROM eval_results WHERE eval_run_id = %s", p.run_id)
    assert sorted((r["call_id"], r["dimension"]) for r in results) == sorted(
        (c, d) for c, dims in RESCORED.items() for d in dims
    )
    assert {c.dimension for c in p.criteria} == {"discovery", "engagement"}

    for dimension in ("discovery", "engagement"):
        scored = [c for c, dims in RESCORED.items() if dimension in dims]
        before = expected_before(s.database_url, dimension, scored)
        after = expected_after(s.database_url, dimension, p.run_id)
        rows_by = {c.criterion: c for c in p.criteria if c.dimension == dimension}
        for criterion, row in rows_by.items():
            b = {c: v for (c, k), v in before.items() if k == criterion}
            a = {c: v for (c, k), v in after.items() if k == criterion}
            both = sorted(set(a) & set(b))
            assert (row.before_n, row.after_n, row.paired) == (len(b), len(a), len(both))
            assert row.before_mean == (round(fmean(b.values()), 3) if b else None)
            assert row.after_mean == (round(fmean(a.values()), 3) if a else None)
            diffs = [a[c] - b[c] for c in both]
            assert row.mean_change == (round(fmean(diffs), 3) if diffs else None)
            assert row.moved == sum(1 for d in diffs if abs(d) >= 1)
        for r in (r for r in p.reps if r.dimension == dimension):
            (call,) = [c for c in scored if RECENT[c] == r.rep_id]
            assert r.calls == 1 and r.rep_name
            assert r.before_mean == before.get((call, "overall"))
            assert r.after_mean == after.get((call, "overall"))
        assert {r.rep_id for r in p.reps if r.dimension == dimension} == {RECENT[c] for c in scored}
        if dimension == "discovery":
            assert before[("7001001", "overall")] == 5.0  # a manager's word is what is shown
            assert before[("7001001", "pain_and_impact")] == 1.0

    discovery_rows = {c.criterion: c for c in p.criteria if c.dimension == "discovery"}
    assert discovery_rows["active_listening"].status == "added"
    assert discovery_rows["listening"].status == "removed"
    assert discovery_rows["open_questions"].status == "kept"
    assert (
        discovery_rows["active_listening"].before_n
        == 0
        < discovery_rows["active_listening"].after_n
    )
    assert discovery_rows["listening"].after_n == 0 < discovery_rows["listening"].before_n
    # the edit moved the scores: some criterion kept on both sides changed on some call
    assert any(c.moved or c.mean_change for c in p.criteria if c.status == "kept" and c.paired)

    shown = table(p)
    assert "active_listening" in shown and "added" in shown and "removed" in shown


def test_an_unchanged_rubric_spends_nothing(
    analysed: Settings, claude: StandInState, tmp_path: Path
) -> None:
    s = analysed
    asked: list[RubricPreview] = []

    def confirm(p: RubricPreview) -> bool:
        asked.append(p)
        return True

    p = run_preview(bumped_only(tmp_path), confirm=confirm, poll_s=0)

    assert p.status == "unchanged" and p.changed == [] and p.sample == []
    discovery = next(v for v in p.versions if v.dimension == "discovery")
    assert (discovery.old_version, discovery.new_version) == ("1.1.0", "1.2.0")
    assert asked == [] and claude.responses == [] and claude.batches == {}
    assert rows(s.database_url, "SELECT count(*) AS n FROM eval_runs") == [{"n": 0}]
    assert "nothing changed" in table(p)

    # only the onboarding variant changed, and no recent call is an onboarding call
    variant = tmp_path / "variant"
    shutil.copytree(ROOT / "rubrics", variant)
    path = variant / "variants" / "discovery_onboarding.yaml"
    path.write_text(path.read_text().replace("Adoption risks", "Risks to adoption"))
    p = run_preview(variant, confirm=confirm, poll_s=0)
    assert p.status == "no_calls" and p.changed == ["discovery"] and p.sample == []
    assert asked == [] and claude.responses == [] and claude.batches == {}


def test_production_is_untouched(analysed: Settings, claude: StandInState, tmp_path: Path) -> None:
    s = analysed
    before = production(s.database_url)

    p = run_preview(edited(tmp_path), poll_s=0)

    assert p.status == "scored" and p.cost.requests > 0
    assert production(s.database_url) == before
    # the tier-1 cache still answers every dimension of the previewed calls, paying nothing
    paid = claude.requests
    for call_id in RECENT:
        assert all(d["cached"] for d in analyze_call(call_id)["dimensions"].values())
    assert claude.requests == paid


def test_the_cost_is_the_ledgers_rows_at_half_price(
    analysed: Settings, claude: StandInState, tmp_path: Path
) -> None:
    s = analysed
    seen: list[tuple[RubricPreview, int, int]] = []

    def confirm(p: RubricPreview) -> bool:  # asked before anything is paid or recorded
        runs = rows(s.database_url, "SELECT count(*) AS n FROM eval_runs")[0]["n"]
        seen.append((p, len(claude.responses), runs))
        return True

    paid_before = len(claude.responses)
    p = run_preview(edited(tmp_path), confirm=confirm, poll_s=0)

    (asked, paid_then, runs_then) = seen[0]
    assert asked.status == "estimated" and asked.cost.estimate_usd > 0
    assert (paid_then, runs_then) == (paid_before, 0)
    assert p.cost.estimate_usd == asked.cost.estimate_usd

    usage = rows(
        s.database_url, "SELECT * FROM claude_usage WHERE purpose LIKE %s", f"eval%:{p.run_id}"
    )
    assert (
        len(usage)
        == p.cost.requests
        == p.cost.batch_requests
        == len(claude.responses) - paid_before
    )
    assert Decimal(str(p.cost.usd)) == sum(u["usd"] for u in usage)
    prices = price_table(s.prices_file)
    today = datetime.now(UTC).date()
    for u in usage:
        tokens = Usage(
            u["input_tokens"],
            u["output_tokens"],
            u["cache_read_tokens"],
            u["cache_write_5m_tokens"],
            u["cache_write_1h_tokens"],
        )
        assert u["is_batch"] and u["dimension"] in {"discovery", "engagement"}
        assert abs(u["usd"] * 2 - prices.cost(u["model"], tokens, today)) <= Decimal("0.000002")

    # previewed again: the edited content's chunks are reused, nothing is paid
    again = run_preview(edited(tmp_path, "again"), poll_s=0)
    assert again.cost.requests == 0 and again.cost.usd == 0
    assert again.criteria == p.criteria


def test_the_command_asks_before_paying(
    analysed: Settings,
    claude: StandInState,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s = analysed
    parser = argparse.ArgumentParser()
    cli_preview.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["rubric-preview", "--rubrics", str(edited(tmp_path)), "--poll-seconds", "0", "--json"]
    )

    with pytest.raises(CoachError, match="--yes"):  # not a terminal, no --yes: nothing paid
        args.func(args)
    assert "estimate $" in capsys.readouterr().err
    assert claude.responses == [] and claude.batches == {}
    assert rows(s.database_url, "SELECT count(*) AS n FROM eval_runs") == [{"n": 0}]

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = io.StringIO()
    declined = run_preview(
        edited(tmp_path, "no"), confirm=cli_preview.ask(False, Terminal("n\n"), err), poll_s=0
    )
    assert declined.status == "declined" and claude.responses == []
    assert "[y/N]" in err.getvalue()

    args.yes = True
    out = args.func(args)
    assert json.loads(json.dumps(out))["status"] == "scored"
    assert len(claude.batches) == 1 and len(claude.responses) == out["cost"]["requests"] > 0


def calls(spec: dict[str, int]) -> list[SampledCall]:
    """`spec`: rep -> how many calls."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        SampledCall(
            call_id=f"{rep}-{k}",
            rep_id=rep,
            started_at=start + timedelta(hours=k),
            dimensions=["discovery"],
        )
        for rep, n in spec.items()
        for k in range(n)
    ]


def test_the_sample_is_stratified_by_rep_and_seeded() -> None:
    world = calls({"big": 40, "mid": 6, "one": 1, "two": 2})
    for seed in range(20):
        picked = stratified(world, 8, seed)
        reps = [c.rep_id for c in picked]
        assert len(picked) == 8 == len({c.call_id for c in picked})
        assert set(reps) == {"big", "mid", "one", "two"}  # every rep, however few its calls
        assert reps.count("big") <= 3  # the busy rep does not crowd the others out
        assert stratified(list(reversed(world)), 8, seed) == picked  # same seed, same calls
    assert len({tuple(c.call_id for c in stratified(world, 8, s)) for s in range(20)}) > 1
    # fewer places than reps: distinct reps; more places than calls: every call
    assert len({c.rep_id for c in stratified(world, 3, 1)}) == 3
    assert len(stratified(world, 100, 1)) == len(world)
    assert stratified([], 5, 1) == []


def test_what_changed_is_the_content_not_the_version(tmp_path: Path) -> None:
    live = load(ROOT / "rubrics")

    def changed(edit: Callable[[Path], None]) -> dict[str, list[str]]:
        folder = tmp_path / f"e{len(list(tmp_path.iterdir()))}"
        shutil.copytree(ROOT / "rubrics", folder)
        edit(folder)
        return {v.dimension: v.what for v in compare(live, load(folder)) if v.changed}

    def replace(path: str, old: str, new: str) -> Callable[[Path], None]:
        def edit(folder: Path) -> None:
            text = (folder / path).read_text()
            assert old in text
            (folder / path).write_text(text.replace(old, new))

        return edit

    assert changed(lambda _: None) == {}
    assert changed(replace("discovery.yaml", "version: 1.1.0", "version: 2.0.0")) == {}
    assert changed(replace("engagement.yaml", "name: Patience", "name: Pauses")) == {
        "engagement": ["rubric"]
    }
    variant = "variants/discovery_onboarding.yaml"
    assert changed(replace(variant, "Adoption risks", "Risks to adoption")) == {
        "discovery": ["variant discovery_onboarding"]
    }
    # the knowledge base is in every dimension's prompt
    kb = changed(replace("knowledge_base/pricing.md", "\n", "\n\n"))
    assert kb == {d: ["knowledge base"] for d in DIMENSIONS}
