"""The logistic fit (Newton/IRLS) against closed forms."""

from __future__ import annotations

import math

import numpy as np

from common.validity import fit_logistic


def test_a_two_by_two_table_gives_the_closed_form_odds_ratio_and_its_standard_error() -> None:
    # exposed: 30 won, 10 lost; unexposed: 15 won, 25 lost
    a, b, c, d = 30, 10, 15, 25
    x = np.array([1.0] * (a + b) + [0.0] * (c + d))
    y = np.array([1.0] * a + [0.0] * b + [1.0] * c + [0.0] * d)
    fit = fit_logistic(np.column_stack([np.ones_like(x), x]), y)
    assert fit is not None
    assert math.isclose(fit.coef[1], math.log(a * d / (b * c)), rel_tol=1e-8)
    assert math.isclose(
        math.sqrt(fit.cov[1, 1]), math.sqrt(1 / a + 1 / b + 1 / c + 1 / d), rel_tol=1e-6
    )


def test_a_large_sample_recovers_the_coefficients() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(20_000, 2))
    y = (rng.random(20_000) < 1 / (1 + np.exp(-(0.5 + 0.8 * x[:, 0] - 0.4 * x[:, 1])))).astype(
        float
    )
    fit = fit_logistic(np.column_stack([np.ones(20_000), x]), y)
    assert fit is not None
    assert np.allclose(fit.coef, [0.5, 0.8, -0.4], atol=0.06)


def test_separated_or_singular_data_give_no_fit() -> None:
    x = np.arange(10.0)
    separated = (x >= 5).astype(float)
    assert fit_logistic(np.column_stack([np.ones(10), x]), separated) is None
    y = np.array([0.0, 1.0] * 5)
    assert fit_logistic(np.column_stack([np.ones(10), np.zeros(10)]), y) is None


def _sample(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.3 + 0.7 * x)))).astype(float)
    return np.column_stack([np.ones(n), x]), y


def test_copies_of_a_rep_s_deals_add_no_information_when_clustered_by_rep() -> None:
    x, y = _sample(11)
    reps = [f"r{i}" for i in range(len(y))]
    once = fit_logistic(x, y, clusters=reps)
    twice = fit_logistic(np.vstack([x, x]), np.concatenate([y, y]), clusters=reps + reps)
    naive = fit_logistic(np.vstack([x, x]), np.concatenate([y, y]))
    assert once is not None and twice is not None and naive is not None
    assert np.allclose(once.coef, twice.coef)
    # the model-based error believes the copies (shrinks by sqrt 2); the clustered one does not
    assert math.isclose(math.sqrt(naive.cov[1, 1] * 2), math.sqrt(once.cov[1, 1]), rel_tol=0.1)
    assert math.isclose(twice.cov[1, 1], once.cov[1, 1], rel_tol=1e-9)


def test_one_deal_per_rep_gives_the_robust_sandwich_by_hand() -> None:
    x, y = _sample(12, 300)
    fit = fit_logistic(x, y, clusters=[str(i) for i in range(300)])
    plain = fit_logistic(x, y)
    assert fit is not None and plain is not None
    p = 1 / (1 + np.exp(-(x @ plain.coef)))
    u = x * (y - p)[:, None]
    by_hand = plain.cov @ (u.T @ u) @ plain.cov * 300 / 299
    assert np.allclose(fit.cov, by_hand, rtol=1e-8)
