"""Manager scorecards for the sample calls, as Gong's API returns them (for the stand-in).

One company scorecard ("Sales call review") with a question per rubric criterion, an overall
question per dimension, and one question nobody has mapped yet. Maya Chen (2002) reviews
every sample call; Alex Kim (2001, RevOps) reviews some of them too, so human-to-human
agreement can be measured. Scores are drawn from a seeded generator near a per-call level,
with the odd "not applicable".
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from local.samples import sample_calls

SCORECARD_ID = "sc-100"
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
UNMAPPED = ("q-900", "Did the rep log the call in the CRM the same day?")


def questions() -> list[dict[str, Any]]:
    out = []
    for d, (dimension, criteria) in enumerate(CRITERIA.items()):
        for c, criterion in enumerate(criteria):
            text = f"{dimension.replace('_', ' ').title()}: {criterion.replace('_', ' ')}"
            out.append(_question(f"q-{d + 1}{c + 1:02d}", text, False))
        out.append(_question(f"q-{d + 1}00", f"{dimension.title()} overall", True))
    out.append(_question(UNMAPPED[0], UNMAPPED[1], False))
    return out


def _question(qid: str, text: str, overall: bool) -> dict[str, Any]:
    return {
        "questionId": qid,
        "questionRevisionId": f"{qid}-r1",
        "questionText": text,
        "isOverall": overall,
    }


def scorecards() -> list[dict[str, Any]]:
    """GET /v2/settings/scorecards."""
    return [
        {
            "scorecardId": SCORECARD_ID,
            "scorecardName": "Sales call review",
            "enabled": True,
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
                na = q["questionId"] != UNMAPPED[0] and rng.random() < 0.05
                score = None if na else max(1, min(5, level + rng.choice([-1, 0, 0, 1])))
                answers.append(
                    {
                        "questionId": q["questionId"],
                        "questionRevisionId": q["questionRevisionId"],
                        "isOverall": q["isOverall"],
                        "notApplicable": na,
                        "score": score,
                        "answerText": None,
                    }
                )
            out.append(
                {
                    "answeredScorecardId": f"as-{meta['id']}-{reviewer}",
                    "scorecardId": SCORECARD_ID,
                    "scorecardName": "Sales call review",
                    "callId": meta["id"],
                    "callStartTime": meta["started"],
                    "reviewTime": review_time,
                    "reviewedUserId": meta["primaryUserId"],
                    "reviewerUserId": reviewer,
                    "visibilityType": "public",
                    "answers": answers,
                }
            )
    return out


def _started(meta: dict[str, Any]) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(meta["started"])
