"""The model advisor: which model is good enough for each dimension, at what cost.

    sales-coach eval --models claude-sonnet-5-5 claude-haiku-5-5 "engagement=claude-haiku-5-5"

Each configuration (a model for every dimension, or `dimension=model` pairs as in
`CLAUDE_MODELS_BY_DIMENSION`, the others on `CLAUDE_MODEL`) scores the calls managers scored,
with the live rubrics, through Message Batches and apart from production (an eval run each:
`eval_results`, ledger purpose `eval:<run>`). Per dimension it reports agreement with managers
(QWK, with its bootstrap 95% interval, and exact agreement) and the cost per call, then
recommends the cheapest configuration whose QWK interval overlaps the best one's: agreement
you cannot tell apart from the best, for less.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.accuracy.evaluation import EvalResults, score_run, start_run
from common.accuracy.pairs import Filters, ai_vs_manager, with_criteria
from common.config import DIMENSIONS, Settings
from common.db import transaction
from common.scoring.service import ScoringService


def settings_for(s: Settings, config: str) -> Settings:
    """`config` as settings: one model for all, or `dimension=model,...` over the default."""
    if "=" in config:
        return s.model_copy(update={"claude_models_by_dimension": config})
    return s.model_copy(update={"claude_model": config.strip(), "claude_models_by_dimension": ""})


@dataclass
class Candidate:
    config: str
    run_id: int
    calls: int
    cost_per_call: dict[str, float]  # by dimension, dollars
    agreement: dict[str, dict[str, Any]]  # by dimension: n, qwk, exact, ci
    models: dict[str, str] = field(default_factory=dict)


@dataclass
class AdvisorReport:
    candidates: list[Candidate]
    recommended: dict[str, str]  # dimension -> config
    why: dict[str, str]


def run_models(
    service: ScoringService, configs: list[str], sample: int | None = None, poll_s: float = 30.0
) -> AdvisorReport:
    candidates = [_run_one(service, config, sample, poll_s) for config in configs]
    recommended, why = recommend(candidates)
    return AdvisorReport(candidates, recommended, why)


def _run_one(service: ScoringService, config: str, sample: int | None, poll_s: float) -> Candidate:
    s = settings_for(service.s, config)
    models = {d: s.model_for(d) for d in DIMENSIONS}
    run_id, call_ids = start_run(service, f"models:{config}", sample)
    key = ",".join(f"{d}={m}" for d, m in sorted(models.items()))
    destination = EvalResults(service.database, service.rubrics, run_id, model=key)
    scorer = service.scorer.with_destination(service.rubrics, destination, s)
    scored = score_run(service, scorer, run_id, call_ids, poll_s)
    with transaction(service.database) as conn:
        spend = conn.execute(
            "SELECT dimension, coalesce(sum(usd), 0) AS usd FROM claude_usage"
            " WHERE purpose IN (%s, %s) GROUP BY dimension",
            (f"eval:{run_id}", f"eval-repair:{run_id}"),
        ).fetchall()
        pairs = ai_vs_manager(conn, Filters(), eval_run_id=run_id)
    n = max(1, scored)
    report = with_criteria(pairs, bootstrap=1000)["by_dimension"]
    return Candidate(
        config=config,
        run_id=run_id,
        calls=scored,
        cost_per_call={r["dimension"]: float(r["usd"]) / n for r in spend if r["dimension"]},
        agreement={d: {k: report[d].get(k) for k in ("n", "qwk", "exact", "ci")} for d in report},
        models=models,
    )


def recommend(candidates: list[Candidate]) -> tuple[dict[str, str], dict[str, str]]:
    """Per dimension: the cheapest candidate whose QWK interval overlaps the best QWK's
    interval. A dimension without a defined QWK anywhere gets no recommendation."""
    chosen, why = {}, {}
    for d in DIMENSIONS:
        scored = [c for c in candidates if (c.agreement.get(d) or {}).get("qwk") is not None]
        if not scored:
            why[d] = "no agreement measured (too few manager scores, or none varied)"
            continue
        best = max(scored, key=lambda c: c.agreement[d]["qwk"])
        low = _interval(best, d)[0]
        close = [c for c in scored if _interval(c, d)[1] >= low]
        pick = min(close, key=lambda c: (c.cost_per_call.get(d, 0.0), -c.agreement[d]["qwk"]))
        chosen[d] = pick.config
        why[d] = (
            f"QWK {pick.agreement[d]['qwk']:.2f} {_fmt(_interval(pick, d))} vs best"
            f" {best.agreement[d]['qwk']:.2f} {_fmt(_interval(best, d))} ({best.config}),"
            f" ${pick.cost_per_call.get(d, 0.0):.4f} a call"
        )
    return chosen, why


def _interval(c: Candidate, d: str) -> tuple[float, float]:
    qwk = float(c.agreement[d]["qwk"])
    ci = (c.agreement[d].get("ci") or {}).get("qwk")
    return (float(ci[0]), float(ci[1])) if ci else (qwk, qwk)


def _fmt(ci: tuple[float, float]) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def table(r: AdvisorReport) -> str:
    """Per dimension and configuration: pairs, QWK with its interval, exact, cost per call."""
    lines = [
        f"{'dimension':<18}{'configuration':<40}{'pairs':>6}{'QWK':>7}{'95% CI':>16}"
        f"{'exact':>7}{'$/call':>9}"
    ]
    lines.append("-" * len(lines[0]))
    for d in DIMENSIONS:
        for c in r.candidates:
            a = c.agreement.get(d) or {}
            qwk = a.get("qwk")
            ci = _fmt(_interval(c, d)) if qwk is not None else "-"
            exact = f"{a['exact']:.0%}" if a.get("exact") is not None else "-"
            mark = " <" if r.recommended.get(d) == c.config else ""
            lines.append(
                f"{d:<18}{c.config[:39]:<40}{a.get('n', 0):>6}"
                f"{(f'{qwk:.2f}' if qwk is not None else '-'):>7}{ci:>16}{exact:>7}"
                f"{c.cost_per_call.get(d, 0.0):>9.4f}{mark}"
            )
    lines.append("")
    for d in DIMENSIONS:
        pick = r.recommended.get(d)
        lines.append(f"{d}: {'use ' + pick if pick else 'no recommendation'} ({r.why[d]})")
    return "\n".join(lines)
