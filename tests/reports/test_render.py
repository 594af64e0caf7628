"""Report rendering and delivery: escaping of transcript text, email through a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from common.config import load_settings
from common.reports.numbers import Evidence, MetricCheck, RepReport
from common.reports.render import deliver, render_index, render_rep, report_key
from local.serve import free_port

WEEK = date(2026, 11, 16)
NO_CHANGE = {d: None for d in ("product_knowledge", "discovery", "objections", "engagement")}


def rep_report(**fields: Any) -> RepReport:
    """A rep's report of WEEK with one call and nothing in it but `fields`."""
    base: dict[str, Any] = {
        "rep_id": "r1",
        "rep_name": "Dana",
        "manager_id": None,
        "week_start": WEEK,
        "calls": 1,
        "scores": {},
        "previous": {},
        "change": NO_CHANGE,
        "trend": {"discovery": [("16 Nov", 3.5)]},
        "metrics": [],
        "best_call": None,
        "weakest_call": None,
        "strengths": [],
        "improvements": [],
    }
    return RepReport(**(base | fields))


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


def test_report_links_are_emailed(smtp: tuple[int, Inbox]) -> None:
    port, inbox = smtp
    s = load_settings(
        database_url="postgresql://x",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from="coach@northwind.example",
        report_recipients="maya@northwind.example",
    )
    sent = deliver(
        s,
        WEEK,
        "https://s3.example/index.html?sig=1",
        [("Maya Chen", "https://s3.example/team.html")],
    )
    assert sent == ["email"]
    ((recipients, message),) = inbox.messages
    assert recipients == ["maya@northwind.example"]
    assert message["Subject"] == "Weekly coaching reviews - week of 16 Nov 2026"
    body = message.get_payload(decode=True).decode()
    assert (
        "https://s3.example/index.html?sig=1" in body
        and "- Maya Chen: https://s3.example/team.html" in body
    )


def test_nothing_is_delivered_when_not_configured() -> None:
    assert deliver(load_settings(database_url="postgresql://x"), WEEK, "u", []) == []


def test_transcript_text_is_escaped_in_reports() -> None:
    evil = Evidence(
        text="Ask <b>more</b>",
        dimension="discovery",
        quote='<script>alert("x")</script>',
        speaker="Rep",
        timestamp="01:00",
        link="https://app.gong.io/call?id=1&t=60",
        calls=2,
    )
    report = rep_report(
        rep_name="Dana <Lee>",
        scores={"discovery": 3.5},
        previous={"discovery": 3.0},
        change=NO_CHANGE | {"discovery": 0.5},
        metrics=[MetricCheck(name="Talk ratio", value=0.4, benchmark="43%", within=True)],
        strengths=[evil],
    )
    html = render_rep(report)
    assert "<script>" not in html and "&lt;script&gt;" in html and "Dana &lt;Lee&gt;" in html
    assert "+0.50" in html and "3.50" in html
    assert "Dana" in render_index(WEEK, [], [("Dana", "https://x")])
    assert report_key(WEEK, "team", "m1") == "reports/weekly/2026-11-16/team-m1.html"


def test_only_http_links_are_rendered_as_links() -> None:
    """Gong data may carry any URL: a javascript: or data: URL is shown as text, not a link."""
    from common.reports.numbers import CallRef

    bad = "javascript:alert(document.cookie)"
    evidence = [
        Evidence(
            text=t,
            dimension="discovery",
            quote="q",
            speaker="Rep",
            timestamp="01:00",
            link=link,
            calls=1,
        )
        for t, link in (
            ("good", "https://app.gong.io/call?id=1&t=60"),
            ("bad", bad),
            ("data", "data:text/html,x"),
        )
    ]
    call = CallRef(call_id="1", title="Evil call", started_at=None, average=3.0, url=bad)
    report = rep_report(calls=2, best_call=call, weakest_call=call, strengths=evidence)
    html = render_rep(report)
    assert 'href="https://app.gong.io/call?id=1&amp;t=60"' in html
    assert 'href="javascript:' not in html and 'href="data:' not in html
    assert bad in html  # still visible, as text


