"""Manager scorecards for the sample calls, as Gong's API returns them (for the stand-in).

One company scorecard ("Sales call review") with a question per rubric criterion, an overall
question per dimension, and one question nobody has mapped yet. As in Gong's spec, every id
here is an int64 number (most above 2^53, so a float would change them). Most questions are
scored 1-5; one is scored 1-10 (engagement's energy and rapport) and two are yes/no questions
with answer options (objections' confirm resolution, and the unmapped one). Maya Chen (2002)
reviews every sample call; Alex Kim (2001, RevOps) reviews some of them too, so human-to-human
agreement can be measured. Scores are drawn from a seeded generator near a per-call level,
with the odd "not applicable".
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from local.samples import sample_calls

SCORECARD_ID = 6843152929075440037
QUESTION_BASE = 8172645300000000000  # question (d, c) is QUESTION_BASE + 100 * d + c
REVISION_BASE = 4395522475321100000
ANSWERED_BASE = 5000000000000000000  # + call id * 10,000 + reviewer id
CRITERIA = {
    "discovery": ["open_questions", "pain_and_impact", "decision_process", "listening"],
    "product_knowledge": ["accuracy", "relevance", "differentiation", "technical_depth"],
    "objections": [
        "acknowledge_and_clarify",
        "substantive_response",
        "confirm_resolution",
        "next_steps",
    ],
    "engagement": ["interactivity", "patience", "agenda_control", "energy_and_rapport"],
}


def question_id(d: int, c: int) -> int:
    """Dimension d (1-4, in CRITERIA's order), criterion c (1-4; 0 for the overall question)."""
    return QUESTION_BASE + 100 * d + c


UNMAPPED = (str(question_id(9, 0)), "Did the rep log the call in the CRM the same day?")
ONE_TO_TEN = question_id(4, 4)  # engagement: energy and rapport, scored 1-10
YES_NO = question_id(3, 3)  # objections: confirm resolution, a yes/no question
YES, NO = 1, 2  # the yes/no questions' option ids


def questions() -> list[dict[str, Any]]:
    out = []
    for d, (dimension, criteria) in enumerate(CRITERIA.items(), start=1):
        for c, criterion in enumerate(criteria, start=1):
            text = f"{dimension.replace('_', ' ').title()}: {criterion.replace('_', ' ')}"
            out.append(_question(question_id(d, c), text, False))
        out.append(_question(question_id(d, 0), f"{dimension.title()} overall", True))
    out.append(_question(int(UNMAPPED[0]), UNMAPPED[1], False))
    return out


def _question(qid: int, text: str, overall: bool) -> dict[str, Any]:
    question: dict[str, Any] = {
        "questionId": qid,
        "questionRevisionId": REVISION_BASE + qid - QUESTION_BASE,
        "questionText": text,
        "isOverall": overall,
    }
    if qid in (YES_NO, int(UNMAPPED[0])):
        options = [{"id": YES, "text": "Yes"}, {"id": NO, "text": "No"}]
        return {**question, "questionType": "YES_NO", "answerOptions": options}
    high = 10 if qid == ONE_TO_TEN else 5
    return {**question, "questionType": "RANGE", "minRange": 1, "maxRange": high}


def scorecards() -> list[dict[str, Any]]:
    """GET /v2/settings/scorecards."""
    return [
        {
            "scorecardId": SCORECARD_ID,
            "scorecardName": "Sales call review",
            "enabled": True,
            "reviewMethod": "MANUAL",
            "questions": questions(),
        }
    ]


def answered_scorecards(seed: int = 11) -> list[dict[str, Any]]:
    """What POST /v2/stats/activity/scorecards returns for the sample calls."""
    rng = random.Random(seed)
    out = []
    for i, sample in enumerate(sample_calls()):
        meta = sample["call"]["metaData"]
        level = rng.randint(2, 4)
        reviewers = ["2002", "2001"] if i % 2 == 0 else ["2002"]
        for r, reviewer in enumerate(reviewers):
            review_time = (_started(meta) + timedelta(days=1 + r)).isoformat()
            answers = []
            for q in questions():
                na = str(q["questionId"]) != UNMAPPED[0] and rng.random() < 0.05
                score = max(1, min(5, level + rng.choice([-1, 0, 0, 1])))
                answers.append(_answer(q, None if na else score, rng))
            out.append(
                {
                    "answeredScorecardId": ANSWERED_BASE + int(meta["id"]) * 10_000 + int(reviewer),
                    "scorecardId": SCORECARD_ID,
                    "scorecardName": "Sales call review",
                    "callId": int(meta["id"]),
                    "callStartTime": meta["started"],
                    "reviewTime": review_time,
                    "reviewedUserId": int(meta["primaryUserId"]),
                    "reviewerUserId": int(reviewer),
                    "reviewMethod": "MANUAL",
                    "visibilityType": "PUBLIC",
                    "answers": answers,
                }
            )
    return out


def _answer(question: dict[str, Any], score: int | None, rng: random.Random) -> dict[str, Any]:
    """An answer on the question's own scale from a 1-5 score (None: not applicable); absent
    fields are left out, as Gong does."""
    answer = {
        "questionId": question["questionId"],
        "questionRevisionId": question["questionRevisionId"],
        "isOverall": question["isOverall"],
        "notApplicable": score is None,
    }
    if score is None:
        return answer
    if "answerOptions" in question:
        return {**answer, "selectedOptions": [str(YES if score >= 3 else NO)]}
    if question["maxRange"] == 10:
        score = max(1, 2 * score - rng.choice([0, 1]))
    return {**answer, "score": score}


def _started(meta: dict[str, Any]) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(meta["started"])
