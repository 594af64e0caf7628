"""The scoring service: the analysis capability, built once from settings.

    service = ScoringService.from_settings(settings)
    ready, failed = service.prepare(call_ids)        # Gong (batched) -> S3 -> Postgres
    plan = service.plan(ready[id], dimensions, force)  # one tier-1 lookup each, budget guard
    service.score(ready[id], dimension, owner=...)     # claimed, paid at most once, recorded
    service.score_batch(calls, dimensions)             # Message Batches at half price

Flows and tools are thin wrappers around it: the prepared call travels as an argument or a
task result, never through module state.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from common.access.scope import managers_above
from common.calls import roles
from common.calls.flags import Flag, reviewer_lines
from common.calls.metrics import compute
from common.calls.store import (
    FetchedCall,
    ensure_rep,
    fetch_calls,
    load_stored_call,
    record_applicability,
    upsert_call,
    webhook_call_data,
)
from common.claude import ClaudeClient
from common.config import DIMENSIONS, Settings
from common.db import Database, retrying, transaction
from common.deals import StageMap
from common.errors import GongNotFound, GongRateLimited
from common.gong import GongClient
from common.limits import ClaudeSlots
from common.monitoring.alerts import notify
from common.rubrics import RubricSet, load, sync
from common.scoring import applicability, batches, costs
from common.scoring.applicability import Applicability, CallFacts, Decision
from common.scoring.chunking import split
from common.scoring.drain import Drain
from common.scoring.ledger import Journal, Ledger
from common.scoring.model import Outcome, PrefixGate, PreparedCall, estimate_cost
from common.scoring.scorer import Scorer
from common.scoring.token_counts import estimate_many
from common.storage import ObjectStore

log = logging.getLogger("sales_coach.service")


@dataclass
class Plan:
    """What an analysis of one call needs: dimensions to score, and those served from cache;
    or nothing, with the reason the applicability rules skipped the call."""

    missing: list[str]
    cached: dict[str, Outcome] = field(default_factory=dict)
    skipped: str | None = None


class ScoringService:
    def __init__(
        self,
        s: Settings,
        scorer: Scorer,
        store: ObjectStore,
        database: Database,
        rules: Applicability | None = None,
    ) -> None:
        self.s, self.scorer, self.store, self.database = s, scorer, store, database
        self.rules = rules or Applicability(version="0.0.0")  # none: every call, every dimension
        self.stages = StageMap.from_settings(s)  # a stored call's deal: won / lost / open
        self.titles = roles.titles_from(s)  # a new rep's job role from their Gong title

    @classmethod
    def from_settings(cls, s: Settings, database: Database | None = None) -> ScoringService:
        """The services a run needs, built once: the pool (`database`, or one of its own),
        Claude, the ledger, the Claude slots, the object store."""
        database = database or Database(s.database_url)
        rubrics = load(s.rubrics_dir)
        with transaction(database) as conn:
            sync(conn, rubrics)
        ledger = Ledger(
            database,
            Journal.for_database(s.journal_dir, s.database_url),
            s.db_outage_wait_s,
            on_rejected=partial(notify, s, "Sales coach: unreadable journal entry"),
        )
        ledger.flush()  # responses paid before a restart reach the ledger first
        slots = ClaudeSlots(database, s.claude_concurrency, s.claude_claim_lease_s)
        slots.ensure()
        scorer = Scorer(s, ClaudeClient.from_settings(s), rubrics, ledger, slots, database)
        rules = applicability.load(s.rubrics_dir)
        rules.check_variants(rubrics)
        return cls(s, scorer, ObjectStore.from_settings(s), database, rules)

    def close(self) -> None:
        self.scorer.claude.close()
        self.database.close()

    @property
    def rubrics(self) -> RubricSet:
        return self.scorer.rubrics

    @property
    def drain(self) -> Drain:
        """Started when the process is asked to stop: no new claims or requests from then."""
        return self.scorer.drain

    # -- prepare --------------------------------------------------------------------------
    def prepare(
        self, call_ids: Sequence[str]
    ) -> tuple[dict[str, PreparedCall], dict[str, Exception]]:
        """Prepared calls, and per call the reason it could not be prepared (yet).

        Stored calls come from Postgres and S3; the others are fetched from Gong with one
        request per 100 ids, using the call data their webhook carried.
        """
        ready: dict[str, PreparedCall] = {}
        fetched: dict[str, FetchedCall] = {}
        with transaction(self.database) as conn:
            for call_id in call_ids:
                stored = load_stored_call(conn, self.store, call_id)
                if stored is not None:
                    fetched[call_id] = stored
            to_fetch = [c for c in call_ids if c not in fetched]
            known = webhook_call_data(conn, to_fetch) if to_fetch else {}
        failed: dict[str, Exception] = {}
        if to_fetch:
            self.store.ensure_bucket()
            try:
                with GongClient.from_settings(self.s, self.database) as gong:
                    fetched.update(
                        fetch_calls(gong, self.store, to_fetch, known, self.s.redact_kinds)
                    )
            except GongRateLimited as exc:
                failed.update((c, exc) for c in to_fetch)
        for call_id in call_ids:
            if call_id in fetched:
                ready[call_id] = self._prepared(fetched[call_id])
            elif call_id not in failed:
                failed[call_id] = GongNotFound(f"Gong has no transcript for call {call_id} yet")
        return ready, failed

    def prepare_one(self, call_id: str) -> PreparedCall:
        ready, failed = self.prepare([call_id])
        if call_id in failed:
            raise failed[call_id]
        return ready[call_id]

    def _prepared(self, fetched: FetchedCall) -> PreparedCall:
        utts = fetched.utterances
        lines = [u.line() for u in utts]
        tokens = estimate_many(lines, self.s.token_scale)
        if self.s.claude_count_tokens:
            tokens = self._calibrated(lines, tokens)
        meta = fetched.call.metaData
        metrics = compute(utts, language=meta.language)
        names = [p.name for p in fetched.call.parties if p.name]
        flags = reviewer_lines(utts, title=meta.title or "", names=names)

        def store() -> None:
            with transaction(self.database) as conn:
                ensure_rep(conn, fetched.call, self.titles)
                upsert_call(conn, fetched, metrics, sum(tokens), flags, stages=self.stages)

        retrying(store, self.s.db_outage_wait_s)
        call = PreparedCall(
            call_id=meta.id,
            rep_id=meta.primaryUserId,
            title=meta.title or "",
            started=meta.started.isoformat() if meta.started else "",
            url=meta.url,
            transcript_hash=fetched.transcript_hash,
            utterances=utts,
            chunks=split(tokens, self.s.chunk_max_tokens, self.s.chunk_overlap),
            metrics=metrics,
            scope=meta.scope,
            system=meta.system,
            direction=meta.direction,
            language=meta.language,
            duration_s=int(meta.duration) if meta.duration is not None else None,
            flags=tuple(_flag_text(f) for f in flags),
        )
        return dataclasses.replace(call, decision=self.decide(call))

    def _calibrated(self, lines: list[str], tokens: list[int]) -> list[int]:
        """Scale per-utterance estimates so their sum matches Claude's own count."""
        exact = self.scorer.claude.count_tokens(
            model=self.s.claude_model,
            system=[],
            messages=[{"role": "user", "content": "\n".join(lines)}],
        )
        factor = exact / max(1, sum(tokens))
        return [max(1, round(t * factor)) for t in tokens]

    # -- plan and score -------------------------------------------------------------------
    def plan(
        self,
        call: PreparedCall,
        dimensions: Sequence[str] = DIMENSIONS,
        force: bool = False,
        override_budget: bool = False,
    ) -> Plan:
        """The dimensions the applicability rules choose for the call (its type), one tier-1
        lookup each; refuse the rest over budget (BudgetExceeded). A call a skip rule matches
        is recorded as skipped and costs nothing. `force` scores the requested dimensions
        whatever the rules and the cache say."""
        decision = call.decision or self.decide(call)
        skipped = None if force else decision.skipped
        with transaction(self.database) as conn:
            record_applicability(conn, call.call_id, decision.call_type, skipped)
        if skipped:
            return Plan(missing=[], skipped=skipped)
        if not force:
            dimensions = [d for d in dimensions if d in decision.dimensions]
        plan = Plan(missing=list(dimensions) if force else [])
        if not force:
            for dimension in dimensions:
                hit = self.scorer.from_cache(call, dimension)
                if hit is None:
                    plan.missing.append(dimension)
                else:
                    plan.cached[dimension] = hit
        if plan.missing:
            self.check_budget(estimate_cost(self.s, call, len(plan.missing)), override_budget)
        return plan

    def decide(self, call: PreparedCall) -> Decision:
        """What the applicability rules say about the call, and the rubric variants of the
        rep's job role when the call started."""
        started = datetime.fromisoformat(call.started) if call.started else None
        with transaction(self.database) as conn:
            managers = managers_above(conn, call.rep_id) if call.rep_id else frozenset()
            role = roles.role_at(conn, call.rep_id, started, self.s.default_job_role)
        facts = CallFacts(
            title=call.title,
            scope=call.scope,
            system=call.system,
            direction=call.direction,
            language=call.language,
            duration_s=call.duration_s,
            words=call.words,
            rep_id=call.rep_id,
            managers=managers,
            external_speakers=_external_speakers(call),
            job_role=role,
        )
        return self.rules.decide(facts, self.rubrics)

    def check_budget(self, estimate_usd: float, override: bool) -> None:
        with transaction(self.database) as conn:
            costs.check_budget(conn, self.s.monthly_budget_usd, estimate_usd, override)

    def score(
        self,
        call: PreparedCall,
        dimension: str,
        *,
        owner: str,
        force: bool = False,
        gate: PrefixGate | None = None,
        lead: bool = False,
    ) -> Outcome:
        """Score a dimension the plan found missing (no second cache lookup)."""
        return self.scorer.score(
            call, dimension, owner=owner, force=force, gate=gate, lead=lead, lookup=False
        )

    def score_batch(
        self,
        calls: Sequence[PreparedCall],
        dimensions: Sequence[str] = DIMENSIONS,
        *,
        force: bool = False,
        override_budget: bool = False,
        poll_s: float = 60.0,
        owner: str = "batch",
    ) -> batches.BatchReport:
        """Every missing (call, dimension) through one Message Batch, under the budget guard."""
        plans = {c.call_id: self.plan(c, dimensions, force, override_budget=True) for c in calls}
        estimate = sum(estimate_cost(self.s, c, len(plans[c.call_id].missing)) for c in calls)
        self.check_budget(estimate / 2, override_budget)  # batch prices are half
        return batches.analyze(
            self.scorer,
            [(c, plans[c.call_id].missing) for c in calls],
            [o for p in plans.values() for o in p.cached.values()],
            force=force,
            ttl=self.s.claude_batch_cache_ttl,
            poll_s=poll_s,
            owner=owner,
        )

    def call_spend(self, call_id: str) -> dict[str, object]:
        with transaction(self.database) as conn:
            spend = costs.call_cost(conn, call_id)
            costs.alert_on_low_hit_rate(conn)
        return spend


def _flag_text(flag: Flag) -> str:
    """A flag as a reason a person reads: where it is, who said it, what was said."""
    if flag.where != "line":
        return f"the call's {flag.where}: {flag.text}"
    return f"{flag.timestamp} {flag.speaker}: {flag.text}"


def _external_speakers(call: PreparedCall) -> int | None:
    """How many speakers Gong places outside the company (a customer speaking keeps an
    internal-sounding title scored); None when Gong places nobody at all."""
    sides = {u.speaker.id: u.speaker.internal for u in call.utterances}
    if all(side is None for side in sides.values()):
        return None
    return sum(side is False for side in sides.values())
