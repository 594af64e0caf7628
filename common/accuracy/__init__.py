"""Accuracy as numbers: agreement between the AI's scores and managers' (and between managers).

- `agreement`: the metrics (exact, within one, bias, quadratic weighted kappa, Krippendorff's
  alpha) with bootstrap intervals, and the CSV mode that needs no database.
- `pairs`: score pairs from Postgres (AI vs manager, manager vs manager, AI vs AI).
- `manager_scores`: managers' own scores (Claude Desktop, spreadsheets), shown beside the AI's.
- `scorecards`: the Gong scorecard mapping and import.
- `evaluation`: scoring a candidate rubric set apart from production (`sales-coach eval`).
- `disputes`: a rep contests a score; the manager's answer (upheld or overridden) is a
  manager score either way.
- `reviews`: the review queue (scores the publish gate held, and the audit sample of published
  ones), a manager's confirmation or change of them, and the held notice to the manager.
- `calibration`: anchored examples from what managers said (disagreements on criteria and
  overall scores, one-sided N/A, upheld disputes and confirmations; `sales-coach calibrate`).
"""

from common.accuracy.reviews import held_notice, notify_held

__all__ = ["held_notice", "notify_held"]
