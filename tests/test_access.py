"""Scopes on real Postgres: reps, nested managers, admins, soft deletes, hashed tokens."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import dict_row

from common import access
from common.errors import AccessDenied


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:  # type: ignore[type-arg]
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as c:
        _users(c)
        yield c


USERS = [  # (id, role, manager, soft-deleted)
    ("vp", "manager", None, False),
    ("m1", "manager", "vp", False),
    ("r1", "rep", "m1", False),
    ("r2", "rep", "m1", True),
    ("r3", "rep", "vp", False),
    ("r4", "rep", None, False),
    ("adm", "admin", None, False),
]


def _users(c: psycopg.Connection) -> None:  # type: ignore[type-arg]
    for uid, role, _, _ in USERS:
        c.execute(
            "INSERT INTO users (id, email, name, role) VALUES (%s, %s, %s, %s)",
            (uid, f"{uid}@x.example", uid, role),
        )
    for uid, _, manager, deleted in USERS:
        c.execute(
            "UPDATE users SET manager_id = %s, deleted_at = CASE WHEN %s THEN now() END WHERE id = %s",
            (manager, deleted, uid),
        )


def test_scopes(conn: psycopg.Connection) -> None:  # type: ignore[type-arg]
    scope = lambda u: access.visible_reps(conn, access.load_caller(conn, u))  # noqa: E731
    assert scope("r1") == {"r1"}
    assert scope("m1") == {"m1", "r1"}  # r2 is soft-deleted
    assert scope("vp") == {"vp", "m1", "r1", "r3"}  # transitively
    assert scope("adm") is None
    with pytest.raises(AccessDenied, match="unknown or inactive"):
        access.load_caller(conn, "r2")
    with pytest.raises(AccessDenied, match="outside your scope"):
        access.require_rep(conn, access.load_caller(conn, "m1"), "r3")


def test_tokens_are_hashed_and_revocable(conn: psycopg.Connection) -> None:  # type: ignore[type-arg]
    token = access.create_token(conn, "m1@x.example", "cli")
    assert token.startswith("scm_") and len(token) > 40
    assert (
        conn.execute(
            "SELECT count(*) AS n FROM api_tokens WHERE token_hash = %s", (token,)
        ).fetchone()["n"]
        == 0
    )  # type: ignore[index]
    assert access.caller_for_token(conn, token) == access.Caller("m1", "m1", "manager")
    assert access.caller_for_token(conn, token + "x") is None
    assert access.revoke_token(conn, token) and access.caller_for_token(conn, token) is None
