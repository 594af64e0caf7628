"""The works-council pack on real Postgres: a planted world of held scores, reviews, overrides,
disputes, reads, erasures and old rows, and each part stating exactly those counts and the
settings in force; the HTML holding every part; nothing personal or secret in any file."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from common.compliance import PARTS, Evidence, PackFiles, write_pack
from common.config import DIMENSIONS, Settings, load_settings
from common.db import Row
from common.errors import InvalidRequest
from common.rubrics import load as load_rubrics

TODAY = datetime.now(UTC).date()
START, END = TODAY - timedelta(days=30), TODAY
IN = datetime.now(UTC) - timedelta(days=10)  # inside the period
BEFORE = datetime.combine(START, datetime.min.time(), tzinfo=UTC) - timedelta(days=5)
# Personal or secret text planted in the database and settings: none may reach the pack.
SECRETS = (
    "TRANSCRIPT-SECRET",
    "QUOTE-SECRET",
    "NOTE-SECRET",
    "REASON-SECRET",
    "RESOLUTION-SECRET",
    "TITLE-SECRET",
    "TOKEN-SECRET",
    "sk-ant-SECRET",
    "HMAC-SECRET",
    "name-secret",
    "person@secret.example",
    "call-secret",
    "user-secret",
)
REP1, REP2, MGR, ADMIN = "user-secret-r1", "user-secret-r2", "user-secret-m1", "user-secret-a1"


@dataclass
class World:
    settings: Settings
    conn: psycopg.Connection[Row]


def _settings(db_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": db_url,
        "retention_years": 3,
        "redact": "email,phone",
        "audit_share": 0.1,
        "scoring_cascade": "claude-haiku-5-5x3>claude-sonnet-5-5x1",
        "anthropic_api_key": "sk-ant-SECRET-key",
        "webhook_hmac_secret": "HMAC-SECRET",
        "score_alert_below": 2.5,
        **overrides,
    }
    return load_settings(**values)


def _session(
    conn: psycopg.Connection[Row],
    call_id: str,
    dimension: str,
    state: str,
    score: float,
    at: datetime = IN,
) -> int:
    result = {
        "coaching_note": "the customer said TRANSCRIPT-SECRET about budgets",
        "criteria": [
            {"criterion_id": "x", "score": score, "evidence": [{"quote": "QUOTE-SECRET"}]}
        ],
        "review_reasons": ["samples disagree"] if state == "needs_review" else [],
    }
    row = conn.execute(
        "INSERT INTO coaching_sessions (created_at, call_id, rep_id, dimension, model, cache_key,"
        " transcript_hash, rubric_version, status, overall_score, result, state)"
        " SELECT %s, %s, primary_user_id, %s, 'm', 'k', 'h', '1.0.0', 'completed', %s, %s, %s"
        " FROM calls WHERE id = %s RETURNING id",
        (at, call_id, dimension, score, Jsonb(result), state, call_id),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def _word(
    conn: psycopg.Connection[Row],
    call_id: str,
    dimension: str,
    score: int,
    source: str,
    ref: str,
    confirms: bool = False,
) -> int:
    row = conn.execute(
        "INSERT INTO manager_scores (call_id, rep_id, reviewer_id, dimension, criterion, score,"
        " note, source, source_ref, scored_at, confirms_ai)"
        " SELECT %s, primary_user_id, %s, %s, 'overall', %s, 'NOTE-SECRET', %s, %s, %s, %s"
        " FROM calls WHERE id = %s RETURNING id",
        (call_id, MGR, dimension, score, source, ref, IN, confirms, call_id),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def _dispute(
    conn: psycopg.Connection[Row], call_id: str, dimension: str, status: str, ms: int | None
) -> None:
    resolved = IN + timedelta(days=2) if status != "open" else None
    conn.execute(
        "INSERT INTO disputes (call_id, rep_id, dimension, ai_score, reason, status, opened_at,"
        " resolved_by, resolved_at, resolution, manager_score_id)"
        " SELECT %s, primary_user_id, %s, 3, 'REASON-SECRET', %s, %s, %s, %s,"
        " 'RESOLUTION-SECRET', %s FROM calls WHERE id = %s",
        (call_id, dimension, status, IN, MGR if resolved else None, resolved, ms, call_id),
    )


def _plant(conn: psycopg.Connection[Row]) -> None:
    conn.execute(
        "INSERT INTO users (id, email, name, role, manager_id) VALUES"
        " (%s, 'person@secret.example', 'name-secret manager', 'manager', NULL),"
        " (%s, 'r1@secret.example', 'name-secret one', 'rep', %s),"
        " (%s, 'r2@secret.example', 'name-secret two', 'rep', %s),"
        " (%s, 'a1@secret.example', 'name-secret admin', 'admin', NULL)",
        (MGR, REP1, MGR, REP2, MGR, ADMIN),
    )
    conn.execute(
        "INSERT INTO users (id, name, role, deleted_at) VALUES ('user-secret-gone', 'x', 'rep',"
        " now())"
    )
    for i, rep, started in (
        (1, REP1, IN),
        (2, REP1, IN),
        (3, REP2, IN),
        (4, REP2, IN),
        (5, REP2, BEFORE),
        (9, REP2, datetime.now(UTC) - timedelta(days=4 * 366)),  # past the 3-year cutoff
    ):
        conn.execute(
            "INSERT INTO calls (id, title, primary_user_id, started_at) VALUES (%s, %s, %s, %s)",
            (f"call-secret-{i}", f"TITLE-SECRET {i}", rep, started),
        )
    # The gate: in the period 7 scores, 3 held (2 answered since, 1 still held); one more held
    # from before the period.
    _session(conn, "call-secret-1", "discovery", "needs_review", 2.0)
    _session(conn, "call-secret-1", "objections", "needs_review", 3.0)
    _session(conn, "call-secret-2", "discovery", "needs_review", 2.2)
    _session(conn, "call-secret-2", "objections", "published", 3.4)
    _session(conn, "call-secret-3", "discovery", "published", 2.0)
    _session(conn, "call-secret-3", "objections", "published", 3.0)
    _session(conn, "call-secret-4", "engagement", "published", 3.6)
    _session(conn, "call-secret-5", "engagement", "needs_review", 4.0, at=BEFORE)
    # A person's word: a review confirming, a review changing 2.2 to 4, an upheld dispute, an
    # overriding dispute (2.0 to 4), and a Gong scorecard that agrees with the AI (4 for 3.6).
    _word(conn, "call-secret-1", "objections", 3, "mcp", "review:1:overall", confirms=True)
    _word(conn, "call-secret-2", "discovery", 4, "mcp", "review:2:overall")
    upheld = _word(conn, "call-secret-2", "objections", 3, "mcp", "dispute:1", confirms=True)
    overridden = _word(conn, "call-secret-3", "discovery", 4, "mcp", "dispute:2")
    _word(conn, "call-secret-4", "engagement", 4, "gong", "card:1")
    _dispute(conn, "call-secret-2", "objections", "upheld", upheld)
    _dispute(conn, "call-secret-3", "discovery", "overridden", overridden)
    _dispute(conn, "call-secret-3", "objections", "open", None)
    # Reads: a rep their own call twice; the manager two of their reps' calls and a report; the
    # admin an analysis; a reader no longer in users; one read before the period; one from
    # four years ago (past the cutoff); an action name that is markup.
    for user, action, call, at in (
        (REP1, "get_call_coaching", "call-secret-1", IN),
        (REP1, "get_call_coaching", "call-secret-1", IN),
        (MGR, "get_call_coaching", "call-secret-1", IN),
        (MGR, "get_call_coaching", "call-secret-3", IN),
        (MGR, "get_weekly_report", None, IN),
        (ADMIN, "analyze_call", "call-secret-4", IN),
        ("user-secret-left", "get_call_coaching", "call-secret-2", IN),
        (REP2, "get_call_coaching", "call-secret-3", BEFORE),
        (REP2, "get_call_coaching", None, datetime.now(UTC) - timedelta(days=4 * 366)),
        (ADMIN, "<script>alert(1)</script>", None, IN),
    ):
        conn.execute(
            "INSERT INTO access_log (at, user_id, action, call_id, subject)"
            " VALUES (%s, %s, %s, %s, %s)",
            (at, user, action, call, "team:user-secret-m1" if call is None else None),
        )
    conn.execute(
        "INSERT INTO api_tokens (token_hash, user_id, label) VALUES ('TOKEN-SECRET', %s, 'x')",
        (REP1,),
    )
    conn.execute(
        "INSERT INTO erasures (at, requested_by, kind, calls, counts) VALUES"
        " (%s, 'name-secret dpo', 'email', 2, '{}'), (%s, 'name-secret dpo', 'phone', 1, '{}'),"
        " (%s, 'name-secret dpo', 'email', 5, '{}')",
        (IN, IN, BEFORE),
    )
    deal = conn.execute(
        "INSERT INTO deals (crm_system, opportunity_id, name, outcome) VALUES"
        " ('Salesforce', 'o1', 'name-secret deal', 'won') RETURNING id"
    ).fetchone()
    assert deal is not None
    conn.execute(
        "INSERT INTO call_deals (call_id, deal_id) VALUES ('call-secret-3', %s),"
        " ('call-secret-4', %s)",
        (deal["id"], deal["id"]),
    )


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        _plant(conn)
        yield World(_settings(db_url), conn)


@pytest.fixture
def pack(world: World, tmp_path: Path) -> PackFiles:
    return write_pack(world.conn, world.settings, tmp_path / "pack", START, END)


def text(files: PackFiles, part: str) -> str:
    return files.parts[part].read_text()


def plain(markdown: str) -> str:
    """Markdown with its escapes undone and lines joined: what a reader reads."""
    return re.sub(r"\\(.)", r"\1", " ".join(markdown.split()))


def table_rows(markdown: str) -> list[list[str]]:
    """Every table row's cells (header rows included), escapes undone."""
    return [
        [plain(c) for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        for line in markdown.splitlines()
        if line.startswith("|") and not line.startswith("| :--")
    ]


def test_the_oversight_record_counts_held_scores_reviews_overrides_and_disputes(
    pack: PackFiles,
) -> None:
    md = text(pack, "oversight")
    said = plain(md)
    assert (
        "Scores made in the period (one per call and dimension): 7. Published by the gate: 4."
        " Held for a person: 3; of these, answered by a person: 2, still held: 1." in said
    )
    rows = table_rows(md)
    assert ["discovery", "3", "1", "2", "1", "1"] in rows  # scored, published, held, answered
    assert ["objections", "3", "2", "1", "1", "0"] in rows
    assert (
        "People gave their word on 5 scores in the period: 2 confirmed the AI's score, 3 gave"
        " their own score, of which 2 changed it (overrides)." in said
    )
    assert ["answer to the review queue (a score the gate held)", "2", "1", "1", "1"] in rows
    assert ["resolution of a rep's dispute", "2", "1", "1", "1"] in rows
    assert ["a manager's Gong scorecard", "1", "0", "1", "0"] in rows  # 4 for the AI's 3.6
    assert (
        "Reps opened 3 disputes in the period: 1 upheld (the AI's score stands), 1 overridden"
        " (the manager changed the score), 1 still open. Disputes decided in the period,"
        " whenever opened: 2. The median time from dispute to decision was 2 days." in said
    )
    assert ["objections", "2", "1", "0", "1"] in rows  # opened, upheld, overridden, open
    # held now: the one of the period and the one from before it
    assert "Scores waiting for a person at the time of writing (whenever made): 2." in said
    assert ["engagement", "1", BEFORE.date().isoformat()] in rows


def test_the_access_summary_counts_reads_by_role_and_action_in_the_period(
    pack: PackFiles,
) -> None:
    md = text(pack, "access")
    rows = table_rows(md)
    # role, action, reads, people, calls, of another's call
    assert ["rep", "get_call_coaching", "2", "1", "1", "0"] in rows
    assert ["manager", "get_call_coaching", "2", "1", "2", "2"] in rows
    assert ["manager", "get_weekly_report", "1", "1", "0", "0"] in rows
    assert ["admin", "analyze_call", "1", "1", "1", "1"] in rows
    assert ["removed user", "get_call_coaching", "1", "1", "1", "1"] in rows
    assert "Entries in the access log: 8 (by role: admin 2, manager 3, removed user 1, rep 2)." in (
        plain(md)
    )


def test_the_retention_part_states_the_settings_in_force_and_what_is_overdue(
    world: World, pack: PackFiles
) -> None:
    md = text(pack, "retention")
    rows = table_rows(md)
    s = world.settings
    assert ["RETENTION_YEARS", str(s.retention_years)] in rows
    assert ["MCP_TOKEN_DAYS (days an access token is valid)", str(s.mcp_token_days)] in rows
    redacted = ", ".join(s.redact_kinds)
    assert set(redacted.split(", ")) == {"email", "phone"}
    assert ["REDACT (replaced before storing or sending to the AI)", redacted] in rows
    cutoff = TODAY.replace(year=TODAY.year - s.retention_years, day=min(TODAY.day, 28))
    [[_, shown]] = [r for r in rows if r[0] == "Deleted: data from before"]
    assert abs((date.fromisoformat(shown) - cutoff).days) <= 3
    assert ["calls", "1"] in rows and ["access log", "1"] in rows  # the 4-year-old ones
    said = plain(md)
    assert "2 rows from before the cutoff are still kept" in said
    assert "deleted 3 years after the call or the event" in said
    assert "This keeps the logs 36 months, at least the 6 months Art. 26(6)" in said
    assert "Erasure requests carried out: 2 (by email 1, by phone 1), erasing 3 calls." in said


def test_the_notice_states_the_configuration_not_prose(world: World, pack: PackFiles) -> None:
    said = plain(text(pack, "notice"))
    rubrics = load_rubrics(world.settings.rubrics_dir)
    for d in DIMENSIONS:
        rubric = rubrics.rubrics[d]
        assert f"{rubric.title} ({d}, version {rubric.version}): " in said
        assert all(c.name in said for c in rubric.criteria)
        assert f"{d}: 3 samples of claude-haiku-5-5, then 1 sample of claude-sonnet-5-5" in said
    assert "Active users today: 2 reps, 1 manager, 1 admin." in said  # the removed one not
    redacted = ", ".join(world.settings.redact_kinds)
    assert f"before a transcript is stored or sent to the AI: {redacted}." in said
    assert "deleted 3 years after the call or the event (RETENTION_YEARS)" in said
    assert "A share of 0.1 of published scores is also drawn" in said
    assert "a rep's manager is alerted when a call scores below 2.5" in said
    assert "talk ratio rep" in said  # a conversation metric, by its field's name
    assert "`dispute_score`" in said and "To be completed by the employer" in said


def test_the_notice_follows_other_settings(world: World, tmp_path: Path) -> None:
    s = _settings(
        world.settings.database_url,
        retention_years=7,
        redact="",
        scoring_cascade="",
        claude_model="claude-opus-9",
        audit_share=0,
        score_alert_below=None,
    )
    files = write_pack(world.conn, s, tmp_path / "other", START, END)
    said = plain(text(files, "notice"))
    assert "deleted 7 years after" in said and "1 sample of claude-opus-9" in said
    assert "the REDACT setting is empty" in said and "AUDIT_SHARE is 0" in said
    assert "Alerts on low or falling scores: off." in said
    assert "claude-haiku" not in said
    assert ["RETENTION_YEARS", "7"] in table_rows(text(files, "retention"))


def test_the_scope_statement_says_text_only(pack: PackFiles) -> None:
    said = plain(text(pack, "scope"))
    assert "no voice analysis, no video analysis and no emotion recognition" in said
    assert "never for media (the audio and video URLs)" in said
    assert "/v2/calls/transcript" in said
    assert 'engagement, Energy and rapport: uses "tone"' in said  # listed for a person


def test_evidence_absent_says_what_is_missing_and_why(pack: PackFiles) -> None:
    said = plain(text(pack, "evidence"))
    assert said.count("Not available in this pack") == 2
    assert "In the period, 5 managers' scores of a dimension have the AI's score beside" in said
    assert f"sales-coach agreement --from {START} --to {END + timedelta(days=1)}" in said
    assert "Closed (won or lost) deals with at least one scored call: 1;" in said
    assert "99 more are needed" in said  # VALIDITY_MIN_DEALS 100


def test_evidence_given_is_kept_as_written(world: World, tmp_path: Path) -> None:
    given = Evidence(agreement="kappa 0.71 [0.6, 0.8]\n| 12 pairs |", validity="odds ``` 1.4")
    files = write_pack(world.conn, world.settings, tmp_path / "ev", START, END, given)
    md = text(files, "evidence")
    assert "Not available" not in md
    assert "kappa 0.71 [0.6, 0.8]\n| 12 pairs |" in md and "odds ``` 1.4" in md
    page = files.html.read_text()
    assert "kappa 0.71 [0.6, 0.8]\n| 12 pairs |" in page  # a fixed-width block, not a table
    assert "odds ``` 1.4" in page


def test_the_readme_and_the_html_hold_every_part(pack: PackFiles) -> None:
    readme = pack.readme.read_text()
    page = pack.html.read_text()
    assert "not legal advice" in readme and "not legal advice" in page
    for article in ("Annex III, point 4(b)", "Art. 26(7)", "Art. 5(1)(f)", "Art. 26(6)"):
        assert article in readme
    for part in PARTS:
        assert f"[{part.title}]({part.name}.md)" in readme
        assert f'<section id="{part.name}">' in page and f'href="#{part.name}"' in page
        first_heading = text(pack, part.name).splitlines()[0].removeprefix("# ")
        assert f"<h1>{first_heading}</h1>" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_nothing_personal_or_secret_reaches_the_pack(pack: PackFiles) -> None:
    assert sorted(p.name for p in pack.paths) == sorted(
        [f"{p.name}.md" for p in PARTS] + ["README.md", "pack.html"]
    )
    for path in pack.paths:
        content = path.read_text()
        found = [s for s in SECRETS if s.lower() in content.lower()]
        assert found == [], f"{path.name} holds {found}"


def test_a_period_ending_before_it_starts_is_refused(world: World, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="ends"):
        write_pack(world.conn, world.settings, tmp_path / "x", END, START)
    assert not (tmp_path / "x").exists()
