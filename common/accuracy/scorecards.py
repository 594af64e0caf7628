"""Manager scores from Gong scorecards: the mapping file, the import, and what is unmapped.

Managers answer scorecards in Gong (1-5 per question, or not applicable). The mapping file
`rubrics/gong_scorecards.yaml` says which question stands for which (dimension, criterion) of
our rubrics, or a dimension's `overall`. The import reads answered scorecards by review date
(incrementally, one request per page of 100) and stores each mapped answer once in
`manager_scores` (unique on answered scorecard and question), next to the AI's scores, never
over them. Unmapped questions are counted so an admin can add them to the mapping.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import yaml
from pydantic import BaseModel, ValidationError

from common.config import DIMENSIONS
from common.db import Row
from common.errors import RubricError
from common.gong import GongClient, Scorecard
from common.rubrics import RubricSet

MAPPING_FILE = "gong_scorecards.yaml"


class Target(BaseModel):
    dimension: str
    criterion: str


class ScorecardMapping(BaseModel):
    questions: dict[str, Target] = {}

    @classmethod
    def load(cls, path: Path, rubrics: RubricSet) -> ScorecardMapping:
        """The mapping, checked against the rubrics (RubricError names a wrong entry)."""
        if not path.exists():
            return cls()
        try:
            mapping = cls.model_validate(yaml.safe_load(path.read_text()) or {})
        except (ValidationError, yaml.YAMLError) as exc:
            raise RubricError(f"{path}: {exc}") from None
        for qid, t in mapping.questions.items():
            if t.dimension not in DIMENSIONS:
                raise RubricError(f"{path}: {qid}: unknown dimension {t.dimension!r}")
            criteria = {c.id for c in rubrics.rubrics[t.dimension].criteria} | {"overall"}
            if t.criterion not in criteria:
                raise RubricError(
                    f"{path}: {qid}: {t.dimension} has no criterion {t.criterion!r}"
                    f" (use one of {sorted(criteria)})"
                )
        return mapping


def describe(scorecards: list[Scorecard], mapping: ScorecardMapping) -> list[dict[str, Any]]:
    """Every scorecard question with its mapping, or UNMAPPED, for `sales-coach scorecards`."""
    return [
        {
            "scorecard_id": card.scorecardId,
            "name": card.scorecardName,
            "questions": [
                {
                    "question_id": q.questionId,
                    "text": q.questionText,
                    "overall": q.isOverall,
                    "maps_to": (
                        f"{t.dimension}.{t.criterion}"
                        if (t := mapping.questions.get(q.questionId))
                        else "UNMAPPED"
                    ),
                }
                for q in card.questions
            ],
        }
        for card in scorecards
    ]


@dataclass
class ImportReport:
    review_from: date
    review_to: date
    answered_scorecards: int = 0
    imported: int = 0
    already_imported: int = 0
    not_applicable: int = 0
    unmapped: dict[str, int] = field(default_factory=dict)


def import_answers(
    conn: psycopg.Connection[Row],
    gong: GongClient,
    mapping: ScorecardMapping,
    rubrics: RubricSet,
    review_from: date,
    review_to: date,
) -> ImportReport:
    """Answered scorecards reviewed in [review_from, review_to) into manager_scores, once."""
    report = ImportReport(review_from, review_to)
    unmapped: Counter[str] = Counter()
    for card in gong.answered_scorecards(
        reviewFromDate=review_from.isoformat(), reviewToDate=review_to.isoformat()
    ):
        report.answered_scorecards += 1
        for answer in card.answers:
            target = mapping.questions.get(answer.questionId)
            if target is None:
                unmapped[answer.questionId] += 1
                continue
            na = answer.notApplicable or answer.score is None
            inserted = conn.execute(
                """
                INSERT INTO manager_scores (call_id, rep_id, reviewer_id, dimension, criterion,
                    score, not_applicable, note, source, source_ref, rubric_version, scored_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'gong', %s, %s, %s)
                ON CONFLICT (source, source_ref) DO NOTHING
                """,
                (
                    card.callId,
                    card.reviewedUserId,
                    card.reviewerUserId,
                    target.dimension,
                    target.criterion,
                    None if na else answer.score,
                    na,
                    answer.answerText,
                    f"{card.answeredScorecardId}:{answer.questionId}",
                    rubrics.rubric_version(target.dimension),
                    card.reviewTime,
                ),
            ).rowcount
            report.imported += inserted
            report.already_imported += 1 - inserted
            report.not_applicable += int(na and bool(inserted))
    report.unmapped = dict(unmapped)
    return report


def incremental_window(conn: psycopg.Connection[Row], today: date) -> tuple[date, date]:
    """From the day before the newest imported review (reviews land late) to tomorrow;
    the last 30 days on a first import."""
    row = conn.execute(
        "SELECT max(scored_at)::date AS last FROM manager_scores WHERE source = 'gong'"
    ).fetchone()
    last = row["last"] if row else None
    start = last - timedelta(days=1) if last else today - timedelta(days=30)
    return start, today + timedelta(days=1)
