"""Team listings kept per process (`common/access/teams.py`) on real Postgres: used while
`users` is unchanged, listed again after any change that moves, adds, removes or hides
someone, never kept for more callers than asked."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from common.access import load_caller, visible_reps
from common.access.teams import Teams

ORG = [("vp", "manager", None), ("m1", "manager", "vp"), ("r1", "rep", "m1"), ("r2", "rep", "m1")]


def _org(conn: psycopg.Connection) -> None:  # type: ignore[type-arg]
    for uid, role, manager in ORG:
        conn.execute(
            "INSERT INTO users (id, email, name, role, manager_id) VALUES (%s, %s, %s, %s, %s)",
            (uid, f"{uid}@x.example", uid.upper(), role, manager),
        )


def test_a_team_is_kept_until_users_change(db_url: str) -> None:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        _org(conn)
        teams, m1 = Teams(), load_caller(conn, "m1")
        kept = teams.team(conn, m1)
        assert kept.ids == {"m1", "r1", "r2"} and kept.members["r1"] == ("R1", "rep")
        assert teams.team(conn, m1) is kept
        # what every stored call does for its rep: finds them there, changes nothing
        conn.execute("INSERT INTO users (id, name) VALUES ('r1', '') ON CONFLICT (id) DO NOTHING")
        conn.execute("UPDATE users SET name = 'X' WHERE id = 'nobody'")
        assert teams.team(conn, m1) is kept
        changes = [
            ("UPDATE users SET manager_id = 'vp' WHERE id = 'r2'", {"m1", "r1"}),
            (
                "INSERT INTO users (id, name, manager_id) VALUES ('r9', 'R9', 'm1')",
                {"m1", "r1", "r9"},
            ),
            ("UPDATE users SET deleted_at = now() WHERE id = 'r1'", {"m1", "r9"}),
            ("UPDATE users SET name = 'Rae Nine' WHERE id = 'r9'", {"m1", "r9"}),
            ("DELETE FROM users WHERE id = 'r9'", {"m1"}),
        ]
        for change, expected in changes:
            conn.execute(change)
            now = teams.team(conn, m1)
            assert now is not kept and now.ids == expected == visible_reps(conn, m1), change
            kept = now
        assert kept.members["m1"] == ("M1", "manager")
        assert teams.team(conn, load_caller(conn, "vp")).ids == {"vp", "m1", "r2"}
        token = conn.execute("SELECT token FROM users_version").fetchone()
        conn.execute("TRUNCATE users CASCADE")
        assert conn.execute("SELECT token FROM users_version").fetchone() != token


def test_only_the_last_callers_teams_are_kept(db_url: str) -> None:
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        _org(conn)
        teams = Teams(size=1)
        vp, m1 = load_caller(conn, "vp"), load_caller(conn, "m1")
        first = teams.team(conn, vp)
        teams.team(conn, m1)  # pushes the VP's listing out
        again = teams.team(conn, vp)
        assert again is not first and again.ids == first.ids == {"vp", "m1", "r1", "r2"}
        assert teams.visible(conn, load_caller(conn, "r1")) == {"r1"}
