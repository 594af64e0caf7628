"""Job roles: what a person does on calls (an account executive, a sales engineer, customer
success, or a role the company names), with history. Owner of `user_roles` (migration 0024).

Not the access role (`users.role`: rep / manager / admin, what a person may see). The job role
chooses the rubric variants a call is scored with (a variant naming `roles:`) and the group a
rep is compared and ranked in: scores under different rubrics are not comparable, so an SE is
never ranked against AEs.

Where a role comes from: Gong's user title, mapped by `JOB_ROLE_TITLES` (the first phrase found
in the title, case-insensitive; none: `DEFAULT_JOB_ROLE`), on every user sync and when a call's
rep is first stored; or an admin (`sales-coach set-job-role`, the MCP tool `set_job_role`),
whose word wins: Gong's title no longer changes the role until an admin changes it again.

A role is in force over [since, until); a person's first row starts at -infinity, so every
call has a role, the one in force when it started (`role_at`, `ROLE_AT_CALL`). Rows are never
deleted: a change closes the row in force, and a backdated change closes the rows it covers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import psycopg
from pydantic import BaseModel, Field

from common.access.scope import Caller, find_rep, require_role
from common.config import Settings
from common.db import Row
from common.errors import InvalidRequest

DEFAULT_ROLE = "ae"
DEFAULT_TITLES = "account executive=ae,sales engineer=se,solutions=se,customer success=csm"
SLUG = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
LABELS = {"ae": "account executive", "se": "sales engineer", "csm": "customer success"}

# The role of a call's rep when the call started: join it as `jr` (LEFT: a rep with no row
# yet has the default role, `coalesce(jr.job_role, <default>)`). `{rep}` and `{at}` are the
# columns of the rep's id and the call's start; a person's periods never overlap.
ROLE_AT_CALL = (
    "LEFT JOIN user_roles jr ON jr.user_id = {rep} AND jr.since <= {at}"
    " AND {at} < coalesce(jr.until, 'infinity')"
)


def label(role: str) -> str:
    """A role as people read it: `se` -> "sales engineer"; a company's own slug as written."""
    return LABELS.get(role, role.replace("_", " "))


def check_slug(role: str) -> str:
    role = role.strip().lower()
    if not SLUG.fullmatch(role):
        raise InvalidRequest(
            f"job role {role[:50]!r} is not a slug: lower-case letters, digits and '_', starting"
            " with a letter, up to 40 (e.g. ae, se, csm, partner_manager)"
        )
    return role


@dataclass(frozen=True)
class TitleMap:
    """Gong's job title -> role: the first listed phrase the title contains wins."""

    pairs: tuple[tuple[str, str], ...]
    default: str = DEFAULT_ROLE

    @classmethod
    def parse(cls, text: str, default: str = DEFAULT_ROLE) -> TitleMap:
        """`phrase=role,...` as in JOB_ROLE_TITLES."""
        pairs = []
        for entry in filter(str.strip, text.split(",")):
            phrase, sep, role = entry.rpartition("=")
            if not sep or not phrase.strip():
                raise InvalidRequest(f"each entry is `title phrase=role`; got {entry.strip()!r}")
            pairs.append((" ".join(phrase.lower().split()), check_slug(role)))
        return cls(tuple(pairs), check_slug(default))

    def role_for(self, title: str | None) -> str:
        folded = " ".join((title or "").lower().split())
        return next((role for phrase, role in self.pairs if phrase in folded), self.default)


DEFAULT_MAP = TitleMap.parse(DEFAULT_TITLES)


def titles_from(s: Settings) -> TitleMap:
    """JOB_ROLE_TITLES and DEFAULT_JOB_ROLE."""
    return TitleMap.parse(s.job_role_titles, s.default_job_role)


class RolePeriod(BaseModel):
    job_role: str
    label: str
    source: str = Field(description="gong: from Gong's job title; admin: set by an admin")
    since: datetime | None = Field(description="null: from the start")
    until: datetime | None = Field(description="null: in force now")
    gong_title: str | None = None
    set_by: str | None = None


