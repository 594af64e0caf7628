"""Erasing a person: every call they appear in, everywhere we keep it.

`find` looks for the person (an e-mail address or a phone number) as a call participant (the
parties Gong sent, stored or still in the outbox), in transcripts' evidence quotes, flagged
transcript lines, managers' notes and disputes' reasons and resolutions, and asks Gong's
data-privacy API which calls reference them, so an erasure done in Gong can be repeated here.
An e-mail address must be a whole address and matches only as one (case-insensitively, not
inside a longer address: `ann@acme.example` is not found in `joann@acme.example`), since a
fragment such as `a` or `gong.io` would select every call; each text match is shown as a short
snippet with its table and column, so a person can check the dry run before `--yes`.

`erase` deletes, for those calls: the raw transcripts in object storage, the call, its coaching
sessions and their quotes, scoring work, managers' scores, eval results and cache lookups (and,
with the call, its disputes); it unlinks usage and error rows (their dollars stay,
without the call); it leaves a tombstone in the outbox (status `erased`, payload emptied) so a
later delivery is never analysed again; and it re-renders the weekly reports of the weeks
those calls fell in. Each erasure is recorded in `erasures` with who asked and the counts,
never the address.

An address that belongs to one of our own users is refused: reps and managers leave through
Gong's user management and the retention period, not by erasing every call they made.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from common.config import Settings
from common.db import Row, transaction
from common.errors import InvalidRequest
from common.gong import GongClient
from common.insights.week import monday
from common.intake import outbox
from common.reports.weekly import build_week
from common.scoring import claims, ledger, sessions
from common.storage import ObjectStore


class Match(BaseModel):
    """One place the person is named: where (`table.column`) and a short window around it."""

    found_in: str
    column: str
    snippet: str


class FoundCall(BaseModel):
    call_id: str
    title: str | None
    started_at: str | None
    found_in: list[str]
    matches: list[Match] = []


class Found(BaseModel):
    kind: str  # email | phone
    calls: list[FoundCall]
    counts: dict[str, int]
    objects: list[str]


ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-"  # the characters of an address's local part (RFC 5322)
ADDRESS = re.compile(
    rf"[{ATEXT}]+(?:\.[{ATEXT}]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+"
    r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})"
)
SNIPPET_CHARS = 40  # shown on each side of a match


def email_address(value: str) -> str:
    """`value` as an e-mail address, or a refusal: only a whole address names one person."""
    text = value.strip()
    if len(text) > 254 or not ADDRESS.fullmatch(text):
        raise InvalidRequest(
            f"not an e-mail address: {value!r}; give the person's whole address (such as"
            " jordan@acme.example), ASCII, an international domain in its xn-- form"
        )
    return text


def _digits(phone: str) -> str:
    return re.sub(r"\D", "", phone)


@dataclass(frozen=True)
class _Who:
    party: str  # SQL, true for a party (jsonb `p`) who is the person
    params: dict[str, Any]  # `who` for `party`; `like`, a cheap superset of the texts naming them
    mention: re.Pattern[str]  # the person named in a text, on its boundaries


def _who(email: str | None, phone: str | None) -> _Who:
    if email:
        return _Who(
            "lower(p->>'emailAddress') = lower(%(who)s)",
            {"who": email, "like": f"%{_escape(email)}%"},
            # not inside a longer address: no address character before, no domain after
            re.compile(
                rf"(?<![.{ATEXT}]){re.escape(email)}(?![A-Za-z0-9-]|\.[A-Za-z0-9-])",
                re.IGNORECASE | re.ASCII,
            ),
        )
    digits = _digits(phone or "")
    if len(digits) < 7:
        raise InvalidRequest("a phone number needs at least 7 digits")
    return _Who(
        "regexp_replace(coalesce(p->>'phoneNumber', ''), '\\D', '', 'g') = %(who)s",
        {"who": digits, "like": f"%{_escape(phone or '')}%"},
        re.compile(rf"(?<!\d){re.escape(phone or '')}(?!\d)"),
    )


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class _Text:
    """A text column that may name the person (jsonb: any string inside it)."""

    found_in: str
    table: str
    column: str
    key: str = "call_id"

    def query(self) -> sql.Composed:
        return sql.SQL(
            "SELECT {key} AS call_id, {column} AS value FROM {table}"
            " WHERE {column}::text ILIKE %(like)s"
        ).format(
            key=sql.Identifier(self.key),
            column=sql.Identifier(self.column),
            table=sql.Identifier(self.table),
        )


TEXTS = [
    _Text("quote", "coaching_sessions", "result"),
    _Text("flagged line", "calls", "flags", key="id"),
    _Text("manager note", "manager_scores", "note"),
    _Text("dispute", "disputes", "reason"),
    _Text("dispute", "disputes", "resolution"),
]


def _strings(value: Any) -> Iterator[str]:
    """Every string in a text or JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _snippets(text: str, mention: re.Pattern[str]) -> Iterator[str]:
    for m in mention.finditer(text):
        start, end = max(m.start() - SNIPPET_CHARS, 0), m.end() + SNIPPET_CHARS
        window = " ".join(text[start:end].split())
        yield f"{'...' if start else ''}{window}{'...' if end < len(text) else ''}"


