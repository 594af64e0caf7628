"""Accuracy as numbers: agreement between the AI's scores and managers' (and between managers).

- `agreement`: the metrics (exact, within one, bias, quadratic weighted kappa, Krippendorff's
  alpha) with bootstrap intervals, and the CSV mode that needs no database.
- `pairs`: score pairs from Postgres (AI vs manager, manager vs manager, AI vs AI).
- `manager_scores`: managers' own scores (Claude Desktop, spreadsheets), shown beside the AI's.
- `scorecards`: the Gong scorecard mapping and import.
- `evaluation`: scoring a candidate rubric set apart from production (`sales-coach eval`).
- `calibration`: anchored examples where managers and the AI disagree (`sales-coach calibrate`).
"""
