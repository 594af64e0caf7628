"""The model advisor: which scoring configuration is good enough for each dimension, at
what cost.

    sales-coach eval --models claude-sonnet-5-5 "claude-haiku-5-5x3>claude-sonnet-5-5x1" [--delta 0.05]

Each configuration is a cascade (`common.cascade`, as SCORING_CASCADE), or
`dimension=cascade` pairs over SCORING_CASCADE (as SCORING_CASCADE_BY_DIMENSION). Each
scores the calls managers scored with the live rubrics, apart from production (an eval run
each: `eval_results`, ledger purpose `eval:<run>`). Then, per dimension, on the calls every
configuration scored (`common.accuracy.resampling`):

- agreement with managers is weighted kappa with one-sided N/A as a maximal disagreement;
- each configuration is compared with the best by the difference in kappa, with a one-sided
  95% lower bound from a paired bootstrap over calls (one resample for all configurations);
- the recommendation is the cheapest configuration whose bound is above -delta (a
  non-inferiority margin): not "cannot be told apart from the best", but "shown to be at most
  delta worse". Below the calls a power calculation needs, none is recommended, and the
  report says how many more calls with manager scores are needed.

Cost is each configuration's tokens (its eval's ledger rows; for chunks a re-run reused, the
rows of the earlier run of the same configuration that paid them) at today's list prices
without the batch discount: what the configuration would cost in production, not what the
eval happened to pay. The share each would send to a person (eval results whose `state` is
`needs_review`) is shown beside it.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import psycopg

from common.accuracy import resampling
from common.accuracy.agreement import Pair
from common.accuracy.evaluation import EvalResults, score_run, start_run
from common.accuracy.pairs import Filters, ai_vs_manager
from common.config import DIMENSIONS, Settings
from common.db import Row, transaction
from common.scoring.costs import PriceTable, Usage, price_table
from common.scoring.service import ScoringService

DELTA = 0.05  # non-inferiority margin in kappa
MIN_CALLS = 20  # fewer clusters than this and a bootstrap bound is not worth stating
ROUNDS = 2000


def settings_for(s: Settings, config: str) -> Settings:
    """`config` as settings: one cascade for every dimension, or `dimension=cascade,...` over
    SCORING_CASCADE. Per-dimension models and cascades of `s` are cleared, so the eval runs
    exactly the configuration named."""
    if "=" in config:
        update = {"scoring_cascade_by_dimension": config, "claude_models_by_dimension": ""}
    else:
        update = {
            "scoring_cascade": config.strip(),
            "scoring_cascade_by_dimension": "",
            "claude_models_by_dimension": "",
        }
    out = s.model_copy(update=update)
    cascades(out)  # ValueError now, before anything is paid, when a cascade is malformed
    return out


def cascades(s: Settings) -> dict[str, str]:
    return {d: str(s.cascade_for(d)) for d in DIMENSIONS}


@dataclass
class Candidate:
    config: str
    run_id: int
    calls: int
    cascades: dict[str, str]  # by dimension
    cost_per_call: dict[str, float]  # by dimension, dollars at list price
    review_share: dict[str, float]  # by dimension: results held for a person
    agreement: dict[str, dict[str, Any]] = field(default_factory=dict)  # by dimension


@dataclass
class Verdict:
    """One dimension's recommendation (`pick`, a configuration) or why there is none."""

    pick: str | None
    why: str
    calls: int  # calls every configuration scored
    needed: int | None = None  # calls the power calculation asks for


@dataclass
class AdvisorReport:
    candidates: list[Candidate]
    recommended: dict[str, str]  # dimension -> config
    why: dict[str, str]
    calls: dict[str, dict[str, int | None]]  # dimension -> {"calls", "needed", "more"}
    delta: float = DELTA


def run_models(
    service: ScoringService,
    configs: list[str],
    sample: int | None = None,
    poll_s: float = 30.0,
    delta: float = DELTA,
) -> AdvisorReport:
    runs = [_run_one(service, config, sample, poll_s) for config in configs]
    return advise([c for c, _ in runs], [p for _, p in runs], delta)


