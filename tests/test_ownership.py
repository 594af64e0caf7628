"""One owner per table: only the owner's module writes it; everyone else calls the owner.

Read from the source: every SQL write (INSERT INTO, UPDATE, DELETE FROM, TRUNCATE, MERGE INTO,
COPY) names its table; a module that writes through an interpolated name (`DELETE FROM {}`)
must not list an owned table among the names it loops over (a tuple, list or set literal).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from common.config import ROOT

OWNERS = {
    "webhook_events": "common/intake/outbox.py",
    "claude_usage": "common/scoring/ledger.py",
    "coaching_sessions": "common/scoring/sessions.py",
    "scoring_work": "common/scoring/claims.py",
    "disputes": "common/accuracy/disputes.py",
    "score_alerts": "common/monitoring/score_alerts.py",
    "deals": "common/deals/store.py",
    "call_deals": "common/deals/store.py",
    "rep_notes": "common/repnotes/outbox.py",
    "rep_note_prefs": "common/repnotes/outbox.py",
    "rep_note_deliveries": "common/repnotes/outbox.py",
    "validity_reports": "common/validity/reports.py",
    "user_roles": "common/calls/roles.py",
    "weekly_plans": "common/plans/store.py",
    "weekly_plan_edits": "common/plans/store.py",
    "weekly_plan_deliveries": "common/plans/store.py",
}
WRITE = re.compile(
    r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?|MERGE\s+INTO|COPY)\s+"
    r"(?:ONLY\s+)?\"?([a-z_][a-z0-9_]*|\{)",
    re.IGNORECASE,
)


def product_modules() -> list[Path]:
    return sorted(p for d in ("common", "flows", "functions") for p in (ROOT / d).rglob("*.py"))


def _is(name: str, table: str) -> bool:
    return name == table or name.startswith(f"{table}_")  # or one of its partitions


def listed_names(source: str) -> set[str]:
    """String literals that stand in a tuple, list or set: names a loop may interpolate."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a snippet that is not a module: read it as plain text
        return set(re.findall(r"[\"'](\w+)[\"']", source))
    return {
        element.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Tuple | ast.List | ast.Set)
        for element in node.elts
        if isinstance(element, ast.Constant) and isinstance(element.value, str)
    }


def writers(source: str, table: str) -> bool:
    """Does this source write `table`?"""
    names = [m.group(1) for m in WRITE.finditer(source)]
    if any(_is(name, table) for name in names):
        return True
    return "{" in names and any(_is(name, table) for name in listed_names(source))


@pytest.mark.parametrize("table", sorted(OWNERS))
def test_only_the_owner_writes_the_table(table: str) -> None:
    found = [str(p.relative_to(ROOT)) for p in product_modules() if writers(p.read_text(), table)]
    assert found == [OWNERS[table]]


@pytest.mark.parametrize(
    ("source", "written"),
    [
        ('conn.execute("UPDATE webhook_events SET status = %s")', True),
        ('"INSERT INTO webhook_events (id) VALUES (1)"', True),
        ('for t in ("x", "webhook_events"):\n    run(f"DELETE FROM {t}")', True),
        (
            'counts = {"webhook_events": "SELECT count(*) FROM webhook_events"}\n'
            'for t in ("x",):\n    run(f"DELETE FROM {t}")',
            False,
        ),
        ('"DELETE FROM webhook_events_2026q1 WHERE ..."', True),  # a partition
        ('"DELETE FROM webhook_eventsx"', False),
        ('"SELECT status FROM webhook_events"', False),
        ('"UPDATE calls SET title = %s"', False),
    ],
)
def test_the_scan_sees_writes_and_only_writes(source: str, written: bool) -> None:
    assert writers(source, "webhook_events") is written
