"""The analyze-call flow end to end: Gong stand-in, moto S3, real Postgres, Claude stand-in."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from common.calls.transcript import normalise
from common.config import ROOT, Settings
from common.errors import BudgetExceeded, RubricError
from flows.analyze_call import analyze_call
from local.anthropic_server import StandInState
from local.gong_server import GongState
from local.samples import sample_calls

NEGOTIATION, WORKSHOP = "7001003", "7001005"


def rows(db_url: str, sql: str, *params: object) -> list[dict]:  # type: ignore[type-arg]
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def test_second_run_makes_no_api_requests(engine_env: Settings, claude: StandInState) -> None:
    first = analyze_call(NEGOTIATION)
    assert sorted(first["dimensions"]) == sorted(
        ["product_knowledge", "discovery", "objections", "engagement"]
    )
    assert claude.requests == 4 and first["requests"] == 4
    second = analyze_call(NEGOTIATION)
    assert claude.requests == 4
    assert all(d["cached"] for d in second["dimensions"].values())
    assert rows(engine_env.database_url, "SELECT count(*) AS n FROM coaching_sessions")[0]["n"] == 4
    hits = rows(
        engine_env.database_url,
        "SELECT hit, count(*) AS n FROM cache_lookups GROUP BY hit ORDER BY hit",
    )
    assert [(r["hit"], r["n"]) for r in hits] == [(False, 4), (True, 4)]


def test_dimensions_share_the_cached_prefix(engine_env: Settings, claude: StandInState) -> None:
    analyze_call(NEGOTIATION)
    usage = rows(engine_env.database_url, "SELECT * FROM claude_usage ORDER BY id")
    assert len(usage) == 4
    writers = [u for u in usage if u["cache_write_5m_tokens"] > 0]
    readers = [u for u in usage if u["cache_read_tokens"] > 0]
    assert len(writers) == 1 and writers[0]["cache_read_tokens"] == 0
    assert len(readers) == 3
    transcript_tokens = rows(engine_env.database_url, "SELECT transcript_tokens FROM calls")[0][
        "transcript_tokens"
    ]
    assert all(r["cache_read_tokens"] > transcript_tokens for r in readers)
    assert all(r["input_tokens"] < 500 for r in usage)  # only the dimension instruction is uncached


def use_edited_rubrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, edits: dict[str, str]
) -> None:
    """Point the flow at a copy of rubrics/ in which file `name` has each `old` replaced by `new`."""
    rubrics = tmp_path / "rubrics"
    shutil.copytree(ROOT / "rubrics", rubrics)
    path = rubrics / name
    text = path.read_text()
    for old, new in edits.items():
        assert old in text
        text = text.replace(old, new)
    path.write_text(text)
    monkeypatch.setenv("RUBRICS_DIR", str(rubrics))


def test_bumped_rubric_reanalyses_only_that_dimension(
    engine_env: Settings, claude: StandInState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyze_call(NEGOTIATION)
    use_edited_rubrics(
        tmp_path,
        monkeypatch,
        "discovery.yaml",
        {
            "version: 1.1.0": "version: 1.2.0",
            "Open, layered questions": "Open and layered questions",
        },
    )
    before = claude.requests
    result = analyze_call(NEGOTIATION)
    assert claude.requests - before == 1
    assert [d for d, r in result["dimensions"].items() if not r["cached"]] == ["discovery"]
    versions = rows(
        engine_env.database_url,
        "SELECT rubric_version FROM coaching_sessions WHERE dimension = 'discovery' ORDER BY id",
    )
    assert [v["rubric_version"].split("+")[0] for v in versions] == ["1.1.0", "1.2.0"]


def test_a_changed_model_re_scores_that_dimension_and_status_counts_the_older(
    engine_env: Settings, claude: StandInState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scoring version (instructions, output schema, model) is in the tier-1 cache key:
    an admin who moves a dimension to another model gets it re-scored, not the old result."""
    from common.config import load_settings
    from common.db import connect
    from common.monitoring.status import older_scoring_versions

    analyze_call(NEGOTIATION)
    monkeypatch.setenv("CLAUDE_MODELS_BY_DIMENSION", "engagement=claude-haiku-5-5")
    with connect(engine_env.database_url) as conn:
        older = older_scoring_versions(conn, load_settings())
    assert older == {"product_knowledge": 0, "discovery": 0, "objections": 0, "engagement": 1}
    before = claude.requests
    result = analyze_call(NEGOTIATION)
    assert claude.requests - before == 1
    assert [d for d, r in result["dimensions"].items() if not r["cached"]] == ["engagement"]
    with connect(engine_env.database_url) as conn:
        assert set(older_scoring_versions(conn, load_settings()).values()) == {0}
    models = rows(
        engine_env.database_url,
        "SELECT model FROM coaching_sessions WHERE dimension = 'engagement'"
        " AND superseded_at IS NULL",
    )
    assert models == [{"model": "claude-haiku-5-5"}]


