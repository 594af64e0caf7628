"""Small inline SVG charts for self-contained HTML reports (no JavaScript, printable)."""

from __future__ import annotations

from html import escape

COLORS = {
    "product_knowledge": "#2563eb",
    "discovery": "#16a34a",
    "objections": "#dc2626",
    "engagement": "#9333ea",
}


def line_chart(
    series: dict[str, list[tuple[str, float | None]]], width: int = 560, height: int = 180
) -> str:
    """One line per series over shared x labels; y is a 1-5 score."""
    labels = next(iter(series.values()), [])
    n = max(len(labels), 2)
    left, right, top, bottom = 30, 26, 10, 24

    def x(i: int) -> float:
        return left + i * (width - left - right) / (n - 1)

    def y(v: float) -> float:
        return top + (5 - v) * (height - top - bottom) / 4

    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="score trend" class="chart">'
    ]
    for v in range(1, 6):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e5e7eb"/>'
            f'<text x="4" y="{y(v) + 4:.1f}" font-size="10" fill="#6b7280">{v}</text>'
        )
    for i, (label, _) in enumerate(labels):
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - 6}" font-size="10" fill="#6b7280" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    for name, points in series.items():
        coords = [(x(i), y(v)) for i, (_, v) in enumerate(points) if v is not None]
        color = COLORS.get(name, "#111827")
        if len(coords) > 1:
            path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
            parts.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>'
            )
        parts.extend(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{color}"/>' for cx, cy in coords
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_pairs(rows: list[tuple[str, float | None, float | None]], width: int = 560) -> str:
    """Per row: this week's score (solid) over the previous four weeks' (pale), 0-5 scale."""
    row_h, left = 34, 130
    height = row_h * len(rows) + 8
    scale = (width - left - 40) / 5
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="scores" class="chart">']
    for i, (name, now, before) in enumerate(rows):
        top = 4 + i * row_h
        color = COLORS.get(name, "#374151")
        parts.append(
            f'<text x="0" y="{top + 17}" font-size="12" fill="#111827">{escape(name.replace("_", " "))}</text>'
        )
        if before is not None:
            parts.append(
                f'<rect x="{left}" y="{top + 2}" width="{before * scale:.1f}" height="10" '
                f'fill="{color}" opacity="0.25"/>'
            )
        if now is not None:
            parts.append(
                f'<rect x="{left}" y="{top + 14}" width="{now * scale:.1f}" height="12" fill="{color}"/>'
                f'<text x="{left + now * scale + 4:.1f}" y="{top + 24}" font-size="11">{now:.2f}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def sparkline(
    points: list[tuple[str, float | None]],
    threshold: float | None = None,
    width: int = 320,
    height: int = 70,
) -> str:
    """A small line over any scale (min 0), with a dashed threshold line when given."""
    values = [v for _, v in points if v is not None]
    top_value = max([*values, threshold or 0, 1e-9]) * 1.1
    n = max(len(points), 2)
    pad = 4

    def x(i: int) -> float:
        return pad + i * (width - 2 * pad) / (n - 1)

    def y(v: float) -> float:
        return height - pad - v / top_value * (height - 2 * pad)

    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" class="spark">']
    if threshold is not None:
        parts.append(
            f'<line x1="{pad}" x2="{width - pad}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}"'
            ' stroke="#dc2626" stroke-dasharray="4 3"/>'
        )
    coords = [(x(i), y(v)) for i, (_, v) in enumerate(points) if v is not None]
    if len(coords) > 1:
        path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
        parts.append(f'<polyline fill="none" stroke="#2563eb" stroke-width="2" points="{path}"/>')
    parts.extend(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2" fill="#2563eb"/>' for cx, cy in coords)
    parts.append("</svg>")
    return "".join(parts)