def test_reports_render_any_script() -> None:
    """German and Japanese names and quotes come through as written (UTF-8, not entities);
    a dimension without a score this week shows N/A."""
    quote = Evidence(
        text="Quantify the pain before the demo",
        dimension="discovery",
        quote="半年間何も変わらなかった場合、どのような影響がありますか？",  # noqa: RUF001
        speaker="佐藤 健",
        timestamp="03:08",
        link=None,
        calls=1,
    )
    report = rep_report(
        rep_name="Jürgen Müller",
        scores={"discovery": 3.0},
        trend={"discovery": [("16 Nov", 3.0)]},
        strengths=[quote],
    )
    html = render_rep(report)
    assert "半年間何も変わらなかった場合" in html and "Jürgen Müller" in html and "佐藤 健" in html
    assert html.count(">N/A</span>") == 3  # the dimensions without a score this week
    assert 'charset="utf-8"' in html.lower() or "charset=utf-8" in html.lower()


def test_a_change_within_noise_and_held_scores_are_shown_as_such() -> None:
    report = rep_report(
        scores={"discovery": 3.5, "engagement": 4.0},
        previous={"discovery": 3.0, "engagement": 3.0},
        change=NO_CHANGE | {"discovery": 0.5, "engagement": 1.0},
        within_noise={"discovery": True, "engagement": False},
        held=2,
    )
    html = render_rep(report)
    assert "within run-to-run noise" in html and "+0.50" not in html and "+1.00" in html
    assert "2 scores held for review" in html
    from datetime import datetime

    from common.insights.performance import HeldScore
    from common.reports.numbers import TeamReport
    from common.reports.render import render_team

    held = HeldScore(
        call_id="c9",
        title="Acme pricing",
        started_at=datetime(2026, 11, 18),
        rep_id="r1",
        rep_name="Dana",
        dimension="objections",
        ai_suggestion=1.5,
        review_reasons=["no quote for price_handling"],
    )
    team = TeamReport(
        manager_id="m1",
        manager_name="Mia",
        week_start=WEEK,
        reps=[report],
        trend={"discovery": [("16 Nov", 3.5)]},
        held=[held],
        held_total=1,
    )
    html = render_team(team, {})
    assert "Held for review (1)" in html and "1.5 (suggestion)" in html
    assert "no quote for price_handling" in html and "within run-to-run noise" in html


def test_the_team_report_names_the_criteria_that_go_with_won_deals() -> None:
    """The clear criteria with their readings and the caveat; none clear; or how many more
    closed deals are needed; no section without the company's deals."""
    from common.insights.validity import CriterionReading
    from common.reports.numbers import Leadership, TeamReport
    from common.reports.render import render_team

    found = CriterionReading(
        dimension="discovery",
        criterion="<script>x</script>",  # rubric text, escaped like any other
        odds_ratio=1.8,
        ci_low=1.2,
        ci_high=2.6,
        q_value=0.012,
        deals=130,
        unit="per score point",
        clear=True,
        reading="each score point more goes with 1.80x the odds of winning (95% interval 1.20-2.60)",
    )
    section = Leadership(
        enough_deals=True,
        deals=130,
        won=61,
        reps=20,
        min_deals=100,
        more_needed=0,
        line="130 closed deals of 20 reps, 61 won: 1 of 23 criteria clearly go with winning",
        caveat="Association within reps and stages, not proof of cause.",
        top=[found],
    )
    team = TeamReport(
        manager_id="m1",
        manager_name="Mia",
        week_start=WEEK,
        reps=[],
        trend={"discovery": [("16 Nov", 3.5)]},
        leadership=section,
    )
    html = render_team(team, {})
    assert "Which criteria go with won deals" in html and "not proof of cause" in html
    assert "1.80x the odds of winning (95% interval 1.20-2.60)" in html and "0.012" in html
    assert "<script>x" not in html and "&lt;script&gt;x" in html
    none_clear = section.model_copy(update={"top": []})
    html = render_team(team.model_copy(update={"leadership": none_clear}), {})
    assert "No criterion goes clearly with winning or losing yet" in html
    few = Leadership(
        enough_deals=False,
        deals=37,
        won=20,
        reps=4,
        min_deals=100,
        more_needed=63,
        line="too few closed deals: 37 of 100, 63 more needed",
        caveat="Too few closed deals to say anything: 37 of 100, 63 more needed.",
        top=[],
    )
    html = render_team(team.model_copy(update={"leadership": few}), {})
    assert "too few closed deals: 37 of 100, 63 more needed." in html
    assert "No criterion" not in html and "<table><tr><th>dimension" not in html
    html = render_team(team.model_copy(update={"leadership": None}), {})
    assert "Which criteria go with won deals" not in html
