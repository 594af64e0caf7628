from __future__ import annotations

import itertools

import pytest

from common.scoring.chunking import split


def test_short_transcript_is_one_chunk() -> None:
    chunks = split([100] * 10, max_tokens=2000)
    assert len(chunks) == 1 and (chunks[0].start, chunks[0].end, chunks[0].tokens) == (0, 10, 1000)


@pytest.mark.parametrize("sizes", [[100] * 500, [37, 250, 80, 1200, 5, 640] * 60])
def test_chunks_respect_limit_cover_everything_and_overlap(sizes: list[int]) -> None:
    limit, overlap = 5000, 0.2
    chunks = split(sizes, limit, overlap)
    assert len(chunks) > 1
    assert chunks[0].start == 0 and chunks[-1].end == len(sizes)
    for prev, cur in itertools.pairwise(chunks):
        assert cur.start < prev.end  # overlapping, cut on an utterance boundary
        repeated = sum(sizes[cur.start : prev.end])
        assert 0 < repeated <= overlap * limit
        assert repeated >= overlap * limit - max(sizes)  # as close to 20% as whole utterances allow
        assert cur.new_from == prev.end
    assert all(c.tokens <= limit for c in chunks)
    assert sum(c.new_tokens for c in chunks) == sum(sizes)  # coverage counted once


def test_oversized_utterance_gets_its_own_chunk() -> None:
    chunks = split([100, 9000, 100], max_tokens=1000)
    assert [(c.start, c.end) for c in chunks] == [(0, 1), (1, 2), (2, 3)]


def test_a_japanese_call_is_chunked_by_its_own_token_count_not_by_words() -> None:
    """Japanese has no spaces: counted by words it would look tiny; counted in tokens (about
    one per character) its chunks stay within the limit, like an English call's."""
    from common.calls.transcript import Speaker, Utterance, word_count
    from common.scoring.token_counts import estimate_many
    from local.samples import CUSTOMER_JAPANESE, REP_JAPANESE

    speaker = Speaker("1", "佐藤 健", None, False)
    lines = [
        Utterance(speaker, i * 1000, i * 1000 + 900, (text,)).line()
        for i, text in enumerate((REP_JAPANESE + CUSTOMER_JAPANESE) * 200)
    ]
    tokens = estimate_many(lines, 1.3)
    words = sum(word_count(line) for line in lines)
    assert sum(tokens) > sum(len(line.split()) for line in lines) * 5  # words undercount
    assert sum(tokens) > words  # and tokens outnumber even CJK-aware words
    limit = sum(tokens) // 3
    chunks = split(tokens, limit)
    assert len(chunks) >= 3 and all(c.tokens <= limit for c in chunks)
    assert sum(c.new_tokens for c in chunks) == sum(tokens)
