"""The monitors in Prometheus text format (version 0.0.4), for the webhook's `/metrics`."""

from __future__ import annotations

from common.monitoring.monitors import Monitor


def exposition(monitors: list[Monitor], open_incidents: int) -> str:
    lines = []
    for m in monitors:
        metric = f"sales_coach_{m.name}"
        lines += [f"# HELP {metric} {m.help} ({m.unit}).", f"# TYPE {metric} gauge"]
        lines.append(f"{metric} {'NaN' if m.value is None else repr(float(m.value))}")
        lines += [
            f"# HELP {metric}_threshold Alert threshold of {m.name} ({m.kind}).",
            f"# TYPE {metric}_threshold gauge",
            f"{metric}_threshold {float(m.threshold)!r}",
        ]
    lines += [
        "# HELP sales_coach_monitor_ok 1 when a monitor is within its threshold, 0 when not.",
        "# TYPE sales_coach_monitor_ok gauge",
    ]
    lines += [
        f'sales_coach_monitor_ok{{monitor="{m.name}"}} {int(m.ok)}'
        for m in monitors
        if m.ok is not None
    ]
    lines += [
        "# HELP sales_coach_open_incidents Monitors currently firing.",
        "# TYPE sales_coach_open_incidents gauge",
        f"sales_coach_open_incidents {open_incidents}",
    ]
    return "\n".join(lines) + "\n"
