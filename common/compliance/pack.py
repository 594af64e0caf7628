"""The works-council pack: six parts in Markdown, an index README and one rendered HTML page.

`write_pack` reads everything through the caller's connection (run it in a REPEATABLE READ
transaction for one snapshot) and the settings in force, and writes only counts, settings and
the system's own descriptions: no transcript text, quotes, notes, reasons, names, call ids,
tokens or secrets. Re-running it over the same directory replaces the files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
from pydantic import BaseModel

from common.compliance import access, evidence, notice, oversight, retention, scope
from common.compliance.evidence import Evidence
from common.compliance.md import esc, render_html
from common.compliance.period import Period
from common.config import Settings
from common.db import Row

NOT_LEGAL_ADVICE = (
    "**This pack is not legal advice.** It sets out what the system records and does, from its"
    " own configuration and database, so that the employer, the works council and their"
    " advisers can assess it. Whether and how the law applies to your use is for them to"
    " decide."
)


@dataclass(frozen=True)
class Part:
    name: str  # file stem and HTML anchor
    title: str
    answers: str  # which provision it answers, in the README's words


PARTS: tuple[Part, ...] = (
    Part(
        "notice",
        "Worker notice",
        "EU AI Act Art. 26(7): an employer informs workers' representatives and the workers"
        " concerned before a high-risk AI system is used at the workplace. Says what is"
        " recorded and scored, by what, for what purpose, who sees what, how to dispute a"
        " score and how long data is kept.",
    ),
    Part(
        "oversight",
        "Human oversight record",
        "EU AI Act Art. 26(2) (human oversight by people with the competence and authority"
        " to exercise it) and Art. 14: the scores held for a person, reviews, overrides,"
        " disputes and their outcomes in the period.",
    ),
    Part(
        "access",
        "Access log summary",
        "EU AI Act Art. 26(6) and Art. 12: logs kept, and who read what, summarised by role"
        " and action.",
    ),
    Part(
        "retention",
        "Retention settings in force",
        "EU AI Act Art. 26(6) (logs kept at least six months) and the GDPR's storage"
        " limitation (Art. 5(1)(e)): how long data is kept, what is deleted, erasures done.",
    ),
    Part(
        "evidence",
        "Validity and agreement evidence",
        "EU AI Act Art. 26(5): the deployer monitors the system's operation. How far the AI's"
        " scores agree with managers' and relate to outcomes, or why that is not available"
        " yet.",
    ),
    Part(
        "scope",
        "Scope statement",
        "EU AI Act Art. 5(1)(f): emotion recognition at the workplace is prohibited (Art."
        " 3(39) defines it on biometric data). States that the system reads the text of calls"
        " only: no voice, video or emotion recognition.",
    ),
)


class PackFiles(BaseModel):
    directory: Path
    parts: dict[str, Path]  # part name -> its Markdown file
    readme: Path
    html: Path

    @property
    def paths(self) -> list[Path]:
        return [*self.parts.values(), self.readme, self.html]


def write_pack(
    conn: psycopg.Connection[Row],
    settings: Settings,
    out_dir: Path,
    start: date,
    end: date,
    evidence: Evidence | None = None,
) -> PackFiles:
    """Write the pack for the UTC days `start` to `end` (both included) into `out_dir`."""
    period = Period(start, end)
    texts = render_parts(conn, settings, period, evidence)
    generated = datetime.now(UTC)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for part in PARTS:
        files[part.name] = out_dir / f"{part.name}.md"
        files[part.name].write_text(texts[part.name], encoding="utf-8")
    readme = out_dir / "README.md"
    readme.write_text(index(period, generated, lambda p: f"{p.name}.md"), encoding="utf-8")
    page = out_dir / "pack.html"
    sections = [("readme", "About this pack", index(period, generated, lambda p: f"#{p.name}"))]
    sections += [(p.name, p.title, texts[p.name]) for p in PARTS]
    page.write_text(render_html(f"Works-council pack, {period.label}", sections), "utf-8")
    return PackFiles(directory=out_dir, parts=files, readme=readme, html=page)


def render_parts(
    conn: psycopg.Connection[Row], s: Settings, period: Period, given: Evidence | None
) -> dict[str, str]:
    """Each part's Markdown, by part name."""
    return {
        "notice": notice.render(notice.build(conn, s)),
        "oversight": oversight.render(oversight.build(conn, s, period)),
        "access": access.render(access.build(conn, period)),
        "retention": retention.render(retention.build(conn, s, period)),
        "evidence": evidence.render(evidence.build(conn, s, period, given)),
        "scope": scope.render(scope.build(s)),
    }


def index(period: Period, generated: datetime, link: Callable[[Part], str]) -> str:
    """The README: what each part is and which provision it answers; `link` names a part's
    target (its file, or its anchor in the HTML page)."""
    rows = "\n".join(f"| [{esc(p.title)}]({link(p)}) | {p.answers} |" for p in PARTS)
    return (
        "\n\n".join(
            [
                "# Works-council pack: AI assessment of sales calls",
                f"Period: {esc(period.label)}. Generated {generated:%Y-%m-%d %H:%M} UTC from"
                " the system's database and the settings in force.",
                NOT_LEGAL_ADVICE,
                "## Why these papers",
                "Under the EU AI Act, an AI system intended to monitor and evaluate the"
                " performance and behaviour of people at work is high-risk (Annex III, point"
                " 4(b)). This system scores sales calls for coaching, so an employer using it"
                " is a deployer with the duties of Art. 26, and emotion recognition at the"
                " workplace is prohibited (Art. 5(1)(f), save for medical or safety"
                " reasons). Each part below answers one of these:",
                "| Part | What it answers |\n| :-- | :-- |\n" + rows,
                "## What it does not cover",
                "The provider's instructions for use and technical documentation, a data"
                " protection impact assessment (GDPR Art. 35), national co-determination"
                " rules and agreements, and the dates from which each obligation applies.",
            ]
        )
        + "\n"
    )
