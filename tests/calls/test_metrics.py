from __future__ import annotations

from common.calls.metrics import compute
from common.calls.transcript import Speaker, Utterance

REP = Speaker("1", "Rep", "AE", True)
BUYER = Speaker("2", "Buyer", "CFO", False)


def utt(speaker: Speaker, start_s: float, end_s: float, *sentences: str) -> Utterance:
    return Utterance(speaker, int(start_s * 1000), int(end_s * 1000), sentences)


def test_metrics_from_a_known_conversation() -> None:
    m = compute(
        [
            utt(REP, 0, 10, "Hi there, thanks for joining.", "What brings you here?"),
            utt(BUYER, 12, 42, "We have a problem with reporting."),
            utt(REP, 44, 50, "How long has that been going on?"),
            utt(BUYER, 51, 61, "About a year."),
            utt(BUYER, 61, 71, "It costs us a lot."),
            utt(REP, 72.5, 80, "Let me show you."),
        ]
    )
    assert m.talk_ratio_rep == round(23.5 / 73.5, 3)
    assert m.rep_questions == 2
    assert m.longest_monologue_s == 30 and m.longest_monologue_speaker == "Buyer"
    assert m.longest_customer_story_s == 30
    assert m.patience_s == 1.75  # pauses of 2 s and 1.5 s before the rep answered
    assert m.interactivity_switches_per_min == 3.0  # 4 switches in 80 s
    assert m.rep_words_per_minute == round(20 / (23.5 / 60), 1)
    assert "Talk ratio rep:customer 32:68" in m.as_facts()


def test_empty_transcript() -> None:
    assert compute([]).talk_ratio_rep == 0