def advise(
    candidates: list[Candidate],
    pairs: Sequence[Sequence[Pair]],
    delta: float = DELTA,
    rounds: int = ROUNDS,
    seed: int = 7,
) -> AdvisorReport:
    """Compare the candidates per dimension (their `agreement` is filled in) and recommend."""
    recommended, why, calls = {}, {}, {}
    for d in DIMENSIONS:
        call_ids, tables = resampling.paired_tables(pairs, d)
        costs = [c.cost_per_call.get(d, 0.0) for c in candidates]
        verdict, diffs = decide([c.config for c in candidates], tables, costs, delta, rounds, seed)
        for c, diff in zip(candidates, diffs, strict=True):
            c.agreement[d] = {"calls": len(call_ids), **dataclasses.asdict(diff)}
        if verdict.pick is not None:
            recommended[d] = verdict.pick
        why[d] = verdict.why
        more = None if verdict.needed is None else max(0, verdict.needed - verdict.calls)
        calls[d] = {"calls": verdict.calls, "needed": verdict.needed, "more": more}
    return AdvisorReport(candidates, recommended, why, calls, delta)


def decide(
    configs: list[str],
    tables: np.ndarray,
    costs: list[float],
    delta: float = DELTA,
    rounds: int = ROUNDS,
    seed: int = 7,
    min_calls: int = MIN_CALLS,
) -> tuple[Verdict, list[resampling.Difference]]:
    """One dimension: the cheapest configuration whose one-sided 95% lower bound of (its
    kappa - the best's) is above -delta, once there are as many calls as the power calculation
    needs to show a configuration as good as the best within delta (the largest over the
    comparisons with the best)."""
    n = tables.shape[1]
    best, diffs = resampling.compare(tables, rounds, seed) if n else (None, [])
    if best is None:
        diffs = diffs or [resampling.Difference(None, None, None, None) for _ in configs]
        why = "no agreement measured: too few manager scores on calls every configuration scored"
        return Verdict(None, why, n, min_calls), diffs
    sds = [d.sd for k, d in enumerate(diffs) if k != best and d.sd is not None]
    needed = max([min_calls, *(resampling.calls_needed(n, sd, delta) for sd in sds)])
    lead = f"best {configs[best]} (kappa {diffs[best].kappa:.2f})"
    if n < needed:
        why = (
            f"{n} calls scored by every configuration; about {needed} are needed to show one"
            f" within {delta} of the best: score {needed - n} more calls with manager scores;"
            f" {lead}"
        )
        return Verdict(None, why, n, needed), diffs
    good = [k for k, d in enumerate(diffs) if d.lower is not None and d.lower > -delta] or [best]
    pick = min(good, key=lambda k: (costs[k], -(diffs[k].kappa or 0.0)))
    p = diffs[pick]
    why = (
        f"kappa {p.kappa:.2f}, {p.diff:+.2f} vs the {lead}, 95% lower bound {p.lower:+.2f}"
        f" > -{delta}; ${costs[pick]:.4f} a call; {n} calls"
    )
    return Verdict(configs[pick], why, n, needed), diffs


def _run_one(
    service: ScoringService, config: str, sample: int | None, poll_s: float
) -> tuple[Candidate, list[Pair]]:
    s = settings_for(service.s, config)
    by_dimension = cascades(s)
    key = ",".join(f"{d}={c}" for d, c in sorted(by_dimension.items()))
    label = f"models:{key}"  # one label per configuration however it was written
    run_id, call_ids = start_run(service, label, sample)
    destination = EvalResults(service.database, service.rubrics, run_id, model=key)
    scorer = service.scorer.with_destination(service.rubrics, destination, s)
    scored = score_run(service, scorer, run_id, call_ids, poll_s)
    with transaction(service.database) as conn:
        usage = paid_usage(conn, label, run_id, call_ids)
        held = review_counts(conn, run_id)
        pairs = ai_vs_manager(conn, Filters(), eval_run_id=run_id)
    prices = price_table(service.s.prices_file)
    candidate = Candidate(
        config=config,
        run_id=run_id,
        calls=scored,
        cascades=by_dimension,
        cost_per_call=list_cost_per_call(usage, prices, datetime.now(UTC).date(), scored),
        review_share={d: held[d][0] / held[d][1] for d in held if held[d][1]},
    )
    return candidate, pairs


