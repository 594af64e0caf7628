"""Monitors and alerts, computed from Postgres so they work on serverless too.

- `monitors`: each monitor's current value against its threshold (settings `MONITOR_*`), and
  30 days of daily values for the ops page.
- `incidents`: a monitor that crosses its threshold opens one incident and alerts once (log,
  Slack, e-mail); when it recovers the incident closes and alerts once more.
- `page`: the ops page, HTML with small charts, on object storage beside the weekly reports.
- `prometheus`: the same values in Prometheus text format, for the webhook's `/metrics`.
"""
