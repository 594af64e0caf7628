"""Logistic regression by Newton's method (IRLS), with numpy only.

`fit_logistic(X, y)` maximises the binomial likelihood of 0/1 outcomes `y` on the design `X`
(the caller adds the intercept column) and returns the coefficients with their model-based
covariance, the inverse of the Fisher information at the optimum, or with `clusters` (one
label per row: the rep) the cluster-robust sandwich A^-1 B A^-1, B the sum over clusters of
each cluster's outer product of its score, times G/(G-1) for G clusters: a rep's deals are not
independent draws, and the model-based covariance would count each as new information. It
returns None when there
is no finite answer: a singular design (a column with no variation, or one column a mix of
others) or separation (a combination of columns that predicts every outcome, so the
coefficients run off to infinity and the likelihood never settles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_ITERATIONS = 50
TOLERANCE = 1e-10  # on the largest change of a coefficient
DIVERGED = 25.0  # |coefficient| on the logit scale: an odds ratio beyond e^25 is separation


@dataclass(frozen=True)
class LogisticFit:
    coef: np.ndarray  # one per column of X
    cov: np.ndarray  # their covariance: clustered when clusters were given, else model_cov
    model_cov: np.ndarray  # the inverse Fisher information


def fit_logistic(
    x: np.ndarray, y: np.ndarray, clusters: Sequence[str] | None = None
) -> LogisticFit | None:
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
            bread = np.linalg.inv(information)
            if clusters is None:
                return LogisticFit(coef=beta, cov=bread, model_cov=bread)
            cov = _sandwich(bread, x * (y - p)[:, None], clusters)
            return LogisticFit(coef=beta, cov=cov, model_cov=bread)
    return None


def _sandwich(bread: np.ndarray, scores: np.ndarray, clusters: Sequence[str]) -> np.ndarray:
    labels, index = np.unique(np.asarray(clusters), return_inverse=True)
    per_cluster = np.zeros((len(labels), scores.shape[1]))
    np.add.at(per_cluster, index, scores)
    groups = len(labels)
    meat = per_cluster.T @ per_cluster * (groups / (groups - 1) if groups > 1 else 1.0)
    return np.asarray(bread @ meat @ bread)
