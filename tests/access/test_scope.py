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


def _users(c: psycopg.Connection, users: list[tuple[str, str, str | None, bool]] = USERS) -> None:  # type: ignore[type-arg]
    for uid, role, _, _ in users:
        c.execute(
            "INSERT INTO users (id, email, name, role) VALUES (%s, %s, %s, %s)",
            (uid, f"{uid}@x.example", uid, role),
        )
    for uid, _, manager, deleted in users:
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
    with pytest.raises(AccessDenied, match="no access"):
        access.load_caller(conn, "r2")


def test_lookups_refuse_alike_outside_scope_and_nowhere(conn: psycopg.Connection) -> None:  # type: ignore[type-arg]
    m1 = access.load_caller(conn, "m1")
    assert access.find_rep(conn, m1, "R1@X.EXAMPLE") == ("r1", "r1")
    refusals = set()
    for rep in (
        "r3",
        "r3@x.example",
        "nobody",
        "r2",
    ):  # another team, by id/email; unknown; deleted
        with pytest.raises(AccessDenied) as info:
            access.find_rep(conn, m1, rep)
        refusals.add(str(info.value).replace(repr(rep), "X"))
    assert len(refusals) == 1
    conn.execute("INSERT INTO calls (id, primary_user_id) VALUES ('c3', 'r3'), ('c1', 'r1')")
    assert access.find_call(conn, m1, "c1") == "r1"
    texts = set()
    for call_id in ("c3", "c-nowhere"):
        with pytest.raises(AccessDenied) as info:
            access.find_call(conn, m1, call_id)
        texts.add(str(info.value).replace(call_id, "X"))
    assert len(texts) == 1
    assert access.find_call(conn, access.load_caller(conn, "adm"), "c3") == "r3"


def test_tokens_are_hashed_expire_and_are_revoked_by_id(conn: psycopg.Connection) -> None:  # type: ignore[type-arg]
    token_id, token = access.create_token(conn, "m1@x.example", "cli")
    assert token.startswith("scm_") and len(token) > 40
    stored = conn.execute("SELECT token_hash FROM api_tokens").fetchall()
    assert all(token not in r["token_hash"] for r in stored)
    [info] = access.list_tokens(conn, "m1")
    assert info.id == token_id and info.last_used_at is None and info.expires_at is not None
    assert access.caller_for_token(conn, token) == access.Caller("m1", "m1", "manager")
    assert access.list_tokens(conn)[0].last_used_at is not None
    assert access.caller_for_token(conn, token + "x") is None
    assert access.revoke_token_id(conn, token_id) and access.caller_for_token(conn, token) is None
    assert not access.revoke_token_id(conn, token_id)  # already revoked
    _, old = access.create_token(conn, "r1", days=1)
    conn.execute(
        "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE user_id = 'r1'"
    )
    assert access.caller_for_token(conn, old) is None


def test_one_person_is_checked_as_the_team_is_listed(conn: psycopg.Connection) -> None:  # type: ignore[type-arg]
    """`in_scope` walks up from one user instead of listing the team (`visible_reps`); both
    must agree for every caller and user: through a soft-deleted manager, around a cycle in
    the management chain, for a soft-deleted rep and a user nobody manages."""
    extra: list[tuple[str, str, str | None, bool]] = [  # (id, role, manager, soft-deleted)
        ("m2", "manager", "vp", True),  # gone, but their reports are still the VP's
        ("r5", "rep", "m2", False),
        ("c1", "manager", "c2", False),  # a cycle, as bad HR data can make one
        ("c2", "manager", "c1", False),
        ("r6", "rep", "c2", False),
    ]
    _users(conn, extra)
    everyone = [u[0] for u in USERS + extra]
    for who in ("vp", "m1", "r1", "r3", "adm", "c1", "c2", "r6"):
        caller = access.load_caller(conn, who)
        listed = access.visible_reps(conn, caller)
        for user in [*everyone, "nobody", None]:
            expected = listed is None or user in listed
            assert access.in_scope(conn, caller, user) is expected, (who, user)
    assert "r5" in (access.visible_reps(conn, access.load_caller(conn, "vp")) or set())
    assert access.visible_reps(conn, access.load_caller(conn, "c1")) == {"c1", "c2", "r6"}
