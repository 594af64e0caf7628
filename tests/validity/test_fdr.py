"""Benjamini-Hochberg q values."""

from __future__ import annotations

import pytest

from common.validity import bh_q_values


def test_q_values_by_hand() -> None:
    # sorted .01 .03 .04 .5 -> p*m/rank .04 .06 .0533 .5 -> running minimum from the top
    assert bh_q_values([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.5])


def test_q_values_are_capped_at_one_and_empty_is_empty() -> None:
    assert bh_q_values([0.9, 0.95]) == pytest.approx([0.95, 0.95])
    assert bh_q_values([1.0]) == [1.0]
    assert bh_q_values([]) == []
