"""How a dimension is scored: a cascade of stages, each a model and how many samples it draws.

    "claude-haiku-5-5x3>claude-sonnet-5-5x1"

reads "three samples from Haiku; if they do not hold (`common.scoring.gate`), one from Sonnet".
A stage without `xK` draws one sample. The text is what settings, the advisor and the cache
key carry, so a configuration is one comparable string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_STAGE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._:@/-]*?)(?:\s*x\s*(\d+))?\s*$")
MAX_SAMPLES = 9


@dataclass(frozen=True)
class Stage:
    model: str
    samples: int

    def __str__(self) -> str:
        return f"{self.model}x{self.samples}"


@dataclass(frozen=True)
class Cascade:
    stages: tuple[Stage, ...]

    @classmethod
    def parse(cls, text: str) -> Cascade:
        """A cascade from its text; ValueError when it is malformed."""
        stages = []
        for part in text.split(">"):
            m = _STAGE.match(part)
            if not m:
                raise ValueError(
                    f"a stage is `model` or `modelxK` (K 1-{MAX_SAMPLES}); got {part!r}"
                )
            k = int(m.group(2) or 1)
            if not 1 <= k <= MAX_SAMPLES:
                raise ValueError(f"samples per stage must be 1-{MAX_SAMPLES}; got {part!r}")
            stages.append(Stage(m.group(1), k))
        return cls(tuple(stages))

    def __str__(self) -> str:
        return ">".join(str(s) for s in self.stages)

    @property
    def first(self) -> Stage:
        return self.stages[0]

    @property
    def models(self) -> list[str]:
        return [s.model for s in self.stages]

    @property
    def max_requests(self) -> int:
        """Samples drawn when every stage is asked (per chunk)."""
        return sum(s.samples for s in self.stages)