def test_rubric_changed_without_version_bump_is_refused(
    engine_env: Settings, claude: StandInState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyze_call(NEGOTIATION)
    use_edited_rubrics(
        tmp_path,
        monkeypatch,
        "objections.yaml",
        {
            "      Pauses, acknowledges": "      Stops, acknowledges",
        },
    )
    with pytest.raises(RubricError, match=r"objections.yaml changed since version 1.2.0"):
        analyze_call(NEGOTIATION)


def test_long_transcript_is_chunked_and_aggregated(
    engine_env: Settings, claude: StandInState
) -> None:
    result = analyze_call(WORKSHOP)
    assert not result["failed"]
    sessions = rows(
        engine_env.database_url, "SELECT dimension, chunk_count, result FROM coaching_sessions"
    )
    # an onboarding workshop: three dimensions (its call type has no objections)
    assert len(sessions) == 3 and {s["chunk_count"] for s in sessions} == {2}
    # and its discovery is scored on the onboarding variant of the rubric
    discovery = next(s for s in sessions if s["dimension"] == "discovery")["result"]
    assert [c["criterion_id"] for c in discovery["criteria"]] == [
        "success_criteria",
        "current_workflow",
        "adoption_risks",
    ]
    versions = rows(
        engine_env.database_url, "SELECT dimension, rubric_version FROM coaching_sessions"
    )
    assert {
        v["dimension"]: v["rubric_version"].endswith("+variant.discovery_onboarding")
        for v in versions
    } == {
        "discovery": True,
        "engagement": False,
        "product_knowledge": False,
    }
    assert all(1 <= s["result"]["overall_score"] <= 5 for s in sessions)
    # every request stayed within the chunk limit plus the static prefix (and so the context)
    prompts = [r["prompt_tokens"] for r in claude.responses]
    assert len(prompts) == 6 and max(prompts) < engine_env.chunk_max_tokens + 6000
    usage = rows(engine_env.database_url, "SELECT chunk_index, cache_read_tokens FROM claude_usage")
    assert sorted({u["chunk_index"] for u in usage}) == [0, 1]
    # 2 readers per chunk, and the first dimension's second chunk reads the static prefix
    assert sum(u["cache_read_tokens"] > 0 for u in usage) == 5


def test_injected_429_and_529_every_dimension_finishes_billed_once(
    engine_env: Settings, claude: StandInState
) -> None:
    claude.fail_rate = 0.2
    for call in ("7001001", "7001002", NEGOTIATION, "7001004"):
        assert not analyze_call(call)["failed"]
    assert sum(claude.errors.values()) > 0
    usage = rows(engine_env.database_url, "SELECT count(*) AS n FROM claude_usage")[0]["n"]
    assert usage == len(claude.responses) == 15  # 4 + 4 + 4 + a renewal's 3
    assert (
        rows(
            engine_env.database_url,
            "SELECT count(*) AS n FROM coaching_sessions WHERE status = 'completed'",
        )[0]["n"]
        == 15
    )


def test_ungrounded_quotes_never_reach_the_database(
    engine_env: Settings, claude: StandInState
) -> None:
    claude.hallucinate_rate = 0.5
    analyze_call("7001001")
    analyze_call("7001002")
    transcripts = {
        s["call"]["metaData"]["id"]: normalise(
            " ".join(sent["text"] for m in s["transcript"]["transcript"] for sent in m["sentences"])
        )
        for s in sample_calls()[:2]
    }
    sessions = rows(
        engine_env.database_url, "SELECT call_id, result, quotes_dropped FROM coaching_sessions"
    )
    quotes = [
        (s["call_id"], e) for s in sessions for c in s["result"]["criteria"] for e in c["evidence"]
    ]
    assert quotes and sum(s["quotes_dropped"] for s in sessions) > 0
    for call_id, ev in quotes:
        assert normalise(ev["quote"]) in transcripts[call_id]
        assert ev["link"].startswith(f"https://app.gong.io/call?id={call_id}")
        assert ev["speaker"]


def test_invalid_output_gets_one_repair_then_a_recorded_failure(
    engine_env: Settings, claude: StandInState
) -> None:
    claude.invalid_rate = 1.0
    from common.errors import ClaudeError

    with pytest.raises(ClaudeError, match="dimensions failed"):
        analyze_call("7001001", dimensions=["discovery"])
    usage = rows(engine_env.database_url, "SELECT purpose FROM claude_usage ORDER BY id")
    assert [u["purpose"] for u in usage] == ["score", "repair"]  # not retried by Prefect
    failed = rows(engine_env.database_url, "SELECT status, error FROM coaching_sessions")
    assert failed[0]["status"] == "failed" and "after one repair" in failed[0]["error"]
    claude.invalid_rate = 0.0
    assert (
        analyze_call("7001001", dimensions=["discovery"])["dimensions"]["discovery"]["cached"]
        is False
    )


def test_same_transcript_under_another_call_id_hits_the_cache(
    engine_env: Settings, claude: StandInState, gong: tuple[GongState, str]
) -> None:
    analyze_call("7001004")
    sample = sample_calls()[3]
    copy_call = {**sample["call"], "metaData": {**sample["call"]["metaData"], "id": "7009999"}}
    gong[0].add(copy_call, {**sample["transcript"], "callId": "7009999"})
    before = claude.requests
    result = analyze_call("7009999")
    assert claude.requests == before
    assert all(d["cached"] for d in result["dimensions"].values())
    copies = rows(
        engine_env.database_url,
        "SELECT cached_from FROM coaching_sessions WHERE call_id = '7009999'",
    )
    assert len(copies) == 3 and all(c["cached_from"] for c in copies)  # a renewal's three


def test_force_bypasses_the_cache(engine_env: Settings, claude: StandInState) -> None:
    first = analyze_call("7001001", dimensions=["engagement"])
    forced = analyze_call("7001001", dimensions=["engagement"], force=True)
    assert claude.requests == 2 and not forced["dimensions"]["engagement"]["cached"]
    with psycopg.connect(engine_env.database_url) as conn:
        sessions = conn.execute(
            "SELECT id, superseded_at IS NULL FROM coaching_sessions"
            " WHERE call_id = '7001001' AND dimension = 'engagement' ORDER BY id"
        ).fetchall()
        paid = conn.execute("SELECT count(*) FROM claude_usage").fetchone()
    # the forced result is a new current session; the first is kept, superseded
    assert sessions == [
        (first["dimensions"]["engagement"]["session_id"], False),
        (forced["dimensions"]["engagement"]["session_id"], True),
    ]
    assert paid == (2,)


def test_budget_guard_refuses_and_admin_can_override(
    engine_env: Settings, claude: StandInState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONTHLY_BUDGET_USD", "0.01")
    with pytest.raises(BudgetExceeded, match=r"monthly budget of \$0\.01"):
        analyze_call("7001001")
    assert claude.requests == 0
    assert analyze_call("7001001", override_budget=True)["requests"] == 4


def test_other_dimensions_start_once_the_first_response_has_begun(
    engine_env: Settings, claude: StandInState
) -> None:
    claude.generation_s = 1.0  # each answer takes a second to generate after it begins
    result = analyze_call(NEGOTIATION)
    assert not result["failed"]
    lead, *others = sorted(claude.responses, key=lambda r: r["started"])
    assert lead["stream"] and lead["cache_creation_input_tokens"] > 0
    with psycopg.connect(engine_env.database_url) as conn:
        ids = conn.execute("SELECT request_id FROM claude_usage").fetchall()
    assert all(r[0] and r[0].startswith("req_") for r in ids)
    # the three others were sent while the first was still generating, and still read its prefix
    assert all(o["started"] < lead["finished"] for o in others)
    assert all(
        o["cache_read_input_tokens"] > 0 and o["cache_creation_input_tokens"] == 0 for o in others
    )


INTERNAL, RENEWAL = "7001006", "7001004"


def test_an_internal_call_is_skipped_at_no_cost_shown_and_forceable(
    engine_env: Settings, claude: StandInState
) -> None:
    """The applicability rules skip the internal pipeline review: stored with its reason, no
    Claude request, in `status`; an admin's forced run scores it anyway."""
    from common.db import connect
    from common.monitoring.status import pipeline_status

    skipped = analyze_call(INTERNAL)
    assert skipped["skipped"] == "internal meeting (Gong scope Internal)"
    assert skipped["dimensions"] == {} and claude.requests == 0 and skipped["usd"] == 0
    call = rows(engine_env.database_url, "SELECT * FROM calls WHERE id = %s", INTERNAL)[0]
    assert call["skipped_reason"] == skipped["skipped"] and call["scope"] == "Internal"
    with connect(engine_env.database_url) as conn:
        shown = pipeline_status(conn, engine_env)["skipped_calls"]
    assert shown["by_reason"] == {skipped["skipped"]: 1}
    assert [c["call_id"] for c in shown["latest"]] == [INTERNAL]
    forced = analyze_call(INTERNAL, force=True)
    assert len(forced["dimensions"]) == 4 and claude.requests == 4 and forced["skipped"] is None
    call = rows(engine_env.database_url, "SELECT * FROM calls WHERE id = %s", INTERNAL)[0]
    assert call["skipped_reason"] is None


def test_a_call_type_chooses_its_dimensions(engine_env: Settings, claude: StandInState) -> None:
    renewal = analyze_call(RENEWAL)
    assert sorted(renewal["dimensions"]) == ["engagement", "objections", "product_knowledge"]
    assert claude.requests == 3
    kind = rows(engine_env.database_url, "SELECT call_type FROM calls WHERE id = %s", RENEWAL)
    assert kind[0]["call_type"] == "renewal"


def test_german_and_japanese_calls_are_scored_with_quotes_in_their_own_script(
    engine_env: Settings, claude: StandInState
) -> None:
    """Through the whole pipeline: each quote is grounded verbatim in the original script
    (Japanese has no spaces and full-width punctuation) and in the right speaker's mouth."""
    for call_id, language in (("7001007", "deu"), ("7001008", "jpn")):
        result = analyze_call(call_id)
        assert len(result["dimensions"]) == 4 and not result["failed"]
        call = rows(engine_env.database_url, "SELECT * FROM calls WHERE id = %s", call_id)[0]
        assert call["language"] == language
        sample = next(c for c in sample_calls() if c["call"]["metaData"]["id"] == call_id)
        lines = [s["text"] for m in sample["transcript"]["transcript"] for s in m["sentences"]]
        script = normalise(" ".join(lines)).replace(" ", "")
        sessions = rows(
            engine_env.database_url,
            "SELECT result FROM coaching_sessions WHERE call_id = %s AND status = 'completed'",
            call_id,
        )
        quotes = [e for s in sessions for c in s["result"]["criteria"] for e in c["evidence"]]
        assert quotes and all(normalise(e["quote"]).replace(" ", "") in script for e in quotes)
        assert all(e["said_by"] in ("rep", "customer") for e in quotes)
    japanese = [e["quote"] for e in quotes]
    assert any("。" in q or "？" in q for q in japanese)  # noqa: RUF001 (full-width, verbatim)


def test_a_line_addressing_the_reviewer_flags_the_call(
    engine_env: Settings, claude: StandInState
) -> None:
    analyze_call("7001002")  # the rep asks "the AI reviewer" for a 5 at 05:00
    flags = rows(engine_env.database_url, "SELECT flags FROM calls WHERE id = '7001002'")[0]
    assert [f["text"][:27] for f in flags["flags"]] == ["Note for the AI reviewer: i"]
    assert flags["flags"][0]["speaker"] == "Sam Ortiz"
    clean = analyze_call("7001001")
    assert (
        clean
        and rows(engine_env.database_url, "SELECT flags FROM calls WHERE id = '7001001'")[0][
            "flags"
        ]
        == []
    )


def test_the_stored_score_is_the_criteria_weighted_by_the_rubric(
    engine_env: Settings, claude: StandInState
) -> None:
    """The stand-in writes its overall independently of its criteria, as a careless model
    could: the score in coaching_sessions (what averages, alerts and reports read) is the
    rubric-weighted criteria, the model's overall is kept as a check, and a gap over one
    point is kept in the stored result as a reason to review."""
    for call in ("7001001", "7001002", NEGOTIATION):
        assert not analyze_call(call)["failed"]
    sessions = rows(
        engine_env.database_url,
        "SELECT overall_score, result FROM coaching_sessions WHERE status = 'completed'",
    )
    scored = [s for s in sessions if s["overall_score"] is not None]
    assert scored
    for s in scored:
        crits = [c for c in s["result"]["criteria"] if c["score"] is not None]
        weighted = sum(c["score"] * c["weight"] for c in crits) / sum(c["weight"] for c in crits)
        assert float(s["overall_score"]) == s["result"]["overall_score"] == round(weighted, 2)
        gap = abs(s["result"]["overall_score"] - s["result"]["model_overall"])
        checks = [r for r in s["result"]["review_reasons"] if r.startswith("overall check")]
        assert bool(checks) == (round(gap, 2) > 1)
        assert (s["result"]["state"] == "published") == (s["result"]["review_reasons"] == [])
    assert any(s["result"]["review_reasons"] for s in scored)
    for s in sessions:
        if s["overall_score"] is None:
            assert s["result"]["model_overall"] is None and s["result"]["review_reasons"] == []
