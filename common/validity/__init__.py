"""Validity: which of the company's own criteria go with its won deals, within rep and stage.

- `deals`: the scores CSV (`sales-coach validity --from-csv`) and deals as the unit.
- `analysis`: the within-rep, within-stage odds ratio per score point of each criterion, its
  interval and q value, and the minimum of closed deals below which there are no numbers.
- `logistic`, `fdr`: the logistic fit (numpy Newton/IRLS) and Benjamini-Hochberg q values.
"""

from common.validity.analysis import (
    MIN_DEALS,
    CriterionResult,
    Report,
    analyse,
    analyse_deals,
    table,
)
from common.validity.deals import Deal, ScoreRow, ValidityFileError, deals, read_rows
from common.validity.fdr import bh_q_values
from common.validity.logistic import LogisticFit, fit_logistic

__all__ = [
    "MIN_DEALS",
    "CriterionResult",
    "Deal",
    "LogisticFit",
    "Report",
    "ScoreRow",
    "ValidityFileError",
    "analyse",
    "analyse_deals",
    "bh_q_values",
    "deals",
    "fit_logistic",
    "read_rows",
    "table",
]
