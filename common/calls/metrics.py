"""Conversation metrics computed from the transcript alone (no LLM).

They are stored with the call and given to the engagement and discovery prompts as facts.
"Rep" means the internal speakers; "customer" the external ones.
"""

from __future__ import annotations

import itertools

from pydantic import BaseModel

from common.calls.transcript import Utterance


class SpeakerShare(BaseModel):
    speaker: str
    internal: bool | None
    talk_share: float  # 0..1 of all speaking time


class ConversationMetrics(BaseModel):
    duration_s: float
    talk_ratio_rep: float  # rep share of speaking time, 0..1
    talk_by_speaker: list[SpeakerShare]
    longest_monologue_s: float
    longest_monologue_speaker: str | None
    longest_customer_story_s: float
    rep_questions: int
    interactivity_switches_per_min: float
    patience_s: float  # mean pause before the rep answers the customer
    rep_words_per_minute: float

    def as_facts(self) -> str:
        """A compact block for prompts."""
        rep_pct = round(self.talk_ratio_rep * 100)
        return "\n".join(
            [
                f"- Talk ratio rep:customer {rep_pct}:{100 - rep_pct} (benchmark ~43:57)",
                f"- Longest monologue: {self.longest_monologue_s:.0f}s"
                f" ({self.longest_monologue_speaker or 'n/a'})",
                f"- Longest customer story: {self.longest_customer_story_s:.0f}s",
                f"- Questions asked by the rep: {self.rep_questions} (discovery benchmark 11-14)",
                f"- Speaker switches per minute: {self.interactivity_switches_per_min:.1f}",
                f"- Mean pause before the rep answers: {self.patience_s:.2f}s",
                f"- Rep speaking pace: {self.rep_words_per_minute:.0f} words/min",
            ]
        )


def _turns(utts: list[Utterance]) -> list[tuple[Utterance, float]]:
    """Consecutive utterances of one speaker merged: (first utterance, duration in s)."""
    turns: list[tuple[Utterance, int, int]] = []
    for u in utts:
        if turns and turns[-1][0].speaker.id == u.speaker.id:
            first, start, _ = turns[-1]
            turns[-1] = (first, start, u.end_ms)
        else:
            turns.append((u, u.start_ms, u.end_ms))
    return [(first, (end - start) / 1000) for first, start, end in turns]


def compute(utts: list[Utterance]) -> ConversationMetrics:
    if not utts:
        return ConversationMetrics(
            duration_s=0,
            talk_ratio_rep=0,
            talk_by_speaker=[],
            longest_monologue_s=0,
            longest_monologue_speaker=None,
            longest_customer_story_s=0,
            rep_questions=0,
            interactivity_switches_per_min=0,
            patience_s=0,
            rep_words_per_minute=0,
        )
    talk: dict[str, float] = {}
    names: dict[str, tuple[str, bool | None]] = {}
    for u in utts:
        talk[u.speaker.id] = talk.get(u.speaker.id, 0.0) + (u.end_ms - u.start_ms) / 1000
        names[u.speaker.id] = (u.speaker.name, u.speaker.internal)
    total_talk = sum(talk.values()) or 1.0
    rep_talk = sum(t for sid, t in talk.items() if names[sid][1] is True)
    duration_s = (utts[-1].end_ms - utts[0].start_ms) / 1000 or 1.0

    turns = _turns(utts)
    longest = max(turns, key=lambda t: t[1])
    customer = [d for u, d in turns if u.speaker.internal is False]
    pauses = [
        max(0.0, (b.start_ms - a.end_ms) / 1000)
        for a, b in itertools.pairwise(utts)
        if a.speaker.internal is False and b.speaker.internal is True
    ]
    rep_words = sum(len(u.text.split()) for u in utts if u.speaker.internal)
    return ConversationMetrics(
        duration_s=round(duration_s, 1),
        talk_ratio_rep=round(rep_talk / total_talk, 3),
        talk_by_speaker=[
            SpeakerShare(
                speaker=names[sid][0], internal=names[sid][1], talk_share=round(t / total_talk, 3)
            )
            for sid, t in sorted(talk.items(), key=lambda kv: -kv[1])
        ],
        longest_monologue_s=round(longest[1], 1),
        longest_monologue_speaker=longest[0].speaker.name,
        longest_customer_story_s=round(max(customer, default=0.0), 1),
        rep_questions=sum(
            s.rstrip().endswith(("?", "\uff1f"))
            for u in utts
            if u.speaker.internal
            for s in u.sentences
        ),
        interactivity_switches_per_min=round((len(turns) - 1) / (duration_s / 60), 2),
        patience_s=round(sum(pauses) / len(pauses), 2) if pauses else 0.0,
        rep_words_per_minute=round(rep_words / (rep_talk / 60), 1) if rep_talk else 0.0,
    )