def paid_usage(
    conn: psycopg.Connection[Row], label: str, run_id: int, call_ids: list[str]
) -> list[Row]:
    """The ledger rows that paid for this run's calls under this configuration: per call and
    dimension, those of the latest run of the same configuration (this one, or the earlier
    one whose paid chunks this run reused) that has any."""
    return conn.execute(
        """
        WITH paid AS (
            SELECT u.call_id, u.dimension, u.model, u.input_tokens, u.output_tokens,
                   u.cache_read_tokens, u.cache_write_5m_tokens, u.cache_write_1h_tokens,
                   r.id AS run
            FROM eval_runs r
            JOIN claude_usage u ON u.purpose LIKE 'eval%%:' || r.id
            WHERE r.rubrics_dir = %s AND r.id <= %s AND u.call_id = ANY(%s)
              AND u.dimension IS NOT NULL
        )
        SELECT * FROM paid p
        WHERE p.run = (SELECT max(q.run) FROM paid q
                       WHERE q.call_id = p.call_id AND q.dimension = p.dimension)
        """,
        (label, run_id, call_ids),
    ).fetchall()


def list_cost_per_call(
    usage: Sequence[Row], prices: PriceTable, on: date, calls: int
) -> dict[str, float]:
    """Dollars per call by dimension: each response's tokens at the list price on `on`
    (the real-time price, no batch discount)."""
    total: dict[str, float] = defaultdict(float)
    for r in usage:
        tokens = Usage(
            input_tokens=r["input_tokens"],
            output_tokens=r["output_tokens"],
            cache_read_tokens=r["cache_read_tokens"],
            cache_write_5m_tokens=r["cache_write_5m_tokens"],
            cache_write_1h_tokens=r["cache_write_1h_tokens"],
        )
        total[r["dimension"]] += float(prices.cost(r["model"], tokens, on, batch=False))
    return {d: usd / max(1, calls) for d, usd in total.items()}


def review_counts(conn: psycopg.Connection[Row], run_id: int) -> dict[str, tuple[int, int]]:
    """By dimension: (results held for a person, results); a result without a state
    (before the publish gate) counts as published."""
    rows = conn.execute(
        "SELECT dimension, count(*) FILTER (WHERE result->>'state' = 'needs_review') AS held,"
        " count(*) AS n FROM eval_results WHERE eval_run_id = %s AND status = 'completed'"
        " GROUP BY dimension",
        (run_id,),
    ).fetchall()
    return {r["dimension"]: (int(r["held"]), int(r["n"])) for r in rows}


def table(r: AdvisorReport) -> str:
    """Per dimension and configuration: kappa, its difference from the best with the lower
    bound, the share sent to review, the list-price cost per call."""
    head = (
        f"{'dimension':<18}{'configuration':<42}{'calls':>6}{'kappa':>7}{'- best':>8}"
        f"{'95% low':>9}{'review':>8}{'$/call':>9}"
    )
    lines = [head, "-" * len(head)]
    for d in DIMENSIONS:
        for c in r.candidates:
            a = c.agreement.get(d) or {}
            share = c.review_share.get(d)
            mark = " <" if r.recommended.get(d) == c.config else ""
            lines.append(
                f"{d:<18}{c.config[:41]:<42}{a.get('calls', 0):>6}{_num(a.get('kappa')):>7}"
                f"{_num(a.get('diff'), '+.2f'):>8}{_num(a.get('lower'), '+.2f'):>9}"
                f"{('-' if share is None else f'{share:.0%}'):>8}"
                f"{c.cost_per_call.get(d, 0.0):>9.4f}{mark}"
            )
    lines.append("")
    lines.append(
        f"kappa: weighted kappa with managers, one-sided N/A a full disagreement; recommended:"
        f" the cheapest whose one-sided 95% lower bound of (kappa - best) is above -{r.delta}"
    )
    for d in DIMENSIONS:
        pick = r.recommended.get(d)
        lines.append(f"{d}: {'use ' + pick if pick else 'no recommendation'} ({r.why[d]})")
    return "\n".join(lines)


def _num(v: float | None, fmt: str = ".2f") -> str:
    return "-" if v is None else format(v, fmt)
