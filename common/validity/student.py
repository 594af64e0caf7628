"""Student's t distribution (numpy has none, and scipy is not a dependency): the two-sided p
value and the 97.5% quantile, for intervals from rep-clustered errors, whose degrees of
freedom are the number of reps less one. With few reps a normal quantile would make the
intervals too narrow (two reps: 1.96 where t says 12.7).

The CDF is the regularised incomplete beta function by its continued fraction (Lentz), as in
Numerical Recipes' `betai`; the quantile is found by bisection on it.
"""

from __future__ import annotations

import math

_EPS = 1e-15
_TINY = 1e-300


def two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for T ~ t(df)."""
    if math.isinf(df):
        return math.erfc(abs(t) / math.sqrt(2))
    return _incomplete_beta(df / 2, 0.5, df / (df + t * t))


def quantile_975(df: float) -> float:
    """The t(df) quantile at 0.975 (the half-width of a 95% interval, in errors)."""
    if math.isinf(df):
        return 1.959963984540054
    low, high = 0.0, 1e4
    for _ in range(200):
        mid = (low + high) / 2
        if two_sided_p(mid, df) > 0.05:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _incomplete_beta(a: float, b: float, x: float) -> float:
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return front * _fraction(a, b, x) / a
    return 1.0 - front * _fraction(b, a, 1 - x) / b


def _fraction(a: float, b: float, x: float) -> float:
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 400):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _EPS:
            break
    return h
