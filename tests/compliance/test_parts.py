"""The pack's parts held to the code they describe: the Gong endpoints and fields the scope
statement names, the access-log actions, the tables retention deletes, the rubric criteria
listed for a person to check; and Markdown escaping that keeps data from becoming markup."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

import common
from common.compliance import access, md, notice, retention, scope
from common.config import ROOT, Settings, load_settings
from common.lifecycle.retention import apply_retention

COMMON = Path(common.__file__).parent


def _settings(**overrides: object) -> Settings:
    return load_settings(database_url="postgresql://unused/none", **overrides)


def test_escaped_values_stay_text_in_tables_and_lines() -> None:
    hostile = "a|b <i>x</i> [l](javascript:alert(1)) *bold* &amp;"
    page = md.render_html("t", [("s", "S", md.table(["Role", "N"], [(hostile, 3)]))])
    [row] = re.findall(r"<tr>\s*<td[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>\s*</tr>", page, re.S)
    assert row == (
        "a|b &lt;i&gt;x&lt;/i&gt; [l](javascript:alert(1)) *bold* &amp;amp;",
        "3",
    )
    section = page.split('<section id="s">')[1]
    assert "<i>" not in section and "<a " not in section and "<em>" not in section
    for leading in ("# title", "- item", "+ item", "1. item", "12) item"):
        html = md.render_html("t", [("s", "S", f"- {md.esc(leading)}")])
        assert f"<li>{leading}</li>" in html
    assert md.esc("2026-11-03") == "2026-11-03" and md.esc("3.5") == "3.5"


def test_the_scope_statement_names_every_gong_endpoint_the_client_reads() -> None:
    source = (COMMON / "gong.py").read_text()
    read = set(re.findall(r'"(/v2/[a-z/-]+)"', source))
    assert read and read == set(scope.GONG_READS)


def test_the_scope_statement_follows_the_gong_fields_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    said = scope.render(scope.build(_settings()))
    assert "asks only for parties, and never for media" in said
    monkeypatch.setattr(
        scope, "CONTENT_SELECTOR", {"exposedFields": {"parties": True, "media": True}}
    )
    asked = scope.build(_settings())
    assert asked.media_requested
    said = scope.render(asked)
    assert "The system asks Gong for media" in said and "never for media" not in said


def test_criteria_about_feelings_are_listed_for_a_person(tmp_path: Path) -> None:
    rubrics = tmp_path / "rubrics"
    shutil.copytree(ROOT / "rubrics", rubrics)
    engagement = rubrics / "engagement.yaml"
    engagement.write_text(engagement.read_text().replace("Warm, attentive tone;", "Warm;"))
    discovery = rubrics / "discovery.yaml"
    discovery.write_text(discovery.read_text().replace(" feels", " costs"))
    found = scope.build(_settings(rubrics_dir=rubrics))
    assert found.flagged == [] and found.rubrics_error is None
    assert "No criterion of the rubrics in force" in scope.render(found)

    patience = "Pauses before answering, lets the customer finish,"
    engagement.write_text(
        engagement.read_text().replace(patience, "Stays calm when the customer is frustrated;")
    )
    [flagged] = scope.build(_settings(rubrics_dir=rubrics)).flagged
    assert (flagged.dimension, flagged.criterion, flagged.words) == (
        "engagement",
        "Patience",
        ["frustrated"],
    )


def test_unreadable_rubrics_are_said_not_hidden(db_url: str, tmp_path: Path) -> None:
    s = _settings(rubrics_dir=tmp_path / "missing")
    assert "The rubrics could not be read" in scope.render(scope.build(s))
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        said = notice.render(notice.build(conn, s))
    assert "The rubrics could not be read" in said and "missing" in said


def test_the_access_summary_names_every_action_the_system_logs() -> None:
    logged = set()
    for path in COMMON.rglob("*.py"):
        logged |= set(re.findall(r'log_access\(\s*conn,\s*[^,]+,\s*"(\w+)"', path.read_text()))
    assert logged and logged == set(access.LOGGED_ACTIONS)


def test_the_retention_part_describes_what_the_job_deletes(db_url: str) -> None:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        removed = apply_retention(conn, 50)  # nothing is that old: only the keys matter
        conn.rollback()
    assert set(removed) - {"objects"} == set(retention.DELETED)
