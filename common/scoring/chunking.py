"""Splitting long transcripts into overlapping chunks on utterance boundaries.

A transcript whose prompt form is over `max_tokens` is cut into chunks of at most
`max_tokens`, each starting so that about `overlap` of the previous chunk is repeated. Cuts
fall between utterances, never inside one. Each chunk knows which utterances are new in it
(not in the previous chunk): that is its coverage weight when chunk results are aggregated.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # first utterance index (inclusive)
    end: int  # last utterance index (exclusive)
    new_from: int  # utterances from here on are not in the previous chunk
    tokens: int
    new_tokens: int  # coverage weight


def split(token_counts: list[int], max_tokens: int, overlap: float = 0.2) -> list[Chunk]:
    """Chunk boundaries for utterances of the given token counts.

    An utterance longer than `max_tokens` becomes a chunk of its own (it cannot be split
    without cutting it; transcripts of real calls never have one).
    """
    n = len(token_counts)
    total = sum(token_counts)
    if total <= max_tokens:
        return [Chunk(0, 0, n, 0, total, total)]
    chunks: list[Chunk] = []
    start = new_from = 0
    while True:
        end, tokens = start, 0
        while end < n and (tokens + token_counts[end] <= max_tokens or end == start):
            tokens += token_counts[end]
            end += 1
        new_tokens = sum(token_counts[new_from:end])
        chunks.append(Chunk(len(chunks), start, end, new_from, tokens, new_tokens))
        if end >= n:
            return chunks
        next_start, kept = end, 0
        while (
            next_start - 1 > start and kept + token_counts[next_start - 1] <= overlap * max_tokens
        ):
            next_start -= 1
            kept += token_counts[next_start]
        start, new_from = next_start, end
