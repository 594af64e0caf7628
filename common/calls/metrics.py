"""Conversation metrics computed from the transcript alone (no LLM).

They are stored with the call and given to the engagement and discovery prompts as facts.
"Rep" means the internal speakers; "customer" the external ones.

Speaking pace is counted in the unit the rep's language is measured in: words where words are
written apart, characters in scripts written without spaces (Japanese, Chinese, Thai), where a
whitespace-split "word" is a whole sentence. Each is stated with its own language's norm, so
the model never holds characters (or German words) to the English words-per-minute figure.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from common.calls.transcript import Utterance, _unspaced

# Part of the scoring version (`prompts.scoring_version`): bump when what `compute` measures or
# how it counts changes, so a release that changes the facts re-scores.
# 1: the rep's pace in whitespace-split words per minute, whatever the language.
# 2: pace in characters per minute for scripts without spaces, measured on the rep's turns in
#    their main script, with the norm of the call's language.
FACTS_VERSION = 2

PaceUnit = Literal["words", "characters"]


@dataclass(frozen=True)
class PaceNorm:
    name: str  # the language's English name, as the prompt says it
    unit: PaceUnit
    comfortable: tuple[int, int] | None = None  # per minute, in `unit`; None: none known


# Comfortable speaking pace per language, keyed by ISO 639-2/B, the code Gong's
# `metaData.language` carries (its spec: "eng, fre, spa, ger").
# - English 140-170 words/min: the engagement rubric's own figure; the National Center for
#   Voice and Speech puts US English conversation at about 150 wpm.
# - German 100-130 words/min: German Wikipedia ("Sprechtempo") gives 90-120 words a minute as
#   the reference range for a German speaker; Graf-Stuhlhofer counts 120 spoken words a minute,
#   and measured sermons ran 100-160 (mean just over 120). German words are longer than English
#   ones, so the same tempo is fewer words.
# - Japanese 300-400 characters/min: NHK holds about 300 characters a minute the most
#   understandable pace (Kaori Yano, former NHK announcer, "NHK式+心理学 一分で一生の信頼を勝ち
#   取る法"); commercial broadcasters write news for about 350, and 400 is the fast end
#   (talkrescue.jp, a former radio announcer's training notes). Those are counted as Japanese
#   字数 are, every written character including punctuation, and so are ours.
# - Chinese (Mandarin) 200-270 characters/min: reading Putonghua at a medium speed is about 200
#   a minute; CCTV's 新闻和报纸摘要 is read at 250-270 a minute in recent years.
# Other languages: the unit their script needs, and no norm (the facts say none is known).
NORMS: dict[str, PaceNorm] = {
    "eng": PaceNorm("English", "words", (140, 170)),
    "ger": PaceNorm("German", "words", (100, 130)),
    "jpn": PaceNorm("Japanese", "characters", (300, 400)),
    "chi": PaceNorm("Chinese", "characters", (200, 270)),
    "tha": PaceNorm("Thai", "characters"),
    "lao": PaceNorm("Lao", "characters"),
    "bur": PaceNorm("Burmese", "characters"),
    "khm": PaceNorm("Khmer", "characters"),
    "kor": PaceNorm("Korean", "words"),  # Hangul is written with spaces between words
    "fre": PaceNorm("French", "words"),
    "spa": PaceNorm("Spanish", "words"),
    "ita": PaceNorm("Italian", "words"),
    "por": PaceNorm("Portuguese", "words"),
    "dut": PaceNorm("Dutch", "words"),
}
# ISO 639-1 and 639-2/T codes (BCP-47 tags start with one) to the 639-2/B keys above.
_ALIASES = {
    "en": "eng", "de": "ger", "deu": "ger", "ja": "jpn", "zh": "chi", "zho": "chi",
    "cmn": "chi", "th": "tha", "lo": "lao", "my": "bur", "mya": "bur", "km": "khm",
    "ko": "kor", "fr": "fre", "fra": "fre", "es": "spa", "it": "ita", "pt": "por",
    "nl": "dut", "nld": "dut",
}  # fmt: skip
_NO_LANGUAGE = {"", "und", "zxx", "mul"}  # Gong: unsupported, not enough speech, several


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
    # Kept for reports and the demo: in scripts without spaces, word-equivalents (one per two
    # characters, as `transcript.word_count`); prompts use `rep_pace` in its own unit.
    rep_words_per_minute: float
    rep_pace: float = 0.0  # per minute in `pace_unit`, on the rep's turns in their main script
    pace_unit: PaceUnit = "words"
    pace_language: str | None = None  # ISO 639-2/B code of the call's language; None: unknown
    pace_share: float = 1.0  # share of the rep's speaking time the pace was measured on

    def pace_fact(self) -> str:
        """The pace, its unit and the norm that applies (the rubric's figure is English's)."""
        unit = f"{self.pace_unit}/min"
        norm = NORMS.get(self.pace_language or "")
        notes = [norm.name] if norm else []
        if self.pace_unit == "characters":
            notes.append("written without spaces, so counted in characters")
        if norm and norm.comfortable and self.pace_language == "eng":
            notes.append(f"comfortable: {norm.comfortable[0]}-{norm.comfortable[1]} {unit}")
        elif norm and norm.comfortable:
            low, high = norm.comfortable
            notes.append(f"comfortable for {norm.name}: {low}-{high} {unit}")
        else:
            notes.append("no pace norm is known for this language")
        text = f"- Rep speaking pace: {self.rep_pace:.0f} {unit} ({'; '.join(notes)})."
        if self.pace_share < 0.95:
            turns = f"{norm.name} turns" if norm else "turns in their main language"
            text += f" Measured on the rep's {turns}, {self.pace_share:.0%} of their speaking time."
        if self.pace_language != "eng":
            text += " The rubric's words-per-minute figure is for English: do not apply it."
        return text

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
                self.pace_fact(),
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


class _Pace(BaseModel):
    rep_words_per_minute: float
    rep_pace: float
    pace_unit: PaceUnit
    pace_language: str | None
    pace_share: float


def _script(text: str) -> PaceUnit:
    """Characters when most of the letters are of scripts written without spaces."""
    unspaced = sum(_unspaced(c) for c in text)
    spaced = sum(c.isalpha() for c in text) - unspaced
    return "characters" if unspaced > spaced else "words"


def _count(text: str, unit: PaceUnit) -> int:
    """Characters: every written one, punctuation included (as Japanese 字数 are counted; a
    product name in Latin letters by its letters).
    Words: split on whitespace as before (so English counts as it always did), a run of
    Japanese or Chinese inside a spaced sentence counted as one word per two characters."""
    if unit == "characters":
        return len("".join(text.split()))
    unspaced = sum(_unspaced(c) for c in text)
    spaced = "".join(" " if _unspaced(c) else c for c in text)
    return len(spaced.split()) + (unspaced + 1) // 2


def _pace(rep: list[Utterance], language: str | None) -> _Pace:
    """The rep's pace on their turns in their main script (by speaking time), in its unit;
    turns in another script (a Japanese greeting on an English call) are left out rather
    than counted in the wrong unit."""
    time = {"words": 0.0, "characters": 0.0}
    count = {"words": 0, "characters": 0}
    words = {"words": 0, "characters": 0}  # word-equivalents, whatever the unit
    text: dict[PaceUnit, list[str]] = {"words": [], "characters": []}
    for u in rep:
        unit = _script(u.text)
        time[unit] += (u.end_ms - u.start_ms) / 1000
        count[unit] += _count(u.text, unit)
        words[unit] += _count(u.text, "words")
        text[unit].append(u.text)
    main: PaceUnit = "characters" if time["characters"] > time["words"] else "words"
    total = time["words"] + time["characters"]
    minutes = time[main] / 60
    return _Pace(
        rep_words_per_minute=round(words[main] / minutes, 1) if minutes else 0.0,
        rep_pace=round(count[main] / minutes, 1) if minutes else 0.0,
        pace_unit=main,
        pace_language=_language(language, main, " ".join(text[main])),
        pace_share=round(time[main] / total, 3) if total else 1.0,
    )


def language_code(code: str | None) -> str | None:
    """Gong's ISO 639-2/B code, a 639-1 or 639-2/T one, or a BCP-47 tag, as a 639-2/B code."""
    primary = re.split(r"[-_]", (code or "").strip().lower())[0]
    if primary in _NO_LANGUAGE:
        return None
    return _ALIASES.get(primary, primary)


