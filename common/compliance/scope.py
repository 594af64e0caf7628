"""The scope statement: the system assesses the text of calls only. No voice, video or emotion
recognition (EU AI Act Art. 5(1)(f) bans emotion recognition at work; Art. 3(39) defines it
on biometric data).

The statement is computed, not asserted: which Gong endpoints the client reads (`GONG_READS`,
held to `common.gong` by a test), which of Gong's optional call fields it asks for
(`common.gong.CONTENT_SELECTOR`, read here), and which rubric criteria use words about feelings
or tone, listed for a person to read (a text-only score is not emotion recognition as the Act
defines it, but a works council will want to see them).
"""

from __future__ import annotations

import re

from pydantic import BaseModel

from common.compliance.md import bullets, esc
from common.config import DIMENSIONS, Settings
from common.errors import RubricError
from common.gong import CONTENT_SELECTOR
from common.rubrics import Rubric
from common.rubrics import load as load_rubrics

GONG_READS: dict[str, str] = {  # path -> what is read there
    "/v2/calls/extensive": "call metadata: title, time, duration, participants, CRM deal context",
    "/v2/calls/transcript": "the transcript: text, speaker and timing of each sentence",
    "/v2/users": "users: names, e-mail addresses, managers, active or not",
    "/v2/settings/scorecards": "the company's scorecard questions",
    "/v2/stats/activity/scorecards": "managers' answered scorecards (their scores of calls)",
    "/v2/data-privacy/data-for-email-address": "calls a person appears in (erasure requests)",
    "/v2/data-privacy/data-for-phone-number": "calls a person appears in (erasure requests)",
}
MEDIA_FIELDS = ("media",)  # Gong's exposed field carrying audio and video URLs
# Words that describe feelings, mood or tone; a criterion using one is listed for a person.
_FEELING = re.compile(
    r"\b(emotion\w*|feel|feels|feeling\w*|mood\w*|sentiment\w*|tone|stress|stressed|anxi\w*|"
    r"frustrat\w*|anger|angry|happy|happiness|sad|sadness|enthusias\w*|excited|excitement|"
    r"nervous\w*|confident|confidence|empath\w*)\b",
    re.IGNORECASE,
)


class Flagged(BaseModel):
    dimension: str
    criterion: str
    words: list[str]


class Scope(BaseModel):
    gong_reads: dict[str, str]
    exposed_fields: list[str]  # Gong's optional call fields asked for
    media_requested: bool
    flagged: list[Flagged]
    rubrics_error: str | None


def build(s: Settings) -> Scope:
    exposed = CONTENT_SELECTOR.get("exposedFields") or {}
    fields = sorted(name for name, wanted in exposed.items() if wanted)
    flagged, error = _flagged(s)
    return Scope(
        gong_reads=dict(GONG_READS),
        exposed_fields=fields,
        media_requested=any(f in fields for f in MEDIA_FIELDS),
        flagged=flagged,
        rubrics_error=error,
    )


def _flagged(s: Settings) -> tuple[list[Flagged], str | None]:
    try:
        found = load_rubrics(s.rubrics_dir)
    except RubricError as exc:
        return [], str(exc)
    rubrics: list[Rubric] = [found.rubrics[d] for d in DIMENSIONS]
    rubrics += [found.variants[v] for v in sorted(found.variants)]
    out = []
    for r in rubrics:
        for c in r.criteria:
            text = " ".join([c.name, c.description, *c.levels.values()])
            words = sorted({m.group(0).lower() for m in _FEELING.finditer(text)})
            if words:
                out.append(Flagged(dimension=r.dimension, criterion=c.name, words=words))
    return out, None


def render(sc: Scope) -> str:
    media = (
        "**The system asks Gong for media (audio and video URLs).** The rest of this"
        " statement assumes it does not: it must be reviewed."
        if sc.media_requested
        else "The system never fetches a call's audio or video: of Gong's optional call"
        " fields it asks only for "
        + (", ".join(esc(f) for f in sc.exposed_fields) or "none")
        + ", and never for media (the audio and video URLs)."
    )
    return (
        "\n\n".join(
            [
                "# Scope statement: text of calls only",
                "The system assesses the **text** of sales calls. It does **no voice"
                " analysis, no video analysis and no emotion recognition**: it receives no"
                " audio, no video and no biometric data, and nothing in it identifies or"
                " infers a person's emotions from their voice, face or body.",
                "## What it reads from Gong",
                bullets([f"`{p}`: {esc(what)}" for p, what in sc.gong_reads.items()]),
                media,
                "## What the AI is given",
                "For each call and dimension: the transcript's text with speakers and times,"
                " the conversation metrics computed from that text and timing (talk ratio,"
                " pauses, speaking pace in words per minute), and the rubric. The AI is asked"
                " to score observable behaviour against the rubric and to quote the words"
                " that support each score.",
                "## Criteria that mention feelings or tone",
                _flagged_text(sc),
            ]
        )
        + "\n"
    )


def _flagged_text(sc: Scope) -> str:
    if sc.rubrics_error:
        return f"The rubrics could not be read: {esc(sc.rubrics_error)}."
    if not sc.flagged:
        return "No criterion of the rubrics in force uses words about feelings, mood or tone."
    lines = [
        f"{esc(f.dimension)}, {esc(f.criterion)}: uses " + ", ".join(f'"{esc(w)}"' for w in f.words)
        for f in sc.flagged
    ]
    return "\n\n".join(
        [
            "These criteria use such words. They are scored from the words and timing of the"
            " transcript only, never from a voice or a face; they are listed so that a person"
            " can check that each asks for observable behaviour and not for a person's inner"
            " state:",
            bullets(lines),
        ]
    )
