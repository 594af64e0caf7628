"""A caller's scope, and lookups that never look outside it.

Refusals are `AccessDenied` and are logged (who asked for what). The text of a refusal for
something outside the caller's scope is the same as for something that does not exist, so a
rep cannot learn which names or call ids exist elsewhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NoReturn

import psycopg
from psycopg.rows import tuple_row

from common.db import Row
from common.errors import AccessDenied

log = logging.getLogger("sales_coach.access")


@dataclass(frozen=True)
class Caller:
    id: str
    name: str
    role: str  # rep | manager | admin

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def load_caller(conn: psycopg.Connection[Row], user: str) -> Caller:
    """The active user with this Gong user id or email."""
    row = conn.execute(
        "SELECT id, name, role FROM users WHERE (id = %s OR lower(email) = lower(%s))"
        " AND deleted_at IS NULL AND active",
        (user, user),
    ).fetchone()
    if row is None:
        log.warning("access denied: unknown or inactive identity")
        raise AccessDenied("this identity has no access: it is not an active Gong user here")
    return Caller(row["id"], row["name"], row["role"])


def load_caller_by_email(conn: psycopg.Connection[Row], email: str) -> Caller:
    """The active user whose e-mail is `email` (trimmed, case-insensitive); never by id."""
    rows = conn.execute(
        "SELECT id, name, role FROM users WHERE lower(trim(email)) = lower(trim(%s))"
        " AND deleted_at IS NULL AND active LIMIT 2",
        (email,),
    ).fetchall()
    if len(rows) != 1:  # none, or an address two users share: neither is this caller
        log.warning("access denied: unknown or inactive identity")
        raise AccessDenied("this identity has no access: it is not an active Gong user here")
    return Caller(rows[0]["id"], rows[0]["name"], rows[0]["role"])


# The columns ride along the recursion: joining 1,000 ids back to users cost a hash of the
# whole table. UNION over whole rows still stops at a cycle in the management chain.
_TEAM = """
WITH RECURSIVE team AS (
    SELECT id, name, role, deleted_at FROM users WHERE id = %s
    UNION
    SELECT u.id, u.name, u.role, u.deleted_at FROM users u JOIN team t ON u.manager_id = t.id
)
SELECT id, name, role FROM team WHERE deleted_at IS NULL
"""


def managers_above(conn: psycopg.Connection[Row], user_id: str) -> frozenset[str]:
    """Every manager above the user (their manager, that manager's, and so on)."""
    rows = conn.execute(
        """
        WITH RECURSIVE up AS (
            SELECT manager_id AS id FROM users WHERE id = %s
            UNION
            SELECT u.manager_id FROM users u JOIN up ON u.id = up.id
        )
        SELECT id FROM up WHERE id IS NOT NULL
        """,
        (user_id,),
    ).fetchall()
    return frozenset(r["id"] for r in rows)


def visible_reps(conn: psycopg.Connection[Row], caller: Caller) -> set[str] | None:
    """User ids whose calls the caller may see; None means everyone (admins)."""
    if caller.is_admin:
        return None
    if caller.role == "rep":
        return {caller.id}
    with conn.cursor(row_factory=tuple_row) as cur:  # a team can be 1,000 rows
        return {row[0] for row in cur.execute(_TEAM, (caller.id,)).fetchall()}


def team_members(conn: psycopg.Connection[Row], caller: Caller) -> dict[str, tuple[str, str]]:
    """id -> (name, role) of everyone the caller's team view shows (admins: all active), in
    one query (the scope and the names together)."""
    params: tuple[str, ...] = (caller.id,)
    if caller.is_admin:
        sql, params = "SELECT id, name, role FROM users WHERE deleted_at IS NULL", ()
    elif caller.role == "rep":
        sql = "SELECT id, name, role FROM users WHERE id = %s"
    else:
        sql = _TEAM
    with conn.cursor(row_factory=tuple_row) as cur:  # a team can be 1,000 rows
        return {i: (name, role) for i, name, role in cur.execute(sql, params).fetchall()}


# Is a user in a manager's team? Walked up from the user (a chain of managers is a few rows; a
# team can be 1,000): the user, if not soft-deleted, and every manager above them, through
# soft-deleted managers too, as `_TEAM` walks down through them. UNION stops at a cycle.
_IN_TEAM = """
WITH RECURSIVE up AS (
    SELECT id, manager_id FROM users WHERE id = %(user)s AND deleted_at IS NULL
    UNION
    SELECT u.id, u.manager_id FROM up JOIN users u ON u.id = up.manager_id
)
SELECT EXISTS (SELECT 1 FROM up WHERE id = %(caller)s) AS ok
"""


def in_scope(conn: psycopg.Connection[Row], caller: Caller, user_id: str | None) -> bool:
    """Whether `user_id` is in `visible_reps` of the caller, without listing them."""
    if caller.is_admin:
        return True
    if user_id is None or caller.role == "rep":
        return user_id is not None and user_id == caller.id
    row = conn.execute(_IN_TEAM, {"user": user_id, "caller": caller.id}).fetchone()
    return bool(row and row["ok"])


def find_rep(conn: psycopg.Connection[Row], caller: Caller, rep: str) -> tuple[str, str]:
    """(id, name) of the user in the caller's scope whose id, email or full name is `rep`."""
    return find_reps(conn, caller, [rep])[0]


def find_reps(
    conn: psycopg.Connection[Row], caller: Caller, reps: list[str]
) -> list[tuple[str, str]]:
    """`find_rep` for each of `reps`: the users matching each, best match first (the id, then
    those not soft-deleted), the first in the caller's scope."""
    found = []
    for rep in reps:
        candidates = conn.execute(
            """
            SELECT id, name FROM users
            WHERE (id = %(r)s OR lower(email) = lower(%(r)s) OR lower(name) = lower(%(r)s))
              AND (%(admin)s OR deleted_at IS NULL)
            ORDER BY (id = %(r)s) DESC, deleted_at NULLS FIRST, id LIMIT 50
            """,
            {"r": rep, "admin": caller.is_admin},
        ).fetchall()
        row = next((c for c in candidates if in_scope(conn, caller, c["id"])), None)
        if row is None:
            log.warning("access denied: %s (%s) asked for rep %r", caller.id, caller.role, rep)
            raise AccessDenied(
                f"no rep matching {rep!r} in your scope (use an id, email or full name)"
            )
        found.append((row["id"], row["name"]))
    return found


def find_call(conn: psycopg.Connection[Row], caller: Caller, call_id: str) -> str | None:
    """The rep id of a stored call in the caller's scope; refuses anything else alike.

    A soft-deleted rep's calls are out of every non-admin's scope: `visible_reps` leaves
    them out."""
    row = conn.execute("SELECT primary_user_id FROM calls WHERE id = %s", (call_id,)).fetchone()
    if row is None or not (caller.is_admin or in_scope(conn, caller, row["primary_user_id"])):
        refuse_call(caller, call_id)
    rep_id: str | None = row["primary_user_id"]
    return rep_id


def refuse_call(caller: Caller, call_id: str) -> NoReturn:
    log.warning("access denied: %s (%s) asked for call %s", caller.id, caller.role, call_id)
    raise AccessDenied(not_in_scope(call_id))


def not_in_scope(call_id: str) -> str:
    return f"no analysed call {call_id!r} in your scope"


def require_role(caller: Caller, *roles: str) -> None:
    if caller.role not in roles:
        log.warning("access denied: %s (%s) needs role %s", caller.id, caller.role, "/".join(roles))
        raise AccessDenied(f"this needs the {' or '.join(roles)} role; you are a {caller.role}")
