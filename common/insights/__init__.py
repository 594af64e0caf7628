"""The read model: what managers and reps read, through MCP and in the weekly reports.

- `week`: the one definition of a week (Monday 00:00 to Monday 00:00 in REPORT_TIMEZONE).
- `calls`: one call's coaching (a compact summary, or every criterion) and call search
  (full-text, keyset-paged) over `call_scores`, the per-call table triggers keep current.
- `performance`: rep averages, weekly series and trends, best and weakest calls, recurring
  improvements, a team's week against its previous four weeks, reps compared.
- `noise`: the scorer's run-to-run noise per dimension, and whether a change is within it.
- `skipped`: the calls the applicability rules skipped in a caller's scope, and why.
- `requests`: asking for an analysis from Claude Desktop, through the outbox.
- `validity`: which criteria go with won deals (`common.validity`), read for people: a unit and
  a plain-words reading per criterion, the caveat, the clearly associated ones first.
- `service`: `Insights`, built once from settings; every MCP tool is a thin call into it, and
  every method takes the caller and refuses what is outside their scope.
"""
