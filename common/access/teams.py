"""Team listings kept per process: a manager of 1,000 reps asks again and again, and listing
the team (`team_members`) is the largest fixed cost of each answer (6 ms there). A listing is
used while `users_version.token` (0013_users_version: a new random token whenever a statement
changes `users`) is the one it was made under; read in the same transaction as the answer, so
a change committed before the question is always seen."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from threading import Lock
from uuid import UUID

import psycopg

from common.access.scope import Caller, team_members
from common.db import Row


@dataclass(frozen=True)
class Team:
    members: Mapping[str, tuple[str, str]]  # id -> (name, role), as team_members
    ids: frozenset[str]


class Teams:
    """`team_members` and `visible_reps` of managers and admins, the last `size` callers'
    listings kept. Thread-safe: the MCP server answers tools on worker threads."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._kept: OrderedDict[tuple[str, str], tuple[UUID, Team]] = OrderedDict()
        self._lock = Lock()

    def team(self, conn: psycopg.Connection[Row], caller: Caller) -> Team:
        """The caller's team view, listed again only when `users` changed since."""
        row = conn.execute("SELECT token FROM users_version").fetchone()
        token: UUID | None = row["token"] if row else None
        key = (caller.id, caller.role)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and token is not None and kept[0] == token:
                self._kept.move_to_end(key)
                return kept[1]
        members = team_members(conn, caller)
        team = Team(members, frozenset(members))
        if token is not None:
            with self._lock:
                self._kept[key] = (token, team)
                self._kept.move_to_end(key)
                while len(self._kept) > self._size:
                    self._kept.popitem(last=False)
        return team

    def visible(self, conn: psycopg.Connection[Row], caller: Caller) -> frozenset[str] | None:
        """`visible_reps`: None for admins (everyone), a rep's own id, a manager's team."""
        if caller.is_admin:
            return None
        if caller.role == "rep":
            return frozenset({caller.id})
        return self.team(conn, caller).ids
