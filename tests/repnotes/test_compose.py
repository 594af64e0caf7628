"""The note is written from the rubric, the shown scores and their evidence: two or three
sentences, one action, the moment that matters most with its link; praise for a clear
improvement (and none in a world where nothing improved); one focus for a rep with many low
scores, kept until it improves."""

from __future__ import annotations

import random
import re

from common.config import ROOT
from common.repnotes.compose import CallFacts, Moment, Shown, compose
from common.rubrics import Criterion, load

RUBRICS = load(ROOT / "rubrics")
RUBRIC: dict[str, Criterion] = {
    f"{d}.{c.id}": c for d, r in RUBRICS.rubrics.items() for c in r.criteria
}
URL = "https://app.gong.io/call?id=42"


def shown(key: str, score: float, at: int = 100) -> Shown:
    dimension, criterion = key.split(".")
    return Shown(
        dimension=dimension,
        criterion_id=criterion,
        name=RUBRIC[key].name,
        weight=RUBRIC[key].weight,
        score=score,
        evidence=[
            Moment(
                quote=f"quote of {key}",
                timestamp=f"{at // 60:02d}:{at % 60:02d}",
                link=f"{URL}&t={at}",
                said_by="rep",
            )
        ],
    )


def call(scores: dict[str, float]) -> CallFacts:
    return CallFacts(
        call_id="42",
        rep_id="u-a",
        title="Acme discovery",
        url=URL,
        started_at=None,
        criteria=[shown(k, v, 60 + 10 * i) for i, (k, v) in enumerate(scores.items())],
    )


def every(score: float) -> dict[str, float]:
    return dict.fromkeys(RUBRIC, score)


def names_in(text: str) -> set[str]:
    return {key for key, c in RUBRIC.items() if c.name in text}


def test_two_or_three_sentences_one_action_and_the_moment() -> None:
    scores = every(3.5) | {"discovery.pain_and_impact": 2.0, "engagement.patience": 4.5}
    note = compose(call(scores), {}, RUBRIC)
    assert note is not None
    assert 2 <= len(note.sentences) <= 3 and all(s.endswith(".") for s in note.sentences)
    assert note.focus == "discovery.pain_and_impact"
    pain = RUBRIC["discovery.pain_and_impact"]
    assert note.moment_link == f"{URL}&t={60 + 10 * list(scores).index(note.focus)}"
    assert note.moment_at and note.moment_at in note.body
    assert '"quote of discovery.pain_and_impact"' in note.body
    assert pain.levels[1].strip() in note.body  # what the rubric says a 2 reads as
    assert note.action.count(".") == 1 and pain.levels[5].strip() in note.action
    assert "Patience" in note.sentences[0] and "went well" in note.sentences[0]
    assert note.praise is None  # no history: nothing is called an improvement


def test_a_clear_improvement_is_praised() -> None:
    history = {k: [3.0] * 5 for k in RUBRIC} | {"discovery.open_questions": [2.0, 2.5, 2.0, 1.5]}
    scores = every(3.0) | {"discovery.open_questions": 4.0, "objections.next_steps": 2.0}
    note = compose(call(scores), history, RUBRIC)
    assert note is not None and note.praise == "discovery.open_questions"
    assert note.sentences[0].startswith("Clear progress on Open, layered questions: 4/5")
    assert "average of 2.0 over your previous 4 calls" in note.sentences[0]
    assert note.focus == "objections.next_steps"


def test_no_improvement_is_claimed_where_there_is_none() -> None:
    """A null world: every call drawn around the same level; a one-point rise against fewer
    than three earlier calls is no evidence either."""
    rng = random.Random(7)
    for _ in range(200):
        level = rng.uniform(1.5, 4.5)
        history = {k: [level + rng.uniform(-0.4, 0.4) for _ in range(5)] for k in RUBRIC}
        scores = {k: level + rng.uniform(-0.4, 0.4) for k in RUBRIC}
        note = compose(call(scores), history, RUBRIC)
        assert note is not None and note.praise is None and "progress" not in note.body
    short = {"discovery.open_questions": [1.0, 1.0]}
    note = compose(call(every(3.0) | {"discovery.open_questions": 5.0}), short, RUBRIC)
    assert note is not None and note.praise is None


def test_many_low_scores_get_one_focus() -> None:
    scores = every(1.5) | {"engagement.energy_and_rapport": 4.0}
    note = compose(call(scores), {}, RUBRIC)
    assert note is not None
    low_named = names_in(note.body + " " + note.action) - {"engagement.energy_and_rapport"}
    assert low_named == {note.focus}  # one low criterion named, not a list
    assert len(re.findall(r"\d\d:\d\d", note.body)) == 1  # one moment


def test_the_focus_stays_until_it_improves() -> None:
    low = every(2.0) | {"objections.next_steps": 1.0, "discovery.listening": 2.5}
    first = compose(call(low), {}, RUBRIC)
    assert first is not None and first.focus != "discovery.listening"
    kept = compose(call(low), {}, RUBRIC, previous_focus="discovery.listening")
    assert kept is not None and kept.focus == "discovery.listening"
    assert "Your focus stays on Listening and summarising" in kept.body
    better = low | {"discovery.listening": 3.5}
    moved = compose(call(better), {}, RUBRIC, previous_focus="discovery.listening")
    assert moved is not None and moved.focus == first.focus


def test_nothing_shown_is_no_note() -> None:
    assert compose(call({}), {}, RUBRIC) is None
