"""Calibration: what managers said about the AI's scores, turned into anchored examples for
the rubric, written into a candidate rubric folder with bumped versions.

Every manager score beside a current AI score counts (the latest of each reviewer per call,
dimension and criterion): criteria and the dimension's overall score, N/A on either side.
- A disagreement (two points or more apart, or N/A on one side only) proposes an example: the
  AI's own grounded evidence quote for the criterion (an excerpt of the transcript), the
  manager's score and reason. An overall disagreement is anchored on the criterion the AI
  rated furthest in the direction it erred (the manager's overall score as its example).
- A score a person confirmed (an upheld dispute, a review or audit confirmation:
  `confirms_ai`) proposes the same kind of example for its criterion: a contested score that
  stood is the anchor the scale most needs. Disagreements come first.
- A manager's N/A where the AI scored cannot be an example (examples are 1-5): it is listed in
  `not_applicable`, for whoever words the rubric's N/A rules.
Examples are short (they go into the cached prompt prefix) and few (at most `per_criterion`).
The candidate is a full copy of `rubrics/`, ready for `sales-coach eval --rubrics DIR`;
nothing live changes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg
import yaml

from common.db import Row

MAX_EXCERPT = 240
Kind = Literal["disagreement", "overall", "not_applicable", "upheld", "confirmed"]
_RANK = {"upheld": 1, "confirmed": 2}  # after every disagreement (rank 0)
NA_GAP = 5.0  # a one-sided N/A sorts with the widest disagreements


@dataclass(frozen=True)
class Proposal:
    call_id: str
    dimension: str
    criterion: str
    ai_score: float | None  # None: the AI said N/A
    manager_score: int
    excerpt: str
    reason: str
    kind: Kind = "disagreement"


@dataclass(frozen=True)
class NotApplicable:
    """A one-sided N/A: the AI and the manager disagree on whether the criterion applies."""

    call_id: str
    dimension: str
    criterion: str
    ai_score: float | None
    manager_score: int | None
    reason: str


@dataclass
class Calibration:
    out_dir: str
    proposals: list[Proposal] = field(default_factory=list)
    skipped_without_excerpt: int = 0
    bumped: dict[str, str] = field(default_factory=dict)  # dimension -> new version
    counts: dict[str, int] = field(default_factory=dict)
    not_applicable: list[NotApplicable] = field(default_factory=list)


@dataclass
class Findings:
    proposals: list[Proposal] = field(default_factory=list)
    skipped: int = 0
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "pairs",
                "agreements",
                "disagreements",
                "overall_disagreements",
                "one_sided_na",
                "both_na",
                "upheld",
                "confirmed",
            ),
            0,
        )
    )
    not_applicable: list[NotApplicable] = field(default_factory=list)


# The latest score of each reviewer per (call, dimension, criterion) beside the AI's current one
# (`ai_criterion`, 0012), whether it confirmed the AI's, and whether it resolved an upheld dispute.
_PAIRS = """
SELECT DISTINCT ON (m.call_id, m.dimension, m.criterion, m.reviewer_id)
       m.call_id, m.dimension, m.criterion, m.score, m.not_applicable, m.note, m.confirms_ai,
       d.status = 'upheld' AS upheld, a.score AS ai, a.not_applicable AS ai_na,
       s.result -> 'criteria' AS criteria
FROM manager_scores m
JOIN current_sessions s ON s.call_id = m.call_id AND s.dimension = m.dimension
CROSS JOIN LATERAL ai_criterion(s.overall_score, s.result, m.criterion) a
LEFT JOIN disputes d ON d.manager_score_id = m.id
WHERE a.known
ORDER BY m.call_id, m.dimension, m.criterion, m.reviewer_id, m.scored_at DESC, m.id DESC,
         s.created_at DESC
