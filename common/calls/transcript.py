"""Transcripts: speaker-attributed utterances, the canonical hash, and the prompt form."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass

from common.gong import CallTranscript, Party


@dataclass(frozen=True)
class Speaker:
    id: str
    name: str
    title: str | None
    internal: bool | None  # None when Gong does not know

    @property
    def label(self) -> str:
        side = {True: "internal", False: "external", None: "unknown"}[self.internal]
        role = f"{self.title}, {side}" if self.title else side
        return f"{self.name} ({role})"


@dataclass(frozen=True)
class Utterance:
    """One speaker turn (a Gong monologue): consecutive sentences of one speaker."""

    speaker: Speaker
    start_ms: int
    end_ms: int
    sentences: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)

    def line(self) -> str:
        return f"[{format_ts(self.start_ms)}] {self.speaker.label}: {self.text}"


def format_ts(ms: int) -> str:
    s = ms // 1000
    h, m, sec = s // 3600, (s % 3600) // 60, s % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def speakers_from_parties(parties: list[Party]) -> dict[str, Speaker]:
    out: dict[str, Speaker] = {}
    for p in parties:
        if not p.speakerId:
            continue
        internal = {"Internal": True, "External": False}.get(p.affiliation)
        out[p.speakerId] = Speaker(p.speakerId, p.name or "Unknown speaker", p.title, internal)
    return out


def utterances(transcript: CallTranscript, parties: list[Party]) -> list[Utterance]:
    """Flatten Gong's monologues into utterances ordered by start time."""
    speakers = speakers_from_parties(parties)
    out = []
    for mono in transcript.transcript:
        if not mono.sentences:
            continue
        speaker = speakers.get(mono.speakerId) or Speaker(
            mono.speakerId, f"Speaker {mono.speakerId[-4:]}", None, None
        )
        out.append(
            Utterance(
                speaker=speaker,
                start_ms=mono.sentences[0].start,
                end_ms=mono.sentences[-1].end,
                sentences=tuple(s.text.strip() for s in mono.sentences),
            )
        )
    out.sort(key=lambda u: u.start_ms)
    return out


def canonical_hash(transcript: CallTranscript) -> str:
    """SHA-256 of a canonical form: speaker, timing and whitespace-folded text, in time order.

    Independent of JSON key order, whitespace and Gong's extra fields, so an identical
    transcript delivered again (or under another call id) hashes the same.
    """
    rows = sorted(
        (mono.speakerId, s.start, s.end, " ".join(s.text.split()))
        for mono in transcript.transcript
        for s in mono.sentences
    )
    blob = json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def render(utts: list[Utterance]) -> str:
    """The compact prompt form: one line per utterance."""
    return "\n".join(u.line() for u in utts)


_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def word_count(text: str) -> int:
    """Words, for the applicability rules: runs of letters in spaced scripts, and about one
    word per two characters in Chinese, Japanese and Korean (written without spaces)."""
    cjk = len(_CJK.findall(text))
    spaced = len(re.findall(r"\w+", _CJK.sub(" ", text)))
    return spaced + (cjk + 1) // 2


def normalise(text: str) -> str:
    """Case-folded (ß = ss), punctuation removed, whitespace folded: for matching quotes."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")
    return " ".join(_PUNCT.sub(" ", text).split())
