"""Won, lost or open: a deal's outcome from its stage name, as the tenant names its stages.

Gong sends no won/lost flag, only the CRM's `StageName` (and `Probability`). The names are the
tenant's own, so they come from DEAL_STAGE_OUTCOMES (default: Salesforce's standard stages).
A stage the map does not know is decided by `Probability` 100 (won) or 0 (lost); otherwise it
is kept open and reported as unmapped (logged once per map, i.e. per service or refresh run,
counted by the refresh), never
guessed from its name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from threading import Lock
from typing import Literal

from common.config import Settings

Outcome = Literal["won", "lost", "open"]
log = logging.getLogger("sales_coach.deals")


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    mapped: bool  # False: neither the map nor the probability decided (kept open, reported)


@dataclass(frozen=True)
class StageMap:
    """Stage name (case-folded, trimmed) -> outcome."""

    outcomes: dict[str, Outcome]
    # unmapped stage names this map has logged already (not part of the map's value)
    _reported: set[str] = field(default_factory=set, compare=False, repr=False)
    _lock: Lock = field(default_factory=Lock, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> StageMap:
        """`Closed Won=won,Closed Lost=lost,...` (validated by the setting)."""
        found: dict[str, Outcome] = {}
        for pair in filter(str.strip, text.split(",")):
            stage, _, outcome = pair.rpartition("=")
            value = outcome.strip().lower()
            if value not in ("won", "lost", "open"):
                raise ValueError(f"stage outcome must be won, lost or open: {pair!r}")
            found[_key(stage)] = value  # type: ignore[assignment]
        return cls(found)

    @classmethod
    def from_settings(cls, s: Settings) -> StageMap:
        return cls.parse(s.deal_stage_outcomes)

    def decide(self, stage: str | None, probability: float | None) -> Decision:
        if stage is not None and _key(stage) in self.outcomes:
            return Decision(self.outcomes[_key(stage)], True)
        if probability is not None and probability >= 100:
            return Decision("won", True)
        if probability is not None and probability <= 0:
            return Decision("lost", True)
        self._report(stage)
        return Decision("open", False)

    def _report(self, stage: str | None) -> None:
        """Log an unmapped stage name once per map (the refresh counts them every run)."""
        name = stage or "(no stage)"
        with self._lock:
            if name in self._reported:
                return
            self._reported.add(name)
        log.warning(
            "deal stage %r is not in DEAL_STAGE_OUTCOMES and its probability does not decide it:"
            " kept open; add it to the setting",
            name,
        )


def _key(stage: str) -> str:
    return " ".join(stage.split()).casefold()
