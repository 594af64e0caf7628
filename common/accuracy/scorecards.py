"""Manager scores from Gong scorecards: the mapping file, the import, and what is unmapped.

Managers answer scorecards in Gong, each question on its own scale (1-5, 1-10, yes/no, ...) or
not applicable. The mapping file `rubrics/gong_scorecards.yaml` says which question (by Gong's
numeric id, written as a number or a string) stands for which (dimension, criterion) of our
rubrics, or a dimension's `overall`, and what each option of a select question is worth on 1-5.
Each answer is put on the rubric's 1-5 by its question's scale from Gong's settings (scales.py);
an answer that cannot be is counted as unmapped with its reason, and skipped. The import reads
answered scorecards by review date (incrementally, one request per page of 100) and stores
each mapped answer once in `manager_scores` (unique on answered scorecard and question), next
to the AI's scores, never over them. Unmapped questions are counted so an admin can add them
to the mapping.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import psycopg
import yaml
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, field_validator

from common.accuracy import manager_scores
from common.accuracy.scales import Scale, Unmapped, read_scale
from common.config import DIMENSIONS
from common.db import Row
from common.errors import RubricError
from common.gong import AnsweredScorecard, GongClient, Scorecard, ScorecardAnswer
from common.rubrics import RubricSet

MAPPING_FILE = "gong_scorecards.yaml"


class Target(BaseModel):
    """A question's place in the rubrics; for a select question (yes/no, single choice) the 1-5
    value of each option, by its text (any case) or its id: `options: {"Yes": 5, "No": 1}`."""

    model_config = ConfigDict(extra="forbid")

    dimension: str
    criterion: str
    options: dict[str, int] = {}

    @field_validator("options", mode="before")
    @classmethod
    def _option_keys(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        keys = [_option_key(k) for k in value]
        if len(set(keys)) < len(keys):
            raise ValueError(f"options named twice: {list(value)}")
        return dict(zip(keys, value.values(), strict=True))

    @field_validator("options")
    @classmethod
    def _one_to_five(cls, value: dict[str, int]) -> dict[str, int]:
        wrong = {k: v for k, v in value.items() if not 1 <= v <= 5}
        if wrong:
            raise ValueError(f"option values are 1-5: {wrong}")
        return value


def _option_key(key: Any) -> str:
    """YAML 1.1 reads a bare Yes/No as a boolean: it stands for the option named so."""
    if isinstance(key, bool):
        return "yes" if key else "no"
    return str(key).strip().lower()


def _question_id(key: Any) -> str:
    """Gong's question ids are int64 numbers: written bare (YAML reads them as exact integers)
    or quoted. A float (its digits already rounded), a boolean or other text is no id."""
    text = str(key).strip()
    if isinstance(key, bool | float) or not (text.isascii() and text.isdigit()):
        raise ValueError(f"question id {key!r}: write the id's digits, bare or in quotes")
    return text


class ScorecardMapping(BaseModel):
    questions: dict[str, Target] = {}
    # each question's scale once read from Gong's settings (`with_scales`), by question id
    _scales: dict[str, Scale | Unmapped] | None = PrivateAttr(default=None)

    @field_validator("questions", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        ids = [_question_id(k) for k in value]
        if len(set(ids)) < len(ids):
            raise ValueError(f"a question is mapped twice: {sorted(ids)}")
        return dict(zip(ids, value.values(), strict=True))

    def with_scales(self, scorecards: list[Scorecard]) -> ScorecardMapping:
        """This mapping with every mapped question's scale read from Gong's settings."""
        mapped = self.model_copy()
        mapped._scales = {
            q.questionId: read_scale(q, target.options)
            for card in scorecards
            for q in card.questions
            if (target := self.questions.get(q.questionId)) is not None
        }
        return mapped

    def scale(self, question_id: str) -> Scale | Unmapped:
        if self._scales is None:
            return Unmapped("Gong's scorecard settings were not read")
        return self._scales.get(question_id) or Unmapped("not in Gong's scorecard settings")

    def rubric_score(self, answer: ScorecardAnswer) -> int | Unmapped | None:
        """The answer on 1-5; None when not applicable (or not answered)."""
        if answer.notApplicable:
            return None
        scale = self.scale(answer.questionId)
        if isinstance(scale, Unmapped):
            return scale
        if answer.score is None and not answer.selectedOptions:
            return None
        return scale.rubric_score(answer)

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
                    **_scale_text(read_scale(q, t.options if t else {})),
                }
                for q in card.questions
            ],
        }
        for card in scorecards
    ]


def _scale_text(scale: Scale | Unmapped) -> dict[str, str | None]:
    if isinstance(scale, Unmapped):
        return {"scale": None, "problem": scale.reason}
    return {"scale": scale.describe(), "problem": None}


PAGE_CARDS = 100  # answered scorecards per transaction (one Gong page)


@dataclass
class ImportReport:
    review_from: date
    review_to: date
    answered_scorecards: int = 0
    imported: int = 0
    already_imported: int = 0
    not_applicable: int = 0
    unmapped: dict[str, int] = field(default_factory=dict)
    skipped_scorecards: dict[str, int] = field(default_factory=dict)  # unreadable, by reason
    pages: int = 0  # committed, each in its own transaction
    resumed_after_page: int | None = None  # an earlier run of this window stopped there


def import_answers(
    conn: psycopg.Connection[Row],
    gong: GongClient,
    mapping: ScorecardMapping,
    rubrics: RubricSet,
    review_from: date,
    review_to: date,
    page_cards: int = PAGE_CARDS,
) -> ImportReport:
    """Answered scorecards reviewed in [review_from, review_to) into manager_scores, once.

    `page_cards` scorecards at a time, each page in its own transaction on `conn` (which must
    be outside any transaction) with the window's progress, so a window of any size fits the
    lock table, and a run that stops part-way is continued by the next run of the window
    (`incremental_window` offers it first) after its last committed page. Gong is read again
    from the window's start (no cursor is kept, and a late review may shift Gong's order): a
    committed page comes again as a no-op write, counted only if it stores something new.
    """
    window = f"{review_from.isoformat()}/{review_to.isoformat()}"
    manager_scores.require_idle(conn)
    with conn.transaction():
        progress = manager_scores.begin_import(conn, "gong", window)
    report = ImportReport(review_from, review_to, **progress.totals)
    report.pages = progress.pages
    report.resumed_after_page = progress.pages if progress.resumed else None
    read = 0
    invalid: Counter[str] = Counter()  # scorecards Gong sent that we cannot read
    mapping = mapping.with_scales(gong.scorecards(invalid=invalid))
    cards = gong.answered_scorecards(
        invalid=invalid, reviewFromDate=review_from.isoformat(), reviewToDate=review_to.isoformat()
    )
    while page := list(islice(cards, page_cards)):
        read += len(page)
        with conn.transaction():
            unmapped: Counter[str] = Counter()
            rows = [row for card in page for row in _rows(card, mapping, rubrics, unmapped)]
            stored = manager_scores.store(conn, rows, replace=False)
            report.imported += stored.written
            if read <= progress.position:  # committed before: only something new counts
                continue
            report.answered_scorecards += len(page)
            report.already_imported += len(rows) - stored.written
            report.not_applicable += stored.not_applicable
            report.unmapped = dict(Counter(report.unmapped) + unmapped)
            report.pages += 1
            progress.pages, progress.position = report.pages, read
            progress.totals = _totals(report)
            manager_scores.page_done(conn, progress)
    report.skipped_scorecards = dict(invalid)
    with conn.transaction():
        manager_scores.finish_import(conn, progress)
    return report


def _rows(
    card: AnsweredScorecard, mapping: ScorecardMapping, rubrics: RubricSet, unmapped: Counter[str]
) -> list[manager_scores.ScoreRow]:
    """The card's mapped answers as manager scores on 1-5; its unmapped questions counted, and
    its answers that cannot be put on 1-5 counted as "<question id>: <reason>" and skipped."""
    rows = []
    for answer in card.answers:
        target = mapping.questions.get(answer.questionId)
        if target is None:
            unmapped[answer.questionId] += 1
            continue
        score = mapping.rubric_score(answer)
        if isinstance(score, Unmapped):
            unmapped[f"{answer.questionId}: {score.reason}"] += 1
            continue
        rows.append(
            manager_scores.ScoreRow(
                call_id=card.callId,
                rep_id=card.reviewedUserId,
                reviewer_id=card.reviewerUserId,
                dimension=target.dimension,
                criterion=target.criterion,
                score=score,
                note=answer.answerText,
                source="gong",
                source_ref=f"{card.answeredScorecardId}:{answer.questionId}",
                rubric_version=rubrics.rubric_version(target.dimension),
                scored_at=card.reviewTime,
            )
        )
    return rows


def _totals(report: ImportReport) -> dict[str, Any]:
    """The counts a resumed run starts from."""
    return {
        "answered_scorecards": report.answered_scorecards,
        "imported": report.imported,
        "already_imported": report.already_imported,
        "not_applicable": report.not_applicable,
        "unmapped": report.unmapped,
    }


def incremental_window(conn: psycopg.Connection[Row], today: date) -> tuple[date, date]:
    """A window an earlier run left part-way, oldest first; else from the day before the
    newest imported review (reviews land late) to tomorrow, the last 30 days on a first
    import."""
    unfinished = manager_scores.unfinished_imports(conn, "gong")
    if unfinished:
        start_text, end_text = unfinished[0].split("/")
        return date.fromisoformat(start_text), date.fromisoformat(end_text)
    row = conn.execute(
        "SELECT max(scored_at)::date AS last FROM manager_scores WHERE source = 'gong'"
    ).fetchone()
    last = row["last"] if row else None
    start = last - timedelta(days=1) if last else today - timedelta(days=30)
    return start, today + timedelta(days=1)
