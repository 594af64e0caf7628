"""Bearer tokens for the MCP HTTP transport.

A token is shown once; only its SHA-256 is stored. Each has an expiry (`MCP_TOKEN_DAYS` by
default), records when it was last used (at most once a minute, to keep reads cheap), and is
listed and revoked by its id (`sales-coach token list|revoke ID`), never by its secret.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

import psycopg
from pydantic import BaseModel

from common.access.scope import Caller, load_caller
from common.db import Row
from common.errors import InvalidRequest


class TokenInfo(BaseModel):
    id: int
    user_id: str
    user_name: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


MAX_TOKEN_DAYS = 366


def create_token(
    conn: psycopg.Connection[Row], user: str, label: str = "", days: int = 90
) -> tuple[int, str]:
    """A new token for the user, valid for `days` (1 to 366); returns (id, token)."""
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise InvalidRequest(f"a token is valid for 1 to {MAX_TOKEN_DAYS} days, not {days}")
    caller = load_caller(conn, user)
    token = "scm_" + secrets.token_urlsafe(32)
    row = conn.execute(
        "INSERT INTO api_tokens (token_hash, user_id, label, expires_at)"
        " VALUES (%s, %s, %s, now() + make_interval(days => %s)) RETURNING id",
        (_hash(token), caller.id, label, days),
    ).fetchone()
    assert row is not None
    return int(row["id"]), token


def caller_for_token(conn: psycopg.Connection[Row], token: str) -> Caller | None:
    """The active user of a live token (not revoked, not expired), recording its use at most
    once every five minutes (a busy client would otherwise write a row per request)."""
    row = conn.execute(
        """
        WITH live AS (
            SELECT t.id AS token_id, u.id, u.name, u.role FROM api_tokens t
            JOIN users u ON u.id = t.user_id
            WHERE t.token_hash = %s AND t.revoked_at IS NULL
              AND (t.expires_at IS NULL OR t.expires_at > now())
              AND u.deleted_at IS NULL AND u.active
        ), touched AS (
            UPDATE api_tokens SET last_used_at = now()
            WHERE id = (SELECT token_id FROM live)
              AND (last_used_at IS NULL OR last_used_at < now() - interval '5 minutes')
        )
        SELECT id, name, role FROM live
        """,
        (_hash(token),),
    ).fetchone()
    return Caller(row["id"], row["name"], row["role"]) if row else None


def list_tokens(conn: psycopg.Connection[Row], user: str | None = None) -> list[TokenInfo]:
    rows = conn.execute(
        """
        SELECT t.id, t.user_id, u.name AS user_name, t.label, t.created_at, t.expires_at,
               t.last_used_at, t.revoked_at
        FROM api_tokens t JOIN users u ON u.id = t.user_id
        WHERE %(u)s::text IS NULL OR u.id = %(u)s OR lower(u.email) = lower(%(u)s)
        ORDER BY t.id
        """,
        {"u": user},
    ).fetchall()
    return [TokenInfo.model_validate(r) for r in rows]


def revoke_token_id(conn: psycopg.Connection[Row], token_id: int) -> bool:
    cur = conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL",
        (token_id,),
    )
    return cur.rowcount == 1


def revoke_token(conn: psycopg.Connection[Row], token: str) -> bool:
    """Revoke by the secret itself (when a user reports their own token leaked)."""
    cur = conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE token_hash = %s AND revoked_at IS NULL",
        (_hash(token),),
    )
    return cur.rowcount == 1
