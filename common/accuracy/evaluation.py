"""The rubric eval harness: score the calls managers scored with a candidate rubric set.

    sales-coach eval --rubrics DIR [--sample N]

The candidate (a full `rubrics/` folder, e.g. a branch with an edited rubric) scores every
call that has manager scores through the Message Batches path at half price. Its results go
to `eval_results` under an `eval_runs` row, never to `coaching_sessions`: a candidate's scores
never reach managers or the tier-1 cache. Its chunks are claimed under keys of the candidate's
content, so re-running the same candidate pays nothing, and its ledger rows carry the purpose
`eval:<run id>`. Agreement with managers is then printed for the live rubrics (the production
sessions of the same calls) and the candidate side by side, with what the run cost.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from common.accuracy.pairs import Filters, ai_vs_manager, with_criteria
from common.config import DIMENSIONS
from common.db import Db, Row, transaction
from common.rubrics import RubricSet
from common.scoring import batches
from common.scoring.model import PreparedCall, Scored
from common.scoring.scorer import Scorer
from common.scoring.service import ScoringService


class EvalResults:
    """Where an eval's scoring goes: `eval_results` of one run, keyed by the candidate's
    content (its version may equal the live one's), its responses labelled `eval:<run>`."""

    def __init__(
        self, database: Db, candidate: RubricSet, run_id: int, model: str | None = None
    ) -> None:
        self.database, self.candidate, self.run_id = database, candidate, run_id
        self.model = model  # the model configuration, when it is what the eval compares

    def work_key(
        self, call: PreparedCall, dimension: str, cache_key: str, owner: str, force: bool
    ) -> str:
        rubric = self.candidate.rubrics[dimension]
        kb = "".join(d.content_hash() for d in self.candidate.knowledge)
        key = f"eval:{dimension}:{call.transcript_hash}:{rubric.content_hash()}:{kb}"
        if self.model:
            key += f":{self.model}"
        return hashlib.sha256(key.encode()).hexdigest()

    def label(self, purpose: str) -> str:
        label = "eval" if purpose == "score" else f"eval-{purpose}"
        return f"{label}:{self.run_id}"

    def save(self, scored: Scored, force: bool) -> int:
        result = scored.result
        with transaction(self.database) as conn:
            row = conn.execute(
                """
                INSERT INTO eval_results (eval_run_id, call_id, dimension, rubric_version,
                    status, overall_score, result, error)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (eval_run_id, call_id, dimension) DO UPDATE SET
                    status = EXCLUDED.status, overall_score = EXCLUDED.overall_score,
                    result = EXCLUDED.result, error = EXCLUDED.error
                RETURNING id
                """,
                (
                    self.run_id,
                    scored.call.call_id,
                    scored.dimension,
                    scored.rubric_version,
                    "completed" if result else "failed",
                    result.overall_score if result else None,
                    Jsonb(result.model_dump(mode="json")) if result else None,
                    scored.error,
                ),
            ).fetchone()
        assert row is not None
        return int(row["id"])


@dataclass
class EvalReport:
    run_id: int
    calls: int
    requests: int
    usd: float
    live: dict[str, Any]
    candidate: dict[str, Any]


def calls_with_manager_scores(
    conn: psycopg.Connection[Row], sample: int | None, seed: int = 7
) -> list[str]:
    ids = [
        r["call_id"]
        for r in conn.execute(
            "SELECT DISTINCT m.call_id FROM manager_scores m JOIN calls c ON c.id = m.call_id"
            " WHERE NOT m.not_applicable AND c.transcript_key IS NOT NULL ORDER BY m.call_id"
        ).fetchall()
    ]
    if sample is not None and sample < len(ids):
        ids = sorted(random.Random(seed).sample(ids, sample))
    return ids


def start_run(service: ScoringService, label: str, sample: int | None) -> tuple[int, list[str]]:
    """A new eval run (`eval_runs`) over the calls managers scored: (its id, the calls)."""
    with transaction(service.database) as conn:
        call_ids = calls_with_manager_scores(conn, sample)
        return new_run(conn, label, len(call_ids)), call_ids


def new_run(conn: psycopg.Connection[Row], label: str, calls: int) -> int:
    """An `eval_runs` row: what the run's results and ledger rows (`eval:<id>`) hang from."""
    row = conn.execute(
        "INSERT INTO eval_runs (rubrics_dir, calls) VALUES (%s, %s) RETURNING id",
        (label, calls),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def score_run(
    service: ScoringService, scorer: Scorer, run_id: int, call_ids: list[str], poll_s: float
) -> int:
    """Score the run's calls on every dimension through Message Batches (within the month's
    budget) and mark the run finished; returns how many calls were scored."""
    ready, _ = service.prepare(call_ids)
    work = [(ready[c], list(DIMENSIONS)) for c in call_ids if c in ready]
    return score_work(service, scorer, run_id, work, poll_s)


def score_work(
    service: ScoringService,
    scorer: Scorer,
    run_id: int,
    work: list[tuple[PreparedCall, list[str]]],
    poll_s: float,
    estimate_usd: float = 0.0,
) -> int:
    """Score prepared calls on the dimensions named with each through Message Batches, with a
    scorer whose destination is the run's `EvalResults`, refused when the month's budget
    cannot take `estimate_usd`; marks the run finished and returns how many calls."""
    service.check_budget(estimate_usd, override=False)
    batches.analyze(
        scorer,
        work,
        [],
        ttl=scorer.s.claude_batch_cache_ttl,
        poll_s=poll_s,
        owner=f"eval:{run_id}",
    )
    with transaction(service.database) as conn:
        conn.execute(
            "UPDATE eval_runs SET finished_at = %s WHERE id = %s", (datetime.now(UTC), run_id)
        )
    return len(work)


def run_eval(
    service: ScoringService,
    candidate: RubricSet,
    rubrics_dir: str,
    sample: int | None = None,
    poll_s: float = 30.0,
) -> EvalReport:
    s = service.s
    run_id, call_ids = start_run(service, rubrics_dir, sample)
    scorer = service.scorer.with_destination(
        candidate, EvalResults(service.database, candidate, run_id)
    )
    scored = score_run(service, scorer, run_id, call_ids, poll_s)
    with transaction(s.database_url) as conn:
        spend = conn.execute(
            "SELECT count(*) AS n, coalesce(sum(usd), 0) AS usd FROM claude_usage"
            " WHERE purpose IN (%s, %s)",
            (f"eval:{run_id}", f"eval-repair:{run_id}"),
        ).fetchone()
        live = [p for p in ai_vs_manager(conn, Filters()) if p.call_id in set(call_ids)]
        candidate_pairs = ai_vs_manager(conn, Filters(), eval_run_id=run_id)
    assert spend is not None
    return EvalReport(
        run_id=run_id,
        calls=scored,
        requests=int(spend["n"]),
        usd=float(spend["usd"]),
        live=with_criteria(live, bootstrap=500),
        candidate=with_criteria(candidate_pairs, bootstrap=500),
    )


def side_by_side(r: EvalReport) -> str:
    """Live and candidate agreement by dimension, and the cost."""
    metrics = f"{'exact':>7}{'±1':>6}{'QWK':>7}"
    head = f"{'':<18}{'live: pairs':>12}{metrics}   {'candidate: pairs':>16}{metrics}"
    lines = [head, "-" * len(head)]
    names = ["overall", *sorted(set(r.live["by_dimension"]) | set(r.candidate["by_dimension"]))]
    for name in names:
        a = r.live["overall"] if name == "overall" else r.live["by_dimension"].get(name, {})
        b = (
            r.candidate["overall"]
            if name == "overall"
            else r.candidate["by_dimension"].get(name, {})
        )
        lines.append(
            f"{name:<18}{a.get('n', 0):>12}{_pct(a.get('exact')):>7}{_pct(a.get('within_one')):>6}"
            f"{_num(a.get('qwk')):>7}   {b.get('n', 0):>16}{_pct(b.get('exact')):>7}"
            f"{_pct(b.get('within_one')):>6}{_num(b.get('qwk')):>7}"
        )
    lines.append(
        f"eval run {r.run_id}: {r.calls} calls, {r.requests} batch requests, ${r.usd:.4f}"
        " (Message Batches: half price)"
    )
    return "\n".join(lines)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"