class RoleChange(BaseModel):
    user_id: str
    user_name: str
    job_role: str
    label: str
    previous: str | None = Field(description="The role in force before the change")
    history: list[RolePeriod] = Field(description="Every period, in the order recorded")


# -- Gong ---------------------------------------------------------------------------------------


def apply_gong_titles(
    conn: psycopg.Connection[Row], users: Iterable[tuple[str, str | None]], titles: TitleMap
) -> int:
    """Each (user id, Gong title)'s role from its title, where no admin has set one; returns
    how many roles changed (a first role counts). Run on every user sync."""
    changed = 0
    for user_id, title in users:
        _lock(conn, user_id)
        now = _current(conn, user_id)
        role = titles.role_for(title)
        if now is not None and (now["source"] == "admin" or now["job_role"] == role):
            continue
        since = _close_at_now(conn, user_id) if now is not None else None
        _insert(conn, user_id, role, "gong", since, gong_title=title)
        changed += 1
    return changed


def ensure_role(
    conn: psycopg.Connection[Row], user_id: str, title: str | None, titles: TitleMap
) -> None:
    """A first role from the title a call's party carries, for a rep no sync has seen yet,
    so the role a call is scored under is recorded before it is scored."""
    if conn.execute("SELECT 1 FROM user_roles WHERE user_id = %s", (user_id,)).fetchone():
        return
    apply_gong_titles(conn, [(user_id, title)], titles)


# -- an admin -----------------------------------------------------------------------------------


def set_job_role(
    conn: psycopg.Connection[Row],
    user: str,
    role: str,
    *,
    set_by: str | None = None,
    since: datetime | None = None,
) -> RoleChange:
    """An admin's role for `user` (id, e-mail or full name) from `since` (default: now, or
    from the start for a person with no role yet). Kept until an admin changes it: Gong's
    title no longer applies. Setting the role a person has already been given by an admin
    changes nothing."""
    role = check_slug(role)
    user_id, name = _user(conn, user)
    _lock(conn, user_id)
    now = _current(conn, user_id)
    previous = now["job_role"] if now else None
    unchanged = now is not None and now["source"] == "admin" and previous == role
    if not (unchanged and since is None):
        start = _close_from(conn, user_id, since) if now is not None else since
        _insert(conn, user_id, role, "admin", start, set_by=set_by)
    return RoleChange(
        user_id=user_id,
        user_name=name,
        job_role=role,
        label=label(role),
        previous=previous,
        history=history(conn, user_id),
    )


def set_job_role_as(
    conn: psycopg.Connection[Row], caller: Caller, user: str, role: str
) -> RoleChange:
    """`set_job_role` for an admin signed in (the MCP tool): admins only."""
    require_role(caller, "admin")
    user_id, _ = find_rep(conn, caller, user)
    return set_job_role(conn, user_id, role, set_by=caller.id)


def _user(conn: psycopg.Connection[Row], user: str) -> tuple[str, str]:
    row = conn.execute(
        """SELECT id, name FROM users
           WHERE id = %(u)s OR lower(email) = lower(%(u)s) OR lower(name) = lower(%(u)s)
           ORDER BY (id = %(u)s) DESC, deleted_at NULLS FIRST, id LIMIT 1""",
        {"u": user},
    ).fetchone()
    if row is None:
        raise InvalidRequest(f"no user matching {user[:100]!r} (use an id, e-mail or full name)")
    return str(row["id"]), str(row["name"])


# -- reading ------------------------------------------------------------------------------------


def role_at(
    conn: psycopg.Connection[Row],
    user_id: str | None,
    at: datetime | None,
    default: str = DEFAULT_ROLE,
) -> str:
    """The user's role at `at` (None: now); `default` for a user with no role recorded."""
    if user_id is None:
        return default
    row = conn.execute(
        "SELECT job_role FROM user_roles WHERE user_id = %(u)s"
        " AND since <= coalesce(%(at)s, now()) AND coalesce(%(at)s, now()) < coalesce(until,"
        " 'infinity') LIMIT 1",
        {"u": user_id, "at": at},
    ).fetchone()
    return str(row["job_role"]) if row else default