"""


def findings(conn: psycopg.Connection[Row], min_gap: int = 2) -> Findings:
    """Every manager score beside a current AI score, sorted into proposals (disagreements,
    widest first, then anchors a person confirmed), one-sided N/As and counts."""
    found = Findings()
    candidates = []
    for r in conn.execute(_PAIRS).fetchall():
        found.counts["pairs"] += 1
        candidate = _weigh(r, min_gap, found)
        if candidate is not None:
            candidates.append(candidate)
    candidates.sort(key=lambda c: (_RANK.get(c[1].kind, 0), -c[0]))
    for _, proposal in candidates:
        if proposal.excerpt:
            found.proposals.append(proposal)
        else:
            found.skipped += 1
    return found


def _weigh(r: Row, min_gap: int, found: Findings) -> tuple[float, Proposal] | None:
    """Counts one pair into `found`; the proposal it makes (with its gap), if any."""
    ai = None if r["ai_na"] or r["ai"] is None else float(r["ai"])
    manager = None if r["not_applicable"] else int(r["score"])
    criterion, overall = r["criterion"], r["criterion"] == "overall"
    if ai is None and manager is None:
        found.counts["both_na"] += 1
        found.counts["agreements"] += 1
        return None
    if ai is None or manager is None:  # one-sided N/A: a disagreement
        found.counts["one_sided_na"] += 1
        found.counts["disagreements"] += 1
        note = (r["note"] or "").strip() or _said(ai, manager)
        found.not_applicable.append(
            NotApplicable(r["call_id"], r["dimension"], criterion, ai, manager, _short(note, 300))
        )
        if manager is None or overall:  # an example's score is 1-5, and names a criterion
            return None
        return NA_GAP, _proposal(r, criterion, None, manager, "not_applicable")
    if abs(int(ai + 0.5) - manager) >= min_gap:
        found.counts["disagreements"] += 1
        if not overall:
            return abs(ai - manager), _proposal(r, criterion, ai, manager, "disagreement")
        found.counts["overall_disagreements"] += 1
        anchor = _anchor(r["criteria"] or [], ai, manager)
        if anchor is None:
            found.skipped += 1
            return None
        return abs(ai - manager), _proposal(r, anchor, ai, manager, "overall")
    found.counts["agreements"] += 1
    if not (r["upheld"] or r["confirms_ai"]):
        return None
    kind: Kind = "upheld" if r["upheld"] else "confirmed"
    found.counts[kind] += 1
    return None if overall else (0.0, _proposal(r, criterion, ai, manager, kind))


def _anchor(criteria: list[dict[str, Any]], ai: float, manager: int) -> str | None:
    """The criterion an overall disagreement is anchored on: of those the AI scored, the one
    furthest from the manager's overall score in the direction the AI erred."""
    sign = 1 if ai > manager else -1
    scored = [
        (sign * (float(c["score"]) - manager), str(c["criterion_id"]))
        for c in criteria
        if c.get("score") is not None and c.get("evidence")
    ]
    best = max(scored, default=None)
    return best[1] if best is not None and best[0] > 0 else None


def _proposal(r: Row, criterion: str, ai: float | None, manager: int, kind: Kind) -> Proposal:
    evidence = next(
        (
            c.get("evidence") or []
            for c in r["criteria"] or []
            if c.get("criterion_id") == criterion
        ),
        [],
    )
    excerpt = _short(evidence[0]["quote"], MAX_EXCERPT) if evidence else ""
    note = (r["note"] or "").strip()
    reason = note or _said(ai, manager)
    if kind == "overall":
        reason = f"overall {manager}: {reason}" if note else _said(ai, manager, "overall")
    return Proposal(
        r["call_id"], r["dimension"], criterion, ai, manager, excerpt, _short(reason, 300), kind
    )


def _said(ai: float | None, manager: int | None, what: str = "") -> str:
    theirs = "N/A" if manager is None else str(manager)
    mine = "N/A" if ai is None else f"{ai:.1f}"
    prefix = f"{what}: " if what else ""
    return f"{prefix}the manager scored {theirs}, the AI {mine}"


def write_candidate(
    live_dir: Path, out_dir: Path, proposals: list[Proposal], per_criterion: int = 2
) -> dict[str, str]:
    """Copy the live rubrics to `out_dir` and add the examples, bumping each changed rubric's
    minor version; returns {dimension: new version}."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    shutil.copytree(live_dir, out_dir)
    by_dimension: dict[str, list[Proposal]] = {}
    for p in proposals:
        by_dimension.setdefault(p.dimension, []).append(p)
    bumped = {}
    for dimension, items in by_dimension.items():
        path = out_dir / f"{dimension}.yaml"
        data: dict[str, Any] = yaml.safe_load(path.read_text())
        changed = False
        for criterion in data["criteria"]:
            examples = criterion.setdefault("examples", [])
            for p in items:
                if p.criterion != criterion["id"] or len(examples) >= per_criterion:
                    continue
                if any(e["excerpt"] == p.excerpt for e in examples):
                    continue
                examples.append(
                    {"excerpt": p.excerpt, "score": p.manager_score, "reason": p.reason}
                )
                changed = True
            if not examples:
                del criterion["examples"]
        if changed:
            major, minor, _ = (int(x) for x in data["version"].split("."))
            data["version"] = f"{major}.{minor + 1}.0"
            path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))
            bumped[dimension] = data["version"]
    return bumped


def calibrate(
    conn: psycopg.Connection[Row], live_dir: Path, out_dir: Path, min_gap: int = 2
) -> Calibration:
    found = findings(conn, min_gap)
    result = Calibration(
        str(out_dir),
        found.proposals,
        found.skipped,
        counts=found.counts,
        not_applicable=found.not_applicable,
    )
    result.bumped = write_candidate(live_dir, out_dir, found.proposals)
    return result


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
