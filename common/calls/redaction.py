"""Optional redaction before anything leaves for Claude (`REDACT=email,phone,card`).

Applied to the transcript as it arrives from Gong, before it is stored, hashed or sent, so the
stored transcript is the redacted one and evidence quotes (checked against it) still match.

What it catches: e-mail addresses; phone numbers written with 7 to 15 digits (with +, spaces,
dots, dashes or brackets); payment card numbers of 13 to 19 digits that pass the Luhn check.
What it does not: numbers spoken as words ("five five five..."), addresses spelled out ("jordan
at acme dot com"), names, postal addresses, account or order numbers, anything in the call's
title or participant list (Gong's metadata, kept for scope and erasure), or what Gong's own
transcription got wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

PLACEHOLDERS = {"email": "[EMAIL]", "phone": "[PHONE]", "card": "[CARD]"}
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d ().-]{5,}\d(?!\w)")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return PLACEHOLDERS["card"] if 13 <= len(digits) <= 19 and _luhn(digits) else match.group()


def _phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return PLACEHOLDERS["phone"] if 7 <= len(digits) <= 15 else match.group()


STEPS: dict[str, Callable[[str], str]] = {  # cards before phones: a card looks like a phone
    "card": lambda text: CARD.sub(_card, text),
    "phone": lambda text: PHONE.sub(_phone, text),
    "email": lambda text: EMAIL.sub(PLACEHOLDERS["email"], text),
}


def parse(setting: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in setting.split(",") if k.strip())
    unknown = set(kinds) - set(STEPS)
    if unknown:
        raise ValueError(f"REDACT takes email, phone and card; got {sorted(unknown)}")
    return tuple(k for k in STEPS if k in kinds)  # in the safe order


def redact_text(text: str, kinds: tuple[str, ...]) -> str:
    for kind in kinds:
        text = STEPS[kind](text)
    return text


def redact_transcript(raw: dict[str, Any], kinds: tuple[str, ...]) -> dict[str, Any]:
    """Gong's raw transcript (`{"callId", "transcript": [{"sentences": [{"text"}]}]}`) with
    every sentence redacted."""
    if not kinds:
        return raw
    return {
        **raw,
        "transcript": [
            {
                **mono,
                "sentences": [
                    {**s, "text": redact_text(s.get("text", ""), kinds)}
                    for s in mono.get("sentences", [])
                ],
            }
            for mono in raw.get("transcript", [])
        ],
    }
