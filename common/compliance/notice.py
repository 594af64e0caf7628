"""The worker notice: what is recorded and scored, by what, for what, who sees what, how to
dispute, and how long it is kept (EU AI Act Art. 26(7): workers are told before use).

Every fact comes from the running configuration, not from prose kept beside it: the dimensions
(`DIMENSIONS`), the rubrics and their criteria (RUBRICS_DIR), the model cascade of each
dimension (`Settings.cascade_for`), the publish gate and audit settings, the redaction in force,
the conversation metrics (`ConversationMetrics`' fields), the retention period, the alert
settings, and how many people hold each role (`users`). Who sees what is the rule of
`common.access.scope`, stated once here.
"""

from __future__ import annotations

import psycopg
from pydantic import BaseModel

from common.calls.metrics import ConversationMetrics
from common.compliance.md import bullets, esc, number
from common.config import DIMENSIONS, Settings
from common.db import Row
from common.errors import RubricError
from common.rubrics import Rubric, RubricSet
from common.rubrics import load as load_rubrics

ROLES = ("rep", "manager", "admin")  # users.role


class Stage(BaseModel):
    model: str
    samples: int


class Scored(BaseModel):
    """A rubric: a dimension's own, or a variant used for some call types."""

    dimension: str
    variant: str | None  # None: the dimension's own rubric
    title: str
    version: str
    criteria: list[str]  # criterion names


class Notice(BaseModel):
    dimensions: list[str]
    rubrics: list[Scored]
    rubrics_error: str | None  # why the rubrics could not be read (then `rubrics` is empty)
    cascades: dict[str, list[Stage]]  # dimension -> its stages, in order
    publish_tolerance: float
    audit_share: float
    coaching_language: str
    redact_kinds: list[str]
    metrics: list[str]
    retention_years: int
    people: dict[str, int]  # role -> active users
    score_alert_below: float | None
    score_alert_drop: float | None
    report_recipients: int  # e-mail addresses weekly report links go to (count only)
    report_slack: bool


def build(conn: psycopg.Connection[Row], s: Settings) -> Notice:
    rubrics, error = _rubrics(s)
    return Notice(
        dimensions=list(DIMENSIONS),
        rubrics=rubrics,
        rubrics_error=error,
        cascades={
            d: [Stage(model=st.model, samples=st.samples) for st in s.cascade_for(d).stages]
            for d in DIMENSIONS
        },
        publish_tolerance=s.publish_tolerance,
        audit_share=s.audit_share,
        coaching_language=s.coaching_language,
        redact_kinds=list(s.redact_kinds),
        metrics=[_metric(name) for name in ConversationMetrics.model_fields],
        retention_years=s.retention_years,
        people=_people(conn),
        score_alert_below=s.score_alert_below,
        score_alert_drop=s.score_alert_drop,
        report_recipients=len([r for r in s.report_recipients.split(",") if r.strip()]),
        report_slack=s.slack_webhook_url is not None,
    )


def _metric(field: str) -> str:
    """A metric's field name as words: `longest_monologue_s` is "longest monologue (s)"."""
    words = field.removesuffix("_s").replace("_", " ")
    return f"{words} (s)" if field.endswith("_s") else words


def _rubrics(s: Settings) -> tuple[list[Scored], str | None]:
    try:
        found: RubricSet = load_rubrics(s.rubrics_dir)
    except RubricError as exc:
        return [], str(exc)
    own = [_scored(found.rubrics[d], None) for d in DIMENSIONS]
    return own + [_scored(r, name) for name, r in sorted(found.variants.items())], None


def _scored(r: Rubric, variant: str | None) -> Scored:
    return Scored(
        dimension=r.dimension,
        variant=variant,
        title=r.title,
        version=r.version,
        criteria=[c.name for c in r.criteria],
    )


def _people(conn: psycopg.Connection[Row]) -> dict[str, int]:
    rows = conn.execute(
        "SELECT role, count(*) AS n FROM users WHERE active AND deleted_at IS NULL GROUP BY role"
    ).fetchall()
    counts = {r["role"]: int(r["n"]) for r in rows}
    return {role: counts.get(role, 0) for role in ROLES}


# -- rendering -----------------------------------------------------------------------------


def render(n: Notice) -> str:
    parts = [
        "# Notice to workers: AI assessment of sales calls",
        "This notice describes the sales-call coaching system as it is configured today."
        " It is written from the system's own settings; the section on purpose has a line"
        " for your employer to complete.",
        _recorded(n),
        _scored_by(n),
        _purpose(),
        _who_sees(n),
        _disputes(),
        _kept(n),
    ]
    return "\n\n".join(parts) + "\n"


def _recorded(n: Notice) -> str:
    redaction = (
        "replaced by placeholders before a transcript is stored or sent to the AI: "
        + ", ".join(esc(k) for k in n.redact_kinds)
        if n.redact_kinds
        else "none (the REDACT setting is empty: transcripts are stored and sent as Gong gives"
        " them)"
    )
    return "\n\n".join(
        [
            "## What is recorded",
            bullets(
                [
                    "From Gong, for each call: its title, time, duration and participants, and"
                    " the transcript: the text of what was said, by which speaker, and when."
                    " No audio or video is fetched (see the scope statement).",
                    f"Personal details in transcripts: {redaction}.",
                    "Conversation metrics computed from the transcript's text and timing,"
                    " without AI: " + ", ".join(esc(m) for m in n.metrics) + ".",
                    "The AI's assessment of each call (below): a score per criterion and"
                    " dimension, quotes from the transcript as evidence, strengths, things to"
                    f" improve and a coaching note, written in {esc(n.coaching_language)}.",
                    "What people add: managers' scores and notes, reps' disputes with their"
                    " reasons and how they were resolved.",
                    "Who opened which call's coaching or which weekly report (the access log).",
                ]
            ),
        ]
    )


