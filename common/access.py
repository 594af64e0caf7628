"""Who is asking, and what they may see.

A rep sees their own calls, a manager their team (everyone below them, transitively, and
themselves), an admin everything. Soft-deleted users' data is hidden from non-admins. A request
outside the caller's scope is refused with `AccessDenied` (not answered with an empty result)
and logged. Bearer tokens for the MCP HTTP transport are stored as SHA-256 hashes.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass

import psycopg

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
        raise AccessDenied(f"unknown or inactive user {user!r}")
    return Caller(row["id"], row["name"], row["role"])


def visible_reps(conn: psycopg.Connection[Row], caller: Caller) -> set[str] | None:
    """Rep ids the caller may see; None means everyone (admins)."""
    if caller.is_admin:
        return None
    if caller.role == "rep":
        return {caller.id}
    rows = conn.execute(
        """
        WITH RECURSIVE team AS (
            SELECT id FROM users WHERE id = %s
            UNION
            SELECT u.id FROM users u JOIN team t ON u.manager_id = t.id
        )
        SELECT u.id FROM team t JOIN users u USING (id) WHERE u.deleted_at IS NULL
        """,
        (caller.id,),
    ).fetchall()
    return {r["id"] for r in rows}


def require_rep(conn: psycopg.Connection[Row], caller: Caller, rep_id: str) -> None:
    scope = visible_reps(conn, caller)
    if scope is not None and rep_id not in scope:
        log.warning("access denied: %s (%s) asked for rep %s", caller.id, caller.role, rep_id)
        raise AccessDenied(f"rep {rep_id} is outside your scope ({caller.role})")


def require_call(conn: psycopg.Connection[Row], caller: Caller, call_id: str) -> str | None:
    """Refuse a call outside the caller's scope; returns the call's rep id."""
    row = conn.execute("SELECT primary_user_id FROM calls WHERE id = %s", (call_id,)).fetchone()
    if row is None:
        raise AccessDenied(f"call {call_id} is not known (or not analysed yet)")
    rep_id: str | None = row["primary_user_id"]
    scope = visible_reps(conn, caller)
    if scope is not None and rep_id not in scope:
        log.warning("access denied: %s (%s) asked for call %s", caller.id, caller.role, call_id)
        raise AccessDenied(f"call {call_id} is outside your scope ({caller.role})")
    return rep_id


def require_role(caller: Caller, *roles: str) -> None:
    if caller.role not in roles:
        log.warning("access denied: %s (%s) needs role %s", caller.id, caller.role, "/".join(roles))
        raise AccessDenied(f"this needs the {' or '.join(roles)} role; you are a {caller.role}")


# -- bearer tokens --------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: psycopg.Connection[Row], user: str, label: str = "") -> str:
    """A new token for the user (shown once; only its hash is stored)."""
    caller = load_caller(conn, user)
    token = "scm_" + secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO api_tokens (token_hash, user_id, label) VALUES (%s, %s, %s)",
        (_hash(token), caller.id, label),
    )
    return token


def revoke_token(conn: psycopg.Connection[Row], token: str) -> bool:
    cur = conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE token_hash = %s AND revoked_at IS NULL",
        (_hash(token),),
    )
    return cur.rowcount == 1


def caller_for_token(conn: psycopg.Connection[Row], token: str) -> Caller | None:
    row = conn.execute(
        """
        SELECT u.id, u.name, u.role FROM api_tokens t JOIN users u ON u.id = t.user_id
        WHERE t.token_hash = %s AND t.revoked_at IS NULL AND u.deleted_at IS NULL AND u.active
        """,
        (_hash(token),),
    ).fetchone()
    return Caller(row["id"], row["name"], row["role"]) if row else None
