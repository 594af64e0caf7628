"""Accuracy as numbers: agreement between the AI's scores and managers' (and between managers).

- `agreement`: the metrics (exact, within one, bias, quadratic weighted kappa, Krippendorff's
  alpha) with bootstrap intervals, and the CSV mode that needs no database.
"""
