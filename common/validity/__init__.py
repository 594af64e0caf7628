"""Validity: which of the company's own criteria go with its won deals, within rep and stage.

- `deals`: the scores CSV (`sales-coach validity --from-csv`) and deals as the unit.
- `analysis`: the within-rep, within-stage odds ratio per score point of each criterion, its
  interval and q value, and the minimum of closed deals below which there are no numbers.
- `logistic`, `fdr`: the logistic fit (numpy Newton/IRLS, rep-clustered errors) and
  Benjamini-Hochberg q values.
- `source`: the project's own closed deals and the scores a person may see, as the CSV's rows.
- `coaching`, `coaching_source`: did coaching change anything: the difference in differences of
  coached reps' scores on the coached criterion against reps not coached in the same weeks.
- `reports`: the reports kept for the company and each manager's team, computed by the daily
  deal refresh and read by the MCP tool (owns `validity_reports`).
- `units`: conversation metrics as criteria, and the unit each odds ratio is per.
- `benchmarks`: the company's own talk ratio and questions from its won deals.
"""

from common.validity.analysis import (
    MIN_DEALS,
    CriterionResult,
    Report,
    analyse,
    analyse_deals,
    table,
)
from common.validity.benchmarks import Spread, WonDealFigures, won_deal_figures
from common.validity.coaching import (
    MIN_EVENTS,
    CoachingEffect,
    CoachingEvent,
    DimensionEffect,
    ScorePoint,
    estimate,
)
from common.validity.coaching import line as coaching_line
from common.validity.coaching_source import coaching_effect
from common.validity.deals import Deal, ScoreRow, ValidityFileError, deals, read_rows
from common.validity.fdr import bh_q_values
from common.validity.logistic import LogisticFit, fit_logistic
from common.validity.reports import COMPANY, Kept, team_key
from common.validity.reports import latest as kept_report
from common.validity.reports import refresh as refresh_reports
from common.validity.source import (
    CallScore,
    call_scores,
    closed_deal_rows,
    from_db,
)
from common.validity.units import CONVERSATION, METRICS, unit

__all__ = [
    "COMPANY",
    "CONVERSATION",
    "METRICS",
    "MIN_DEALS",
    "MIN_EVENTS",
    "CallScore",
    "CoachingEffect",
    "CoachingEvent",
    "CriterionResult",
    "Deal",
    "DimensionEffect",
    "Kept",
    "LogisticFit",
    "Report",
    "ScorePoint",
    "ScoreRow",
    "Spread",
    "ValidityFileError",
    "WonDealFigures",
    "analyse",
    "analyse_deals",
    "bh_q_values",
    "call_scores",
    "closed_deal_rows",
    "coaching_effect",
    "coaching_line",
    "deals",
    "estimate",
    "fit_logistic",
    "from_db",
    "kept_report",
    "read_rows",
    "refresh_reports",
    "table",
    "team_key",
    "unit",
    "won_deal_figures",
]
