"""A rubric change, previewed before its version bump is applied.

    sales-coach rubric-preview --rubrics DIR [--sample 30] [--days 30] [--seed 7] [--yes] [--json]

`DIR` is the edited `rubrics/` folder. Its rubrics are compared with the live ones by content
(a bump of the version alone changes nothing; an edit not yet bumped is what a preview is
for). Nothing changed: nothing is sampled, scored or paid. Otherwise a sample of recent
analysed calls, stratified by rep, is re-scored on the dimensions whose rubric changed for
that call (its variant, or the knowledge base), and the scores shown now are set beside the
edited rubric's per criterion and per rep, with what it cost.

Kept apart from production as `sales-coach eval` is, through its code: an `eval_runs` row
labelled `preview:<DIR>`, results in `eval_results` (`EvalResults`, chunk claims keyed by the
edited content), ledger rows with the purpose `eval:<run>`, one Message Batch at half price
(`evaluation.score_work`). Nothing is written to `coaching_sessions`, so neither the tier-1
cache, `call_scores` nor anything a manager or rep sees changes; the edited rubrics are not
synced to Postgres, so no version is recorded until the bump is applied.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import fmean
from typing import Any, Literal

import psycopg
from pydantic import BaseModel, Field

from common.accuracy.evaluation import EvalResults, new_run, score_work
from common.config import DIMENSIONS, load_settings
from common.db import Row, transaction
from common.rubrics import Rubric, RubricSet, load
from common.scoring.model import PreparedCall, estimate_cost
from common.scoring.service import ScoringService
from common.validity.source import call_scores

ISOLATION = (
    "scored as an eval run (eval_runs 'preview:<dir>', eval_results, ledger purpose"
    " eval:<run>), never into coaching_sessions: the tier-1 cache, call_scores and what"
    " managers and reps see are unchanged, and the edited rubrics are not recorded"
)
Status = Literal["unchanged", "no_calls", "estimated", "declined", "scored"]
Key = tuple[str, str]  # (call, dimension)


class DimensionVersion(BaseModel):
    dimension: str
    old_version: str  # the live rubric's
    new_version: str  # the edited folder's (may equal the old one: not bumped yet)
    changed: bool  # its content, a variant of it, or the knowledge base changed
    what: list[str] = Field(default_factory=list)  # "rubric", "variant <name>", "knowledge base"


class SampledCall(BaseModel):
    call_id: str
    rep_id: str
    started_at: datetime
    dimensions: list[str]  # re-scored: those whose rubric changed for this call


class CriterionChange(BaseModel):
    """One criterion (or `overall`, the dimension's score) on the calls re-scored on its
    dimension. Before: the score shown now (a person's word, else the AI's published score;
    a held suggestion is no score). After: the edited rubric's AI score."""

    dimension: str
    criterion: str
    status: Literal["kept", "added", "removed"]
    before_n: int
    before_mean: float | None
    after_n: int
    after_mean: float | None
    paired: int  # calls with a number on both sides
    mean_change: float | None  # over the paired calls
    moved: int  # paired calls whose score moved by a point or more


class RepChange(BaseModel):
    rep_id: str
    rep_name: str
    dimension: str
    calls: int
    before_mean: float | None
    after_mean: float | None
    mean_change: float | None  # over the calls with both


class Cost(BaseModel):
    estimate_usd: float  # before submission: pessimistic, at the batch price
    usd: float = 0.0  # the ledger's rows for this preview's run
    requests: int = 0
    batch_requests: int = 0  # of `requests`; the rest errored in the batch and ran on demand


class RubricPreview(BaseModel):
    status: Status
    rubrics_dir: str
    days: int
    seed: int
    sample_size: int  # asked for
    versions: list[DimensionVersion]
    sample: list[SampledCall] = Field(default_factory=list)
    criteria: list[CriterionChange] = Field(default_factory=list)
    reps: list[RepChange] = Field(default_factory=list)
    cost: Cost = Field(default_factory=lambda: Cost(estimate_usd=0.0))
    run_id: int | None = None
    held_after: int = 0  # re-scored dimensions the publish gate would hold for review
    failed: int = 0  # re-scored dimensions that failed
    isolation: str = ISOLATION

    @property
    def changed(self) -> list[str]:
        return [v.dimension for v in self.versions if v.changed]


Confirm = Callable[[RubricPreview], bool]


# -- what changed ------------------------------------------------------------------------------
def compare(live: RubricSet, edited: RubricSet) -> list[DimensionVersion]:
    """Per dimension: the versions, and whether the content a call of it is scored with
    changed (the rubric, a variant of it, or the knowledge base every prompt carries)."""
    kb = _kb(live) != _kb(edited)
    out = []
    for d in DIMENSIONS:
        what = ["rubric"] if _hash(live.rubrics[d]) != _hash(edited.rubrics[d]) else []
        old, new = _variants(live, d), _variants(edited, d)
        what += [f"variant {n}" for n in sorted(set(old) | set(new)) if old.get(n) != new.get(n)]
        what += ["knowledge base"] if kb else []
        out.append(
            DimensionVersion(
                dimension=d,
                old_version=live.rubrics[d].version,
                new_version=edited.rubrics[d].version,
                changed=bool(what),
                what=what,
            )
        )
    return out


def changed_for(live: RubricSet, edited: RubricSet, call: PreparedCall, dimension: str) -> bool:
    """Whether the call would now be scored on the dimension with other content: the rubric
    its type names (a variant, when those rubrics have it, as `Scorer.variant`) or the
    knowledge base."""
    return changed_rubric(live, edited, dimension, call.variant(dimension))


def changed_rubric(live: RubricSet, edited: RubricSet, dimension: str, variant: str | None) -> bool:
    """Whether a call scored with the dimension's `variant` (None: its rubric) would be
    scored with other content."""
    return _kb(live) != _kb(edited) or _hash(_effective(live, dimension, variant)) != _hash(
        _effective(edited, dimension, variant)
    )


def _effective(rubrics: RubricSet, dimension: str, variant: str | None) -> Rubric:
    return rubrics.rubric_for(dimension, variant if variant in rubrics.variants else None)


def _hash(rubric: Rubric) -> str:
    return rubric.content_hash()


def _kb(rubrics: RubricSet) -> list[tuple[str, str]]:
    return sorted((d.name, d.content_hash()) for d in rubrics.knowledge)


def _variants(rubrics: RubricSet, dimension: str) -> dict[str, str]:
    return {n: _hash(v) for n, v in rubrics.variants.items() if v.dimension == dimension}


def criterion_ids(rubrics: RubricSet, dimension: str) -> list[str]:
    """The dimension's criteria in its rubric's order, then its variants' others."""
    ids = [c.id for c in rubrics.rubrics[dimension].criteria]
    for v in rubrics.variants.values():
        if v.dimension == dimension:
            ids += [c.id for c in v.criteria if c.id not in ids]
    return ids


# -- the sample --------------------------------------------------------------------------------
_RECENT = r"""
SELECT c.id AS call_id, c.primary_user_id AS rep_id, c.started_at, s.dimension,
       substring(s.rubric_version from '\+variant\.(.+)$') AS variant
FROM calls c JOIN coaching_sessions s ON s.call_id = c.id
WHERE c.started_at >= %(since)s AND c.started_at < %(until)s
  AND c.primary_user_id IS NOT NULL AND c.transcript_key IS NOT NULL
  AND s.status = 'completed' AND s.superseded_at IS NULL AND s.dimension = ANY(%(dims)s)
ORDER BY c.id, s.dimension
"""


def recent_calls(
    conn: psycopg.Connection[Row],
    live: RubricSet,
    edited: RubricSet,
    dimensions: Sequence[str],
    since: datetime,
    until: datetime,
) -> list[SampledCall]:
    """Calls started in [since, until) whose current analysis of any of `dimensions` used a
    rubric (or variant, as its session's version names it) that changed, with those
    dimensions."""
    params = {"since": since, "until": until, "dims": list(dimensions)}
    calls: dict[str, SampledCall] = {}
    for r in conn.execute(_RECENT, params).fetchall():
        if not changed_rubric(live, edited, r["dimension"], r["variant"]):
            continue
        call = calls.setdefault(
            r["call_id"],
            SampledCall(
                call_id=r["call_id"], rep_id=r["rep_id"], started_at=r["started_at"], dimensions=[]
            ),
        )
        call.dimensions.append(r["dimension"])
    return list(calls.values())


def stratified(calls: Sequence[SampledCall], size: int, seed: int) -> list[SampledCall]:
    """At most `size` calls, rep by rep in turn (each rep's calls in a seeded order, the reps
    in a seeded order), so every rep with calls is in the sample once it has room for them
    all, and none outweighs the others: a preview is read per rep. Deterministic for a seed
    whatever order `calls` come in."""
    rng = random.Random(seed)
    by_rep: dict[str, list[SampledCall]] = defaultdict(list)
    for c in sorted(calls, key=lambda c: c.call_id):
        by_rep[c.rep_id].append(c)
    reps = sorted(by_rep)
    rng.shuffle(reps)
    for rep in reps:
        rng.shuffle(by_rep[rep])
    picked: list[SampledCall] = []
    turn = 0
    while len(picked) < min(size, len(calls)):
        for rep in reps:
            if turn < len(by_rep[rep]) and len(picked) < size:
                picked.append(by_rep[rep][turn])
        turn += 1
    return sorted(picked, key=lambda c: (c.rep_id, c.started_at, c.call_id))


# -- the preview -------------------------------------------------------------------------------
def preview(
    service: ScoringService,
    rubrics_dir: Path,
    sample: int = 30,
    days: int = 30,
    seed: int = 7,
    *,
    confirm: Confirm = lambda _: True,
    poll_s: float = 30.0,
    now: datetime | None = None,
) -> RubricPreview:
    """Re-score a seeded, rep-stratified sample of the last `days` days' analysed calls with
    the edited rubrics in `rubrics_dir`, on the dimensions that changed, apart from
    production; `confirm` sees the estimate (status `estimated`) before anything is paid.

    Takes the service (its pool) rather than a connection: each step is its own short
    transaction, as the batch it waits for may take hours."""
    edited = load(rubrics_dir)
    out = RubricPreview(
        status="unchanged",
        rubrics_dir=str(rubrics_dir),
        days=days,
        seed=seed,
        sample_size=sample,
        versions=compare(service.rubrics, edited),
    )
    if not out.changed:
        return out
    until = now or datetime.now(UTC)
    with transaction(service.database) as conn:
        since = until - timedelta(days=days)
        eligible = recent_calls(conn, service.rubrics, edited, out.changed, since, until)
    work = _work(service, edited, stratified(eligible, sample, seed))
    out = out.model_copy(update={"sample": [c for c, _ in work]})
    if not work:
        return out.model_copy(update={"status": "no_calls"})
    estimate = round(sum(estimate_cost(service.s, p, len(c.dimensions)) for c, p in work) / 2, 4)
    out = out.model_copy(update={"status": "estimated", "cost": Cost(estimate_usd=estimate)})
    service.check_budget(estimate, override=False)  # refused before asking, not after
    if not confirm(out):
        return out.model_copy(update={"status": "declined"})
    with transaction(service.database) as conn:
        run_id = new_run(conn, f"preview:{rubrics_dir}", len(work))
    scorer = service.scorer.with_destination(edited, EvalResults(service.database, edited, run_id))
    batch = [(p, c.dimensions) for c, p in work]
    score_work(service, scorer, run_id, batch, poll_s, estimate)
    with transaction(service.database) as conn:
        return _report(conn, out, service.rubrics, edited, run_id)


def _work(
    service: ScoringService, edited: RubricSet, picked: list[SampledCall]
) -> list[tuple[SampledCall, PreparedCall]]:
    """The sampled calls (prepared), each with the dimensions that changed for it."""
    ready, _ = service.prepare([c.call_id for c in picked])
    out = []
    for c in picked:
        call = ready.get(c.call_id)
        if call is None:
            continue
        dims = [d for d in c.dimensions if changed_for(service.rubrics, edited, call, d)]
        if dims:
            out.append((c.model_copy(update={"dimensions": dims}), call))
    return out


def _report(
    conn: psycopg.Connection[Row],
    out: RubricPreview,
    live: RubricSet,
    edited: RubricSet,
    run_id: int,
) -> RubricPreview:
    keys = {(c.call_id, d) for c in out.sample for d in c.dimensions}
    before = shown_now(conn, keys)
    after, held, failed = edited_scores(conn, run_id)
    rep_of = {c.call_id: c.rep_id for c in out.sample}
    names = rep_names(conn, sorted(set(rep_of.values())))
    return out.model_copy(
        update={
            "status": "scored",
            "run_id": run_id,
            "criteria": by_criterion(keys, before, after, live, edited),
            "reps": by_rep(keys, before, after, rep_of, names),
            "cost": spend(conn, run_id, out.cost.estimate_usd),
            "held_after": held,
            "failed": failed,
        }
    )


# -- reading the two sides -----------------------------------------------------------------------
Scores = dict[Key, dict[str, float | None]]  # (call, dimension) -> criterion ("overall") -> score


def shown_now(conn: psycopg.Connection[Row], keys: Iterable[Key]) -> Scores:
    """The scores shown now on the (call, dimension)s: what a person may see
    (`common.validity.source.call_scores`); a dimension held for review has none."""
    wanted = set(keys)
    out: Scores = defaultdict(dict)
    for s in call_scores(conn, None, sorted({c for c, _ in wanted})):
        if (s.call_id, s.dimension) in wanted:
            out[(s.call_id, s.dimension)][s.criterion] = s.score
    return dict(out)


def edited_scores(conn: psycopg.Connection[Row], run_id: int) -> tuple[Scores, int, int]:
    """The edited rubric's scores from the run's `eval_results` (an N/A is None), how many of
    them the publish gate would hold, and how many failed."""
    rows = conn.execute(
        "SELECT call_id, dimension, status, overall_score::float8 AS overall, result"
        " FROM eval_results WHERE eval_run_id = %s",
        (run_id,),
    ).fetchall()
    out: Scores = {}
    for r in rows:
        if r["status"] != "completed":
            continue
        criteria: list[dict[str, Any]] = r["result"].get("criteria", [])
        scores: dict[str, float | None] = {
            c["criterion_id"]: _num(c.get("score")) for c in criteria
        }
        out[(r["call_id"], r["dimension"])] = {"overall": r["overall"], **scores}
    held = sum(
        1 for r in rows if r["status"] == "completed" and r["result"].get("state") == "needs_review"
    )
    return out, held, sum(1 for r in rows if r["status"] != "completed")


def rep_names(conn: psycopg.Connection[Row], reps: list[str]) -> dict[str, str]:
    rows = conn.execute("SELECT id, name FROM users WHERE id = ANY(%s)", (reps,)).fetchall()
    return {r["id"]: r["name"] for r in rows if r["name"]}


def spend(conn: psycopg.Connection[Row], run_id: int, estimate: float) -> Cost:
    """The ledger's rows of the run's requests (scores, repairs, samples: `eval…:<run>`)."""
    row = conn.execute(
        "SELECT count(*) AS n, count(*) FILTER (WHERE is_batch) AS batch,"
        " coalesce(sum(usd), 0) AS usd FROM claude_usage"
        " WHERE purpose ~ ('^eval(-[^:]+)?:' || %s || '$')",
        (str(run_id),),
    ).fetchone()
    assert row is not None
    return Cost(
        estimate_usd=estimate,
        usd=float(row["usd"]),
        requests=int(row["n"]),
        batch_requests=int(row["batch"]),
    )


# -- the comparison ------------------------------------------------------------------------------
def by_criterion(
    keys: set[Key], before: Scores, after: Scores, live: RubricSet, edited: RubricSet
) -> list[CriterionChange]:
    out = []
    for d in DIMENSIONS:
        calls = sorted(c for c, k in keys if k == d)
        if not calls:
            continue
        old, new = criterion_ids(live, d), criterion_ids(edited, d)
        seen = {k for c in calls for side in (before, after) for k in side.get((c, d), {})}
        order = ["overall", *new, *[i for i in old if i not in new]]
        order += sorted(seen - set(order))
        for criterion in order:
            status: Literal["kept", "added", "removed"] = (
                "added"
                if criterion in new and criterion not in old
                else "removed"
                if criterion in old and criterion not in new
                else "kept"
            )
            pairs = [
                (before.get((c, d), {}).get(criterion), after.get((c, d), {}).get(criterion))
                for c in calls
            ]
            row = _change(d, criterion, status, pairs)
            if row.before_n or row.after_n or status != "kept":  # a variant's, unused here
                out.append(row)
    return out


def _change(
    dimension: str,
    criterion: str,
    status: Literal["kept", "added", "removed"],
    pairs: list[tuple[float | None, float | None]],
) -> CriterionChange:
    b = [x for x, _ in pairs if x is not None]
    a = [y for _, y in pairs if y is not None]
    both = [(x, y) for x, y in pairs if x is not None and y is not None]
    return CriterionChange(
        dimension=dimension,
        criterion=criterion,
        status=status,
        before_n=len(b),
        before_mean=_mean(b),
        after_n=len(a),
        after_mean=_mean(a),
        paired=len(both),
        mean_change=_mean([y - x for x, y in both]),
        moved=sum(1 for x, y in both if abs(y - x) >= 1),
    )


def by_rep(
    keys: set[Key],
    before: Scores,
    after: Scores,
    rep_of: dict[str, str],
    names: dict[str, str],
) -> list[RepChange]:
    """Per rep and re-scored dimension: the dimension's score shown now and the edited one."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for call, d in sorted(keys):
        groups[(rep_of[call], d)].append(call)
    out = []
    for (rep, d), calls in sorted(groups.items()):
        pairs = [
            (before.get((c, d), {}).get("overall"), after.get((c, d), {}).get("overall"))
            for c in calls
        ]
        change = _change(d, "overall", "kept", pairs)
        out.append(
            RepChange(
                rep_id=rep,
                rep_name=names.get(rep, rep),
                dimension=d,
                calls=len(calls),
                before_mean=change.before_mean,
                after_mean=change.after_mean,
                mean_change=change.mean_change,
            )
        )
    return out


def _mean(values: list[float]) -> float | None:
    return round(fmean(values), 3) if values else None


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# -- the command's body ------------------------------------------------------------------------
def run_preview(
    rubrics: str | Path,
    sample: int = 30,
    days: int = 30,
    seed: int = 7,
    *,
    confirm: Confirm = lambda _: True,
    poll_s: float = 30.0,
    now: datetime | None = None,
) -> RubricPreview:
    """`sales-coach rubric-preview`: the service from the settings, the preview, closed."""
    service = ScoringService.from_settings(load_settings())
    try:
        return preview(
            service, Path(rubrics), sample, days, seed, confirm=confirm, poll_s=poll_s, now=now
        )
    finally:
        service.close()


# -- the terminal --------------------------------------------------------------------------------
def table(p: RubricPreview) -> str:
    lines = [
        f"rubric preview of {p.rubrics_dir}: {len(p.sample)} calls of"
        f" {len({c.rep_id for c in p.sample})} reps, last {p.days} days, seed {p.seed}"
    ]
    for v in p.versions:
        bump = "" if v.old_version != v.new_version or not v.changed else " (not bumped yet)"
        what = f"changed: {', '.join(v.what)}" if v.changed else "unchanged"
        lines.append(f"  {v.dimension:<18}{v.old_version} -> {v.new_version}{bump}  {what}")
    if p.status == "unchanged":
        lines.append(
            "nothing changed: the edited rubrics' content is the live one's; nothing spent"
        )
        return "\n".join(lines)
    if p.status == "no_calls":
        lines.append(f"no analysed call in the last {p.days} days uses a changed rubric")
        return "\n".join(lines)
    lines.append(_cost_line(p))
    if p.status != "scored":
        lines += ["not submitted"] if p.status == "declined" else []
        return "\n".join(lines)
    lines += ["", _criteria_table(p), "", _reps_table(p), ""]
    if p.held_after or p.failed:
        lines.append(
            f"{p.held_after} re-scored dimensions the publish gate would hold; {p.failed} failed"
        )
    lines.append(f"kept apart: {p.isolation}")
    return "\n".join(lines)


def _cost_line(p: RubricPreview) -> str:
    c = p.cost
    estimate = f"estimate ${c.estimate_usd:.4f} (Message Batches, half price, pessimistic)"
    if p.status != "scored":
        return estimate
    return (
        f"{estimate}; spent ${c.usd:.4f} on {c.requests} requests ({c.batch_requests} batch)"
        f" under eval run {p.run_id}"
    )


def _criteria_table(p: RubricPreview) -> str:
    head = (
        f"{'dimension':<18}{'criterion':<24}{'':<8}{'before':>8}{'n':>4}{'after':>8}{'n':>4}"
        f"{'change':>8}{'moved>=1':>10}"
    )
    lines = [head, "-" * len(head), "before: the score shown now; after: the edited rubric's"]
    for c in p.criteria:
        tag = "" if c.status == "kept" else c.status
        lines.append(
            f"{c.dimension:<18}{c.criterion[:23]:<24}{tag:<8}{_f(c.before_mean):>8}"
            f"{c.before_n:>4}{_f(c.after_mean):>8}{c.after_n:>4}{_f(c.mean_change, '+.2f'):>8}"
            f"{f'{c.moved}/{c.paired}':>10}"
        )
    return "\n".join(lines)


def _reps_table(p: RubricPreview) -> str:
    head = f"{'rep':<24}{'dimension':<18}{'calls':>6}{'before':>8}{'after':>8}{'change':>8}"
    lines = [head, "-" * len(head)]
    for r in p.reps:
        lines.append(
            f"{r.rep_name[:23]:<24}{r.dimension:<18}{r.calls:>6}{_f(r.before_mean):>8}"
            f"{_f(r.after_mean):>8}{_f(r.mean_change, '+.2f'):>8}"
        )
    return "\n".join(lines)


def _f(v: float | None, fmt: str = ".2f") -> str:
    return "-" if v is None else format(v, fmt)
