"""Logistic regression by Newton's method (IRLS), with numpy only.

`fit_logistic(X, y)` maximises the binomial likelihood of 0/1 outcomes `y` on the design `X`
(the caller adds the intercept column) and returns the coefficients with their model-based
covariance, the inverse of the Fisher information at the optimum. It returns None when there
is no finite answer: a singular design (a column with no variation, or one column a mix of
others) or separation (a combination of columns that predicts every outcome, so the
coefficients run off to infinity and the likelihood never settles).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_ITERATIONS = 50
TOLERANCE = 1e-10  # on the largest change of a coefficient
DIVERGED = 25.0  # |coefficient| on the logit scale: an odds ratio beyond e^25 is separation


@dataclass(frozen=True)
class LogisticFit:
    coef: np.ndarray  # one per column of X
    cov: np.ndarray  # their covariance (inverse Fisher information)


def fit_logistic(x: np.ndarray, y: np.ndarray) -> LogisticFit | None:
    if np.linalg.matrix_rank(x) < x.shape[1]:
        return None
    beta = np.zeros(x.shape[1])
    for _ in range(MAX_ITERATIONS):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        information = x.T @ (x * (p * (1 - p))[:, None])
        try:
            step = np.linalg.solve(information, x.T @ (y - p))
        except np.linalg.LinAlgError:
            return None
        beta = beta + step
        if np.max(np.abs(beta)) > DIVERGED:
            return None
        if np.max(np.abs(step)) < TOLERANCE:
            p = 1.0 / (1.0 + np.exp(-(x @ beta)))
            information = x.T @ (x * (p * (1 - p))[:, None])
            return LogisticFit(coef=beta, cov=np.linalg.inv(information))
    return None
