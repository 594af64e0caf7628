"""Scores by deal: the CSV of scored calls, and deals as the unit of the analysis.

A row is one scored criterion of one call (`criterion` "overall" for a dimension's score), with
the call's rep, deal, stage and the deal's outcome. A deal is its calls before it closed: each
criterion averaged over its calls (`scores`), the share of its calls at each stage (`stages`),
and each criterion held apart from the stage (`within_stage`: a call's score minus the
criterion's mean over all calls at that stage, averaged over the deal's calls), so that late
stages sounding better does not read as a deal scoring better.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NoReturn

from pydantic import BaseModel

HEADER = ["call_id", "rep_id", "deal_id", "stage", "outcome", "dimension", "criterion", "score"]
Key = tuple[str, str]  # (dimension, criterion)


class ValidityFileError(ValueError):
    """A scores CSV that cannot be read; the message names its line."""


class ScoreRow(BaseModel):
    call_id: str
    rep_id: str
    deal_id: str
    stage: str
    outcome: Literal["won", "lost"]
    dimension: str
    criterion: str
    score: float | None  # None: not applicable on this call (a blank cell)


@dataclass(frozen=True)
class Deal:
    deal_id: str
    rep_id: str
    won: bool
    stages: dict[str, float]  # stage -> share of the deal's calls
    scores: dict[Key, float]  # mean over the deal's calls
    within_stage: dict[Key, float]  # mean over its calls of (score - the stage's mean)


def read_rows(path: Path) -> list[ScoreRow]:
    """The rows of a scores CSV; anything wrong is a ValidityFileError naming the line."""
    rows: list[ScoreRow] = []
    deals: dict[str, tuple[str, str]] = {}  # deal -> (rep, outcome)
    calls: dict[str, tuple[str, str]] = {}  # call -> (deal, stage)
    for line, cells in _cells(path):
        row = _row(path, line, cells)
        rep, outcome = deals.setdefault(row.deal_id, (row.rep_id, row.outcome))
        if rep != row.rep_id:
            _fail(path, line, f"deal {row.deal_id} is rep {rep}'s on an earlier line")
        if outcome != row.outcome:
            _fail(path, line, f"deal {row.deal_id} is {outcome} on an earlier line")
        deal, stage = calls.setdefault(row.call_id, (row.deal_id, row.stage))
        if deal != row.deal_id:
            _fail(path, line, f"call {row.call_id} is in deal {deal} on an earlier line")
        if stage != row.stage:
            _fail(path, line, f"call {row.call_id} is at stage {stage} on an earlier line")
        rows.append(row)
    return rows


def deals(rows: Iterable[ScoreRow]) -> list[Deal]:
    """Each deal of `rows` once, in the order first seen (one pass over the rows per step:
    a large company's closed deals are a million rows)."""
    rows = list(rows)
    per_call: dict[str, dict[Key, list[float]]] = defaultdict(lambda: defaultdict(list))
    call_stage: dict[str, str] = {}
    deal_calls: dict[str, dict[str, None]] = defaultdict(dict)  # insertion-ordered sets
    first: dict[str, ScoreRow] = {}
    for r in rows:
        call_stage[r.call_id] = r.stage
        deal_calls[r.deal_id][r.call_id] = None
        first.setdefault(r.deal_id, r)
        if r.score is not None:
            per_call[r.call_id][(r.dimension, r.criterion)].append(r.score)
    call_score = {
        call: {key: sum(v) / len(v) for key, v in keys.items()} for call, keys in per_call.items()
    }
    at_stage: dict[tuple[Key, str], list[float]] = defaultdict(list)
    for call, scores in call_score.items():
        for key, score in scores.items():
            at_stage[(key, call_stage[call])].append(score)
    stage_mean = {k: sum(v) / len(v) for k, v in at_stage.items()}
    return [
        _deal(deal_id, list(calls), first[deal_id], call_score, call_stage, stage_mean)
        for deal_id, calls in deal_calls.items()
    ]


def _deal(
    deal_id: str,
    calls: list[str],
    first: ScoreRow,
    call_score: dict[str, dict[Key, float]],
    call_stage: dict[str, str],
    stage_mean: dict[tuple[Key, str], float],
) -> Deal:
    stages: dict[str, float] = defaultdict(float)
    totals: dict[Key, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])  # n, sum, within
    for call in calls:
        stage = call_stage[call]
        stages[stage] += 1 / len(calls)
        for key, score in call_score.get(call, {}).items():
            t = totals[key]
            t[0] += 1
            t[1] += score
            t[2] += score - stage_mean[(key, stage)]
    keys = sorted(totals)
    return Deal(
        deal_id,
        first.rep_id,
        first.outcome == "won",
        dict(stages),
        {k: totals[k][1] / totals[k][0] for k in keys},
        {k: totals[k][2] / totals[k][0] for k in keys},
    )


def _cells(path: Path) -> list[tuple[int, list[str]]]:
    """(line, cells) of each non-blank row after the header, the header checked."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as exc:
        raise ValidityFileError(
            f"{path}: not UTF-8 (byte {exc.start}): save it as CSV UTF-8"
        ) from None
    except csv.Error as exc:
        raise ValidityFileError(f"{path}: not a readable CSV: {exc}") from None
    if not rows or [c.strip().lower() for c in rows[0]] != HEADER:
        _fail(path, 1, f"the header must be {','.join(HEADER)}")
    out = []
    for line, row in enumerate(rows[1:], start=2):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if any("\x00" in c for c in cells):
            _fail(path, line, "contains a NUL character")
        if len(cells) != len(HEADER):
            _fail(path, line, f"expected {len(HEADER)} fields, got {len(cells)}")
        out.append((line, cells))
    return out


def _row(path: Path, line: int, cells: list[str]) -> ScoreRow:
    values = dict(zip(HEADER, cells, strict=True))
    missing = [c for c in HEADER if c not in ("outcome", "score") and not values[c]]
    if missing:
        _fail(path, line, f"{', '.join(missing)} required")
    outcome = values["outcome"].lower()
    if outcome not in ("won", "lost"):
        _fail(path, line, f"outcome must be won or lost, got {values['outcome']!r}")
    score: float | None = None
    if values["score"]:
        try:
            score = float(values["score"])
        except ValueError:
            score = math.nan
        if not math.isfinite(score):
            _fail(
                path,
                line,
                f"score must be a number (blank: not applicable), got {values['score']!r}",
            )
    return ScoreRow.model_validate(values | {"outcome": outcome, "score": score})


def _fail(path: Path, line: int, message: str) -> NoReturn:
    raise ValidityFileError(f"{path}: line {line}: {message}")
