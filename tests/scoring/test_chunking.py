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
