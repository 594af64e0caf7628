from __future__ import annotations

import copy

from common.calls.transcript import canonical_hash, format_ts, normalise, render, utterances
from common.gong import CallTranscript, Party
from local.samples import sample_calls


def _sample(i: int = 0) -> tuple[CallTranscript, list[Party], dict]:  # type: ignore[type-arg]
    s = sample_calls()[i]
    return (
        CallTranscript.model_validate(s["transcript"]),
        [Party.model_validate(p) for p in s["call"]["parties"]],
        s["transcript"],
    )


def test_hash_ignores_whitespace_key_order_and_extra_fields() -> None:
    t, _, raw = _sample()
    again = copy.deepcopy(raw)
    again["transcript"][0]["sentences"][0]["text"] = "  " + again["transcript"][0]["sentences"][0][
        "text"
    ].replace(" ", "   ")
    again["transcript"][0]["newField"] = 1
    again["transcript"].reverse()
    assert canonical_hash(CallTranscript.model_validate(again)) == canonical_hash(t)


def test_hash_changes_when_words_change() -> None:
    t, _, raw = _sample()
    changed = copy.deepcopy(raw)
    changed["transcript"][1]["sentences"][0]["text"] += " Extra."
    assert canonical_hash(CallTranscript.model_validate(changed)) != canonical_hash(t)


def test_prompt_lines_are_speaker_attributed_with_affiliation() -> None:
    t, parties, _ = _sample()
    lines = render(utterances(t, parties)).splitlines()
    assert lines[0].startswith("[00:02] ")
    assert any("Dana Lee (Account Executive, internal): " in line for line in lines)
    assert any("Jordan Blake (VP Product, external): " in line for line in lines)


def test_format_and_normalise() -> None:
    assert format_ts(62_000) == "01:02" and format_ts(3_723_000) == "1:02:03"
    assert normalise("  It\u2019s \u2014 GREAT, isn't it?! ") == "its great isnt it"


def test_normalise_keeps_numbers_and_their_marks() -> None:
    assert normalise("Sync: every 2.5 hours, 99.9% up; 1,000 seats!") == (
        "sync every 2.5 hours 99.9% up 1,000 seats"
    )
    assert normalise("Sync every 25 hours, 999 up") != normalise("Sync every 2.5 hours, 99.9 up")
    full_width = normalise("１，０００ Seats")  # noqa: RUF001 (NFKC folds it)
    assert full_width == normalise("1,000 seats") != normalise("1000 seats")
