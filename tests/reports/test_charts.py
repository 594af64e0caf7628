from __future__ import annotations

from common.reports.charts import bar_pairs, line_chart


def test_line_chart_draws_each_series_and_skips_gaps() -> None:
    svg = line_chart(
        {
            "discovery": [("02 Nov", 3.0), ("09 Nov", None), ("16 Nov", 4.0)],
            "engagement": [("02 Nov", None), ("09 Nov", 2.0), ("16 Nov", None)],
        }
    )
    assert svg.startswith("<svg") and svg.count("<polyline") == 1  # one point alone draws no line
    assert svg.count("<circle") == 3 and "16 Nov" in svg


def test_bar_pairs_escape_and_scale() -> None:
    svg = bar_pairs([("<discovery>", 5.0, 2.5)], width=540)
    assert "&lt;discovery&gt;" in svg and 'width="370.0"' in svg and 'width="185.0"' in svg
