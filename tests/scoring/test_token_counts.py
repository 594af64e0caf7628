from __future__ import annotations

from common.scoring.token_counts import cl100k_tokens, estimate, estimate_many


def test_offline_encoding_and_scale() -> None:
    text = "Beacon is a warehouse-native product analytics platform. " * 20
    base = cl100k_tokens(text)
    assert 150 < base < 300  # the offline cl100k encoding loads with no network
    assert estimate(text, scale=1.3) == -(-base * 13 // 10)
    assert estimate_many([text, "hi"], scale=1.0) == [base, cl100k_tokens("hi")]
    assert cl100k_tokens("<|endoftext|>") > 1  # special tokens in transcripts are plain text
