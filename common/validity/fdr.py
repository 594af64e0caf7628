"""Benjamini-Hochberg q values: the smallest false-discovery rate at which each p value would
be called, over all the criteria tested together."""

from __future__ import annotations

from collections.abc import Sequence


def bh_q_values(p_values: Sequence[float]) -> list[float]:
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    q = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):  # from the largest p down, keeping the running minimum
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        q[i] = running
    return q