def _language(metadata: str | None, unit: PaceUnit, text: str) -> str | None:
    """The call's language as Gong gives it when its script agrees with the rep's main script;
    else (no metadata, or Gong's language is not the one the rep speaks) read from the text."""
    code = language_code(metadata)
    if code and (NORMS[code].unit if code in NORMS else "words") == unit:
        return code
    return _detect(text, unit)


_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_BY_SCRIPT = {
    "tha": re.compile(r"[\u0e00-\u0e7f]"),
    "lao": re.compile(r"[\u0e80-\u0eff]"),
    "bur": re.compile(r"[\u1000-\u109f]"),
    "khm": re.compile(r"[\u1780-\u17ff]"),
}
_STOPWORDS = {
    "eng": frozenset({
        "the", "and", "you", "we", "to", "is", "that", "it", "of", "what", "how", "for",
        "this", "our", "your", "are", "with", "can",
    }),
    "ger": frozenset({
        "der", "die", "das", "und", "ist", "nicht", "wir", "sie", "ich", "es", "ein", "eine",
        "wie", "was", "zu", "den", "mit", "auf", "für", "ihr",
    }),
}  # fmt: skip


def _detect(text: str, unit: PaceUnit) -> str | None:
    """Japanese by its kana, Chinese by Han characters without kana, Thai and its neighbours
    by their scripts; English or German by their commonest words; otherwise unknown."""
    if unit == "characters":
        if _KANA.search(text):
            return "jpn"
        found = [code for code, script in _BY_SCRIPT.items() if script.search(text)]
        return found[0] if found else ("chi" if _HAN.search(text) else None)
    tokens = re.findall(r"\w+", text.lower())
    hits = {code: sum(t in words for t in tokens) for code, words in _STOPWORDS.items()}
    best = max(hits, key=lambda code: hits[code])
    others = max(n for code, n in hits.items() if code != best)
    return best if hits[best] >= 3 and hits[best] >= 2 * others else None


def compute(utts: list[Utterance], language: str | None = None) -> ConversationMetrics:
    """`language`: the call's language as Gong gives it (`metaData.language`), if known; the
    pace's unit is read from the text either way."""
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
            pace_language=language_code(language),
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
    pace = _pace([u for u in utts if u.speaker.internal], language)
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
        **pace.model_dump(),
    )
