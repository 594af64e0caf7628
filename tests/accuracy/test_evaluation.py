"""The rubric eval harness on the stand-in: live vs candidate, kept apart, at half price."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.config import ROOT, Settings
from common.scoring.costs import Usage, price_table
from flows.analyze_call import analyze_call
from flows.scorecards import import_range
from functions.cli import main
from local.anthropic_server import StandInState


def rows(db_url: str, sql: str, *params: object) -> list[dict[str, Any]]:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def candidate(tmp_path: Path) -> Path:
    rubrics = tmp_path / "candidate"
    shutil.copytree(ROOT / "rubrics", rubrics)
    path = rubrics / "discovery.yaml"
    text = path.read_text().replace("version: 1.1.0", "version: 1.2.0")
    path.write_text(text.replace("Open, layered questions", "Open and layered questions"))
    return rubrics


def test_eval_scores_candidates_apart_at_half_price(
    engine_env: Settings,
    claude: StandInState,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s = engine_env
    for call_id in ("7001001", "7001002"):
        analyze_call(call_id)
    import_range(s, date(2026, 11, 1), date(2026, 12, 1))
    production = rows(s.database_url, "SELECT id, result FROM coaching_sessions ORDER BY id")
    paid_before = len(claude.responses)

    assert (
        main(["eval", "--rubrics", str(candidate(tmp_path)), "--poll-seconds", "0", "--json"]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["calls"] == 2 and report["requests"] == 8

    def pairs(side: dict[str, Any]) -> int:  # scored on both sides, plus any N/A
        na = side["overall"]["not_applicable"]
        return int(side["overall"]["n"] + na["both"] + na["ai_only"] + na["manager_only"])

    assert pairs(report["live"]) == pairs(report["candidate"]) > 0
    results = rows(
        s.database_url, "SELECT * FROM eval_results WHERE eval_run_id = %s", report["run_id"]
    )
    assert len(results) == 8 and {r["status"] for r in results} == {"completed"}
    assert {
        r["rubric_version"].split("+")[0] for r in results if r["dimension"] == "discovery"
    } == {"1.2.0"}
    # production is untouched: same sessions, and the tier-1 cache still answers
    assert (
        rows(s.database_url, "SELECT id, result FROM coaching_sessions ORDER BY id") == production
    )
    before = claude.requests
    assert all(d["cached"] for d in analyze_call("7001001")["dimensions"].values())
    assert claude.requests == before
    # every eval request went through the batch API, recorded at half the on-demand price
    usage = rows(
        s.database_url, "SELECT * FROM claude_usage WHERE purpose = %s", f"eval:{report['run_id']}"
    )
    assert len(usage) == 8 == len(claude.responses) - paid_before
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
        on_demand = prices.cost(u["model"], tokens, today)
        assert u["is_batch"] and abs(u["usd"] * 2 - on_demand) <= Decimal("0.000002")
    assert Decimal(str(report["usd"])) == sum(u["usd"] for u in usage)

    # the same candidate again: its chunks are reused, nothing is paid
    assert (
        main(
            [
                "eval",
                "--rubrics",
                str(candidate(tmp_path / "again")),
                "--poll-seconds",
                "0",
                "--json",
            ]
        )
        == 0
    )
    again = json.loads(capsys.readouterr().out)
    assert again["requests"] == 0 and again["candidate"] == report["candidate"]