def _text_matches(conn: psycopg.Connection[Row], who: _Who) -> dict[str, list[Match]]:
    """The calls whose texts name the person as a whole, each with its snippets; the SQL
    filter is a cheap superset (a substring), the boundaries are checked here."""
    found: dict[str, list[Match]] = {}
    for text in TEXTS:
        for r in conn.execute(text.query(), who.params).fetchall():
            for value in _strings(r["value"]):
                for snippet in _snippets(value, who.mention):
                    found.setdefault(r["call_id"], []).append(
                        Match(
                            found_in=text.found_in,
                            column=f"{text.table}.{text.column}",
                            snippet=snippet,
                        )
                    )
    return found


PARTIES = {  # where the person took part in a call: as stored, and as still in the outbox
    "participant": (
        "calls.parties",
        "SELECT c.id AS call_id, p FROM calls c, jsonb_array_elements(c.parties) p",
    ),
    "delivery": (
        "webhook_events.payload",
        "SELECT e.call_id, p FROM webhook_events e, jsonb_array_elements(coalesce("
        "e.payload->'callData'->'parties', '[]')) p WHERE e.status <> 'erased'",
    ),
}


def _party_matches(conn: psycopg.Connection[Row], who: _Who) -> dict[str, list[Match]]:
    """The calls the person took part in, each party shown by its name and address or phone."""
    found: dict[str, list[Match]] = {}
    for where, (column, parties) in PARTIES.items():
        query = (
            "SELECT DISTINCT call_id, concat_ws(' ', p->>'name', p->>'emailAddress',"
            f" p->>'phoneNumber') AS shown FROM ({parties}) s WHERE {who.party}"
        )
        for r in conn.execute(query, who.params).fetchall():  # type: ignore[arg-type]
            found.setdefault(r["call_id"], []).append(
                Match(found_in=where, column=column, snippet=r["shown"])
            )
    return found


def find(
    conn: psycopg.Connection[Row],
    *,
    email: str | None = None,
    phone: str | None = None,
    gong_calls: list[str] | None = None,
) -> Found:
    email, phone = _one_of(email, phone)
    who = _who(email, phone)
    if (
        email
        and conn.execute(
            "SELECT 1 FROM users WHERE lower(trim(email)) = lower(%s)", (email,)
        ).fetchone()
    ):
        raise InvalidRequest(
            "that address belongs to one of your Gong users: remove them in Gong; their calls"
            " leave with RETENTION_YEARS"
        )
    matches: dict[str, list[Match]] = {}
    for found in (_party_matches(conn, who), _text_matches(conn, who)):
        for call_id, ms in found.items():
            matches.setdefault(call_id, []).extend(ms)
    places = {call_id: {m.found_in for m in ms} for call_id, ms in matches.items()}
    for call_id in gong_calls or []:
        places.setdefault(call_id, set()).add("gong")
    ids = sorted(places)
    rows = {
        r["id"]: r
        for r in conn.execute(
            "SELECT id, title, started_at::text AS started_at, transcript_key FROM calls"
            " WHERE id = ANY(%s)",
            (ids,),
        ).fetchall()
    }
    return Found(
        kind="email" if email else "phone",
        calls=[
            FoundCall(
                call_id=i,
                title=rows[i]["title"] if i in rows else None,
                started_at=rows[i]["started_at"] if i in rows else None,
                found_in=sorted(places[i]),
                matches=matches.get(i, []),
            )
            for i in ids
        ],
        counts=_counts(conn, ids),
        objects=sorted(r["transcript_key"] for r in rows.values() if r["transcript_key"]),
    )


def _one_of(email: str | None, phone: str | None) -> tuple[str | None, str | None]:
    """Exactly one of them, an address checked to be one (an empty one too: it is no address)."""
    if email is not None and phone is not None:  # a caller may pass "" for the one not used
        email, phone = email.strip() or None, phone.strip() or None
    if (email is None) == (phone is None):
        raise InvalidRequest("give exactly one of --email or --phone")
    return (email_address(email) if email is not None else None), phone


