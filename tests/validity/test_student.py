"""Student's t against published table values."""

from __future__ import annotations

import math

import pytest

from common.validity.student import quantile_975, two_sided_p


@pytest.mark.parametrize(
    ("df", "q"), [(1, 12.7062), (2, 4.3027), (5, 2.5706), (9, 2.2622), (30, 2.0423), (1000, 1.9623)]
)
def test_the_975_quantile_matches_the_table(df: int, q: float) -> None:
    assert quantile_975(df) == pytest.approx(q, abs=1e-4)


def test_p_values_match_closed_forms_and_the_normal_limit() -> None:
    # t(1) is Cauchy: P(|T| >= t) = 1 - 2 atan(t) / pi; t(2): 1 - t / sqrt(2 + t^2)
    for t in (0.3, 1.0, 2.5, 10.0):
        assert two_sided_p(t, 1) == pytest.approx(1 - 2 * math.atan(t) / math.pi, rel=1e-9)
        assert two_sided_p(t, 2) == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-9)
    assert two_sided_p(1.96, 1e7) == pytest.approx(math.erfc(1.96 / math.sqrt(2)), rel=1e-5)
    assert two_sided_p(0.0, 4) == pytest.approx(1.0)
