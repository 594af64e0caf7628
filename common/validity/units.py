"""Conversation metrics as validity criteria: measured, not scored, so each has its unit.

An odds ratio is "per unit": per 10 points of the rep's share of talk, per question, per minute
of the longest monologue. `METRICS`: criterion -> (key in `calls.metrics`, factor to the unit,
the unit as people read it).
"""

from __future__ import annotations

CONVERSATION = "conversation"
METRICS: dict[str, tuple[str, float, str]] = {
    "talk_ratio": ("talk_ratio_rep", 10.0, "per 10 points of the rep's share of talk"),
    "questions": ("rep_questions", 1.0, "per question the rep asks"),
    "longest_monologue": ("longest_monologue_s", 1 / 60, "per minute of the longest monologue"),
}


def unit(dimension: str, criterion: str) -> str:
    """The unit an odds ratio of this criterion is per."""
    if dimension == CONVERSATION and criterion in METRICS:
        return METRICS[criterion][2]
    return "per score point"
