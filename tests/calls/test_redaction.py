"""Redaction: what it catches, what it leaves, and that quotes stay grounded in the stored
(redacted) transcript while nothing redacted reaches Claude."""

from __future__ import annotations

import copy
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from common.calls.redaction import parse, redact_text
from common.config import Settings, load_settings
from common.errors import ConfigError
from common.storage import ObjectStore
from local.gong_server import GongState

ALL = parse("email,phone,card")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Write to jordan.blake@acme-logistics.example today", "Write to [EMAIL] today"),
        ("Call +1 (415) 555-0132 or 415.555.0132", "Call [PHONE] or [PHONE]"),
        ("Card 4111 1111 1111 1111 expires 12/27", "Card [CARD] expires 12/27"),
        ("Card 4111-1111-1111-1111.", "Card [CARD]."),
    ],
)
def test_it_catches(text: str, expected: str) -> None:
    assert redact_text(text, ALL) == expected


@pytest.mark.parametrize(
    "text",
    [
        "We have 48,000 MTUs and 2,500 seats in 2026, order 12345, at 10:30.",
        "Five five five, oh one three two",  # spoken digits
        "jordan at acme dot com",  # spelled out
        "1234 5678 9012 3456 fails the Luhn check",
        "Pricing is $1,200 per month for 12 months.",
    ],
)
def test_it_leaves(text: str) -> None:
    assert redact_text(text, ALL) == text


def test_only_the_chosen_kinds_and_known_names() -> None:
    assert (
        redact_text("a@b.example 4111 1111 1111 1111", parse("email"))
        == "[EMAIL] 4111 1111 1111 1111"
    )
    with pytest.raises(ConfigError, match="REDACT"):
        load_settings(database_url="postgresql://x", redact="email,ssn")


SECRET = "You can reach me at jordan.x@acme.example or +1 415 555 0132, card 4111 1111 1111 1111."


def test_quotes_stay_grounded_and_nothing_redacted_reaches_claude(
    engine_env: Settings, claude: Any, gong: tuple[GongState, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.analyze_call import analyze_call

    state = gong[0]
    transcript = copy.deepcopy(state.transcripts["7001002"])
    for mono in transcript["transcript"]:  # every customer turn carries the secret
        if not mono["speakerId"].endswith("00"):
            for sentence in mono["sentences"]:
                sentence["text"] = f"{sentence['text']} {SECRET}"
    state.add(state.calls["7001002"], transcript)
    monkeypatch.setenv("REDACT", "email,phone,card")
    s = load_settings()
    claude.record_prompts = True
    analyze_call("7001002")
    sent = "\n".join(claude.prompts)
    assert claude.prompts and "[EMAIL]" in sent and "[PHONE]" in sent and "[CARD]" in sent
    for secret in ("jordan.x@acme.example", "555 0132", "4111 1111"):
        assert secret not in sent
    stored = ObjectStore.from_settings(s).get_json_gz("transcripts/7001002.json.gz")
    lines = [x["text"] for m in stored["transcript"] for x in m["sentences"]]
    assert any("[EMAIL]" in line for line in lines) and not any(
        "acme.example" in line for line in lines
    )
    with psycopg.connect(s.database_url, row_factory=dict_row) as conn:
        sessions = conn.execute(
            "SELECT result, quotes_dropped FROM coaching_sessions WHERE call_id = '7001002'"
        ).fetchall()
    quotes = [e["quote"] for r in sessions for c in r["result"]["criteria"] for e in c["evidence"]]
    assert len(sessions) == 4 and quotes
    text = " ".join(lines)
    assert all(q in text for q in quotes)  # grounded in the stored, redacted transcript
    # none dropped as not found; the stand-in names the wrong speaker now and then
    wrong_mouth = sum(r["result"].get("quotes_wrong_speaker", 0) for r in sessions)
    assert sum(r["quotes_dropped"] for r in sessions) == wrong_mouth