def _scored_by(n: Notice) -> str:
    lines = ["## What is scored, and by what"]
    if n.rubrics_error:
        lines.append(f"The rubrics could not be read: {esc(n.rubrics_error)}.")
    else:
        lines.append(
            "Each call is scored from 1 to 5 (or N/A where a rubric allows it) on these"
            " dimensions and criteria, set out in the company's rubrics:"
        )
        lines.append(bullets([_rubric_line(r) for r in n.rubrics]))
    lines.append(
        "The scores are written by Anthropic's Claude models. Each dimension is scored as"
        " follows; when a stage's samples do not hold (for example they disagree by more than"
        f" {number(n.publish_tolerance)} point, lack evidence quoted from the call, or split"
        " on N/A), the next stage is asked, and when the last stage does not hold the score is"
        " **held for a person to review** and not shown as a score until they have:"
    )
    lines.append(bullets([f"{esc(d)}: {_cascade(st)}" for d, st in n.cascades.items()]))
    audit = (
        f"A share of {number(n.audit_share)} of published scores is also drawn at random for a"
        " manager to confirm or change (the audit)."
        if n.audit_share
        else "No published scores are drawn for a manager's audit (AUDIT_SHARE is 0)."
    )
    lines.append(audit)
    return "\n\n".join(lines)


def _rubric_line(r: Scored) -> str:
    name = f"{esc(r.title)} ({esc(r.dimension)}, version {esc(r.version)})"
    if r.variant:
        name = f"variant {esc(r.variant)} of {name}, for the call types that use it"
    return f"{name}: " + "; ".join(esc(c) for c in r.criteria)


def _cascade(stages: list[Stage]) -> str:
    steps = [f"{s.samples} sample{'s' if s.samples != 1 else ''} of {esc(s.model)}" for s in stages]
    return ", then ".join(steps)


def _purpose() -> str:
    return "\n\n".join(
        [
            "## Purpose",
            "Coaching: the scores, evidence and notes tell a rep what went well on a call and"
            " what to work on, and give their manager the material for one-to-ones. The AI's"
            " scores are a suggestion a manager can confirm or change at any time; a person's"
            " score replaces the AI's in everything shown.",
            "**To be completed by the employer before use:** any use of the scores beyond"
            " coaching (for example in appraisals, pay or selection decisions), or a statement"
            " that there is none.",
        ]
    )


def _who_sees(n: Notice) -> str:
    people = ", ".join(f"{n.people[r]} {esc(r)}{'s' if n.people[r] != 1 else ''}" for r in ROLES)
    alerts = []
    if n.score_alert_below is not None:
        alerts.append(
            f"a rep's manager is alerted when a call scores below {number(n.score_alert_below)}"
            " on a dimension"
        )
    if n.score_alert_drop is not None:
        alerts.append(
            "a rep's manager is alerted when the rep's four-week average on a dimension falls"
            f" by {number(n.score_alert_drop)} or more"
        )
    alert_line = (
        "Alerts: " + "; ".join(alerts) + "." if alerts else "Alerts on low or falling scores: off."
    )
    delivery = []
    if n.report_recipients:
        delivery.append(f"e-mailed to {n.report_recipients} configured address(es)")
    if n.report_slack:
        delivery.append("posted to a configured Slack channel")
    report_line = (
        "Links to the weekly reports are " + " and ".join(delivery) + "."
        if delivery
        else "Links to the weekly reports are not sent anywhere automatically."
    )
    return "\n\n".join(
        [
            "## Who sees what",
            bullets(
                [
                    "A rep sees the scores and coaching of their own calls, and their own"
                    " weekly report.",
                    "A manager sees the calls, scores and reports of everyone below them in"
                    " the reporting line recorded in Gong (their team, at every level), and"
                    " their own. Managers answer the review queue and the disputes of their"
                    " team; nobody reviews the scores of their own calls.",
                    "An administrator sees everything, including the access log and costs.",
                    "A score held for review is seen only by managers and administrators,"
                    " as the AI's suggestion; the rep sees it once a person has confirmed or"
                    " changed it.",
                    "People no longer with the company (removed users) are hidden from"
                    " everyone but administrators.",
                ]
            ),
            f"Active users today: {people}. Everyone synced from Gong starts as a rep; whoever"
            " has people reporting to them in Gong becomes a manager; an administrator sets"
            " other roles (`sales-coach set-role`).",
            alert_line,
            report_line,
        ]
    )


def _disputes() -> str:
    return "\n\n".join(
        [
            "## How to dispute a score",
            "A rep who disagrees with a score of one of their calls disputes it in Claude"
            " Desktop (the `dispute_score` tool): the call, the dimension or a single"
            " criterion, and the reason. A manager above them (or an administrator) upholds"
            " the AI's score or gives their own (`resolve_dispute`), with a reason. Either"
            " way the manager's decision is the score shown from then on, and the dispute,"
            " its reason and its outcome are kept; the human-oversight record counts them.",
        ]
    )


def _kept(n: Notice) -> str:
    return "\n\n".join(
        [
            "## How long it is kept",
            f"Calls, transcripts, scores, managers' scores, disputes and the access log are"
            f" deleted {n.retention_years} year{'s' if n.retention_years != 1 else ''} after"
            " the call or the event (RETENTION_YEARS), by a daily job. A customer or other"
            " participant can have every call they appear in erased on request. See the"
            " retention settings in this pack.",
        ]
    )