COUNTED = {
    "calls": "SELECT count(*) AS n FROM calls WHERE id = ANY(%s)",
    "coaching_sessions": "SELECT count(*) AS n FROM coaching_sessions WHERE call_id = ANY(%s)",
    "scoring_work": "SELECT count(*) AS n FROM scoring_work WHERE call_id = ANY(%s)",
    "manager_scores": "SELECT count(*) AS n FROM manager_scores WHERE call_id = ANY(%s)",
    "eval_results": "SELECT count(*) AS n FROM eval_results WHERE call_id = ANY(%s)",
    "cache_lookups": "SELECT count(*) AS n FROM cache_lookups WHERE call_id = ANY(%s)",
    "access_log": "SELECT count(*) AS n FROM access_log WHERE call_id = ANY(%s)",
    "claude_usage_unlinked": "SELECT count(*) AS n FROM claude_usage WHERE call_id = ANY(%s)",
    "claude_errors_unlinked": "SELECT count(*) AS n FROM claude_errors WHERE call_id = ANY(%s)",
    "outbox_tombstones": "SELECT count(*) AS n FROM webhook_events WHERE call_id = ANY(%s)",
    "disputes": "SELECT count(*) AS n FROM disputes WHERE call_id = ANY(%s)",
}


def _counts(conn: psycopg.Connection[Row], ids: list[str]) -> dict[str, int]:
    out = {}
    for name, query in COUNTED.items():
        row = conn.execute(query, (ids,)).fetchone()  # type: ignore[arg-type]
        out[name] = int(row["n"]) if row else 0
    return out


def erase_rows(conn: psycopg.Connection[Row], found: Found) -> list[tuple[date, str | None]]:
    """Delete and unlink every row of the found calls, in the caller's transaction; returns
    the (week, rep) of each erased call, whose weekly reports must be re-rendered."""
    ids = [c.call_id for c in found.calls]
    weeks = [
        (monday(r["started_at"].date()), r["primary_user_id"])
        for r in conn.execute(
            "SELECT started_at, primary_user_id FROM calls WHERE id = ANY(%s) AND started_at IS NOT NULL",
            (ids,),
        ).fetchall()
    ]
    sessions.erase_calls(conn, ids)
    claims.erase_calls(conn, ids)
    for table in ("manager_scores", "eval_results", "cache_lookups"):
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE call_id = ANY(%s)").format(sql.Identifier(table)), (ids,)
        )
    ledger.unlink_calls(conn, ids)
    conn.execute("UPDATE claude_errors SET call_id = NULL WHERE call_id = ANY(%s)", (ids,))
    outbox.erase(conn, ids)
    conn.execute("DELETE FROM calls WHERE id = ANY(%s)", (ids,))
    return weeks


def record(conn: psycopg.Connection[Row], found: Found, requested_by: str) -> int:
    row = conn.execute(
        "INSERT INTO erasures (requested_by, kind, calls, counts) VALUES (%s, %s, %s, %s)"
        " RETURNING id",
        (
            requested_by,
            found.kind,
            len(found.calls),
            Jsonb({**found.counts, "objects": len(found.objects)}),
        ),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def forget(
    s: Settings,
    *,
    email: str | None = None,
    phone: str | None = None,
    yes: bool = False,
    requested_by: str = "unknown",
) -> dict[str, Any]:
    """Find the person's calls; with `yes`, erase them everywhere and record the erasure."""
    email, phone = _one_of(email, phone)  # before Gong is asked about a fragment
    gong_calls: list[str] = []
    if s.gong_access_key is not None:
        with GongClient.from_settings(s) as gong:
            gong_calls = gong.calls_referencing(email=email, phone=phone)
    with transaction(s.database_url) as conn:
        found = find(conn, email=email, phone=phone, gong_calls=gong_calls)
    result: dict[str, Any] = found.model_dump()
    if not yes or not found.calls:
        result["erased"] = False
        return result
    store = ObjectStore.from_settings(s)
    store.delete(found.objects)  # first: a failure below leaves the rows to find again
    with transaction(s.database_url) as conn:
        weeks = erase_rows(conn, found)
        result["erasure_id"] = record(conn, found, requested_by)
    result["reports_rerendered"] = rerender_weeks(s, store, sorted({w for w, _ in weeks}))
    result["erased"] = True
    return result


def rerender_weeks(s: Settings, store: ObjectStore, weeks: list[date]) -> list[str]:
    """Replace the stored weekly reports of these weeks with ones built from what is left
    (a report that quoted an erased call is deleted, then written again without it)."""
    done = []
    for week in weeks:
        with transaction(s.database_url) as conn:
            had = conn.execute(
                "DELETE FROM weekly_reports WHERE week_start = %s RETURNING id", (week,)
            ).fetchall()
        store.delete(store.list_keys(f"reports/weekly/{week.isoformat()}/"))
        if had:
            build_week(s, week, deliver=False)
            done.append(week.isoformat())
    return done
