"""Calibration: where managers and the AI disagree by two points or more, propose anchored
examples for the rubric, written into a candidate rubric folder with bumped versions.

Each example is the AI's own grounded evidence quote for the criterion (an excerpt of the
transcript), the manager's score and the manager's reason. Examples are short (they go into
the cached prompt prefix) and few (at most `per_criterion`). The candidate is a full copy of
`rubrics/`, ready for `sales-coach eval --rubrics DIR`; nothing live changes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import yaml

from common.db import Row

MAX_EXCERPT = 240


@dataclass(frozen=True)
class Proposal:
    call_id: str
    dimension: str
    criterion: str
    ai_score: float
    manager_score: int
    excerpt: str
    reason: str


@dataclass
class Calibration:
    out_dir: str
    proposals: list[Proposal] = field(default_factory=list)
    skipped_without_excerpt: int = 0
    bumped: dict[str, str] = field(default_factory=dict)  # dimension -> new version


def disagreements(conn: psycopg.Connection[Row], min_gap: int = 2) -> tuple[list[Proposal], int]:
    """Criterion scores at least `min_gap` apart, with the AI's first evidence quote."""
    rows = conn.execute(
        """
        SELECT m.call_id, m.dimension, m.criterion, m.score, m.note, c AS ai
        FROM manager_scores m
        JOIN current_sessions s ON s.call_id = m.call_id AND s.dimension = m.dimension
        CROSS JOIN LATERAL jsonb_array_elements(s.result -> 'criteria') c
        WHERE NOT m.not_applicable AND m.criterion <> 'overall'
          AND c ->> 'criterion_id' = m.criterion
          AND abs(floor((c ->> 'score')::numeric + 0.5) - m.score) >= %s
        ORDER BY abs((c ->> 'score')::numeric - m.score) DESC, m.scored_at DESC
        """,
        (min_gap,),
    ).fetchall()
    proposals, skipped = [], 0
    for r in rows:
        evidence = r["ai"].get("evidence") or []
        if not evidence:
            skipped += 1
            continue
        ai = float(r["ai"]["score"])
        reason = (r["note"] or "").strip() or f"the manager scored {r['score']}, the AI {ai:.1f}"
        proposals.append(
            Proposal(
                r["call_id"],
                r["dimension"],
                r["criterion"],
                ai,
                int(r["score"]),
                _short(evidence[0]["quote"], MAX_EXCERPT),
                _short(reason, 300),
            )
        )
    return proposals, skipped


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
    proposals, skipped = disagreements(conn, min_gap)
    result = Calibration(str(out_dir), proposals, skipped)
    result.bumped = write_candidate(live_dir, out_dir, proposals)
    return result


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
