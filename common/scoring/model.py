"""The data the scoring service, its scorer and the batch path share."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from common.calls.metrics import ConversationMetrics
from common.calls.transcript import Utterance, word_count
from common.config import Settings
from common.scoring import costs
from common.scoring.analysis import DimensionResult
from common.scoring.applicability import Decision
from common.scoring.chunking import Chunk


@dataclass(frozen=True)
class PreparedCall:
    """Everything the dimension scorers share for one call."""

    call_id: str
    rep_id: str | None
    title: str
    started: str
    url: str | None
    transcript_hash: str
    utterances: list[Utterance]
    chunks: list[Chunk]
    metrics: ConversationMetrics
    scope: str | None = None  # Gong's metaData, for the applicability rules
    system: str | None = None
    direction: str | None = None
    language: str | None = None
    duration_s: int | None = None
    decision: Decision | None = None  # what the applicability rules chose (set by prepare)
    flags: tuple[str, ...] = ()  # lines addressing the AI reviewer: the gate holds the call

    def variant(self, dimension: str) -> str | None:
        """The rubric variant the call's type names for the dimension, if any."""
        return self.decision.variants.get(dimension) if self.decision else None

    @property
    def words(self) -> int:
        return sum(word_count(u.text) for u in self.utterances)


@dataclass(frozen=True)
class Scored:
    """A dimension's result (or its failure) for a call, as a destination saves it."""

    call: PreparedCall
    dimension: str
    model: str
    cache_key: str
    rubric_version: str
    result: DimensionResult | None
    error: str | None = None


@dataclass(frozen=True)
class Outcome:
    dimension: str
    session_id: int
    cached: bool
    overall_score: float | None  # None: the dimension is N/A for this call
    requests: int
    state: str = "published"  # or needs_review: held for a person (`common.scoring.gate`)
    escalated: bool = False
    call_id: str = ""


class PrefixGate:
    """Lets dimensions 2-4 start a chunk as soon as dimension 1's response for it has begun.

    The leader opens chunk k when its streamed response for chunk k begins (its cache write
    is then readable) or when it needs no request for it; the others wait for that, at most
    `timeout_s`. The leader opens every chunk when it stops, whatever happened.
    """

    def __init__(self, chunks: int, timeout_s: float = 600.0) -> None:
        self._events = [threading.Event() for _ in range(chunks)]
        self.timeout_s = timeout_s
        self._later: dict[str, PrefixGate] = {}
        self._lock = threading.Lock()

    def later(self, model: str) -> tuple[PrefixGate, bool]:
        """The gate of a later stage's model, and whether the caller leads it: the first
        dimension of the call to escalate to a model writes that model's cache; the others
        escalating with it wait for its response to begin, so they read instead of each
        paying for the write."""
        with self._lock:
            if model in self._later:
                return self._later[model], False
            gate = self._later[model] = PrefixGate(len(self._events), self.timeout_s)
            return gate, True

    def open(self, chunk: int) -> None:
        self._events[chunk].set()

    def open_all(self) -> None:
        for event in self._events:
            event.set()

    def wait(self, chunk: int) -> bool:
        return self._events[chunk].wait(self.timeout_s)

    def is_open(self, chunk: int) -> bool:
        return self._events[chunk].is_set()


@dataclass(frozen=True)
class Job:
    """One dimension of one call being scored by one owner (a flow run, or a process)."""

    call: PreparedCall
    dimension: str
    model: str
    work_key: str
    owner: str
    gate: PrefixGate | None = None
    lead: bool = False
    stage: int = 0  # the cascade's stage (`common.cascade`) this sample belongs to
    sample: int = 0  # which sample of its stage
    of: int = 1  # how many samples its stage draws
    stages: int = 1  # how many stages the cascade has

    def purpose(self, base: str) -> str:
        """The ledger's purpose of this sample's `score` or `repair` response: the sample is
        named (`score-s0.2`), so the ledger shows each sample paid once."""
        if self.stage == 0 and self.sample == 0:
            return base
        return f"{base}-s{self.stage}.{self.sample}"

    @property
    def marker(self) -> str | None:
        """What the request says about which sample it is (none for a lone first sample):
        a retry of sample 2 is then the same request, and never taken for sample 3."""
        if self.stages == 1 and self.of == 1:
            return None
        return (
            f"Independent assessment {self.sample + 1} of {self.of}"
            f" (stage {self.stage + 1} of {self.stages}): judge the transcript afresh."
        )


def estimate_cost(
    s: Settings, call: PreparedCall, dimensions: int, prefix_tokens: int = 4000
) -> float:
    """A pessimistic estimate of one analysis for the budget guard: every stage of the
    cascade asked for every dimension (each model's first write, its reads, every sample's
    output), priced as the first dimension's cascade."""
    prices = costs.price_table(s.prices_file)
    prompt = prefix_tokens + sum(c.tokens for c in call.chunks)
    today = datetime.now(UTC).date()
    dollars = 0.0
    for stage in s.cascade_for("discovery").stages:
        p = prices.price(stage.model, today, prompt)
        requests = dimensions * stage.samples * len(call.chunks)
        dollars += (
            prompt * float(p.cache_write_5m)
            + prompt * (requests - 1) * float(p.cache_read)
            + 1500 * requests * float(p.output)
        ) / 1e6
    return round(dollars, 4)
