"""Transcripts: speaker-attributed utterances, the canonical hash, and the prompt form."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable
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


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def word_count(text: str) -> int:
    """Words, for the applicability rules: runs of letters in spaced scripts, and about one
    word per two characters in Chinese, Japanese and Korean (written without spaces)."""
    cjk = len(_CJK.findall(text))
    spaced = len(re.findall(r"\w+", _CJK.sub(" ", text)))
    return spaced + (cjk + 1) // 2


@dataclass(frozen=True)
class Word:
    """One word of a text as quotes are matched on it: `text` folded, `start:end` the span
    of the original text it was read from."""

    text: str
    start: int
    end: int


# Scripts written without spaces between words: each character is a word of its own, so a
# quote matches anywhere in a line and whether or not the model kept a comma or space.
_UNSPACED = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3005, 0x3007),  # iteration mark, closing mark, ideographic zero
    (0x3040, 0x30FF),  # hiragana, katakana
    (0x31F0, 0x31FF),
    (0x3400, 0x4DBF),  # CJK ideographs
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x3FFFF),
)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def _unspaced(c: str) -> bool:
    return ord(c) >= 0x0E00 and any(lo <= ord(c) <= hi for lo, hi in _UNSPACED)


def _is_word(c: str) -> bool:
    return unicodedata.category(c)[0] in "LNM"


def _is_digit(c: str) -> bool:
    return unicodedata.category(c) == "Nd"


def _fold(text: str) -> tuple[str, list[tuple[int, int]]]:
    """NFKC, case-folded, apostrophes straightened; with the span of the original text each
    folded character came from (a character and its combining marks fold together, so a
    precomposed letter and a decomposed one fold alike)."""
    if text.isascii():  # the common case, and one NFKC and case-folding leave as lower()
        return text.lower(), [(i, i + 1) for i in range(len(text))]
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and unicodedata.combining(text[j]):
            j += 1
        folded = unicodedata.normalize("NFKC", text[i:j]).casefold().translate(_APOSTROPHES)
        out.extend(folded)
        spans.extend([(i, j)] * len(folded))
        i = j
    return "".join(out), spans


def words(text: str) -> list[Word]:
    """The words a quote is matched on, with where each stands in `text`.

    Folded: case (ß = ss), compatibility forms (NFKC: full-width, ligatures), curly
    apostrophes; an apostrophe inside a word is dropped ("isn't" = "isnt"); other
    punctuation and whitespace only separate words. Numbers keep their marks: any single
    mark between two digits (`2.5`, `1,000`, `10:30`, `1'000`), a `%` or `‰` after the
    number (even after a space: `25 %` = `25%`) and a currency sign just before or after it
    (`$25`, `25€`) are part of the word, so `2.5` is not `25`, `99.9%` is not `99.9` and
    `1,000` matches only `1,000`: never `1000`, `1.000` or `1 000`, since which mark groups
    thousands differs by language and a quote must carry the transcript's own. Characters
    of scripts written without spaces (Japanese, Chinese, Thai) are one word each.
    """
    folded, spans = _fold(text)
    out: list[Word] = []
    i = 0
    while i < len(folded):
        word, j = _read_word(folded, i)
        if word:
            out.append(Word(word, spans[i][0], spans[j - 1][1]))
        i = max(j, i + 1)
    return out


def _read_word(s: str, i: int) -> tuple[str, int]:
    """The folded word that starts at `s[i]` and where it ends ("" when none starts there)."""
    c = s[i]
    if _is_word(c) and _unspaced(c):
        return c, i + 1
    if not (_is_word(c) or (_is_currency(c) and i + 1 < len(s) and _is_digit(s[i + 1]))):
        return "", i + 1
    chars, j = [c], i + 1
    while j < len(s):
        d = s[j]
        if (_is_word(d) and not _unspaced(d)) or (_between(s, j, _is_digit) and not d.isspace()):
            chars.append(d)  # a letter or digit; or a mark inside a number: 2.5, 1,000, 10:30
        elif not (d == "'" and _between(s, j, _is_letter)):  # isn't = isnt
            break
        j += 1
    if not _is_digit(s[j - 1]):
        return "".join(chars), j
    if j < len(s) and (s[j] in _PERCENT or _is_currency(s[j])):  # 25%, 25€
        return "".join(chars) + s[j], j + 1
    if j + 1 < len(s) and s[j].isspace() and s[j + 1] in _PERCENT:  # 25 % = 25%
        return "".join(chars) + s[j + 1], j + 2
    return "".join(chars), j


_PERCENT = "%\u2030"


def _between(s: str, j: int, kind: Callable[[str], bool]) -> bool:
    return 0 < j < len(s) - 1 and kind(s[j - 1]) and kind(s[j + 1])


def _is_currency(c: str) -> bool:
    return unicodedata.category(c) == "Sc"


def _is_letter(c: str) -> bool:
    return unicodedata.category(c)[0] == "L"


def normalise(text: str) -> str:
    """`words` joined by single spaces: the form quotes and recurring phrases are compared
    in (case, compatibility forms and punctuation folded; numbers kept with their marks)."""
    return " ".join(w.text for w in words(text))