def roles_at(
    conn: psycopg.Connection[Row],
    user_ids: Iterable[str],
    at: datetime,
    default: str = DEFAULT_ROLE,
) -> dict[str, str]:
    """Each user's role at `at`, in one query (`default` for those with none recorded)."""
    rows = conn.execute(
        "SELECT u.id, coalesce(jr.job_role, %s) AS job_role FROM unnest(%s::text[]) AS u(id) "
        + ROLE_AT_CALL.format(rep="u.id", at="%s::timestamptz"),
        (default, list(user_ids), at, at),
    ).fetchall()
    return {str(r["id"]): str(r["job_role"]) for r in rows}


def current_roles(
    conn: psycopg.Connection[Row], user_ids: Iterable[str], default: str = DEFAULT_ROLE
) -> dict[str, str]:
    """Each user's role now (`default` for those with none recorded)."""
    ids = list(user_ids)
    rows = conn.execute(
        "SELECT user_id, job_role FROM current_job_roles WHERE user_id = ANY(%s)", (ids,)
    ).fetchall()
    found = {str(r["user_id"]): str(r["job_role"]) for r in rows}
    return {u: found.get(u, default) for u in ids}


def history(conn: psycopg.Connection[Row], user_id: str) -> list[RolePeriod]:
    """Every period of the user's roles in the order they were recorded (an empty period:
    a later, backdated change covered it)."""
    rows = conn.execute(
        "SELECT job_role, source, nullif(since, '-infinity') AS since, until, gong_title,"
        " set_by FROM user_roles WHERE user_id = %s ORDER BY id",
        (user_id,),
    ).fetchall()
    return [
        RolePeriod(
            job_role=r["job_role"],
            label=label(r["job_role"]),
            source=r["source"],
            since=r["since"],
            until=r["until"],
            gong_title=r["gong_title"],
            set_by=r["set_by"],
        )
        for r in rows
    ]


# -- the periods --------------------------------------------------------------------------------


def _lock(conn: psycopg.Connection[Row], user_id: str) -> None:
    """One change to a person's periods at a time (a sync and an admin together)."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('user_roles:' || %s, 0))", (user_id,)
    )


def _current(conn: psycopg.Connection[Row], user_id: str) -> Row | None:
    return conn.execute(
        "SELECT job_role, source FROM user_roles WHERE user_id = %s AND until IS NULL",
        (user_id,),
    ).fetchone()


def _close_at_now(conn: psycopg.Connection[Row], user_id: str) -> datetime:
    row = conn.execute(
        "UPDATE user_roles SET until = greatest(since, now()) WHERE user_id = %s"
        " AND until IS NULL RETURNING until",
        (user_id,),
    ).fetchone()
    assert row is not None
    return row["until"]  # type: ignore[no-any-return]


def _close_from(conn: psycopg.Connection[Row], user_id: str, since: datetime | None) -> datetime:
    """Close every period reaching past `since` (None: now) at `since`; a period starting at
    or after it (one an admin dated ahead) becomes empty, kept as history. Returns the new
    period's start."""
    row = conn.execute("SELECT coalesce(%s, now()) AS at", (since,)).fetchone()
    assert row is not None
    start: datetime = row["at"]
    conn.execute(
        "UPDATE user_roles SET until = greatest(since, %(s)s) WHERE user_id = %(u)s"
        " AND coalesce(until, 'infinity') > %(s)s",
        {"u": user_id, "s": start},
    )
    return start


def _insert(
    conn: psycopg.Connection[Row],
    user_id: str,
    role: str,
    source: str,
    since: datetime | None,
    *,
    gong_title: str | None = None,
    set_by: str | None = None,
) -> None:
    """A period from `since` (None: a first role, from the start) with no end."""
    conn.execute(
        "INSERT INTO user_roles (user_id, job_role, source, gong_title, since, set_by)"
        " VALUES (%s, %s, %s, %s, coalesce(%s, '-infinity'::timestamptz), %s)",
        (user_id, role, source, gong_title, since, set_by),
    )
