"""Job roles (common/calls/roles.py): from Gong's titles on user sync, an admin's word over
Gong's, every change kept as history, the role a call started under."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from common.access.scope import Caller
from common.calls import roles
from common.calls.store import upsert_users
from common.config import Settings
from common.errors import AccessDenied, InvalidRequest
from common.gong import GongClient
from local.gong_server import GongState


def _sync(settings: Settings, titles: roles.TitleMap = roles.DEFAULT_MAP) -> None:
    with (
        GongClient.from_settings(settings) as client,
        psycopg.connect(settings.database_url, row_factory=dict_row) as conn,
    ):
        upsert_users(conn, list(client.users()), titles)


def _now(settings: Settings, users: list[str]) -> dict[str, str]:
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        return roles.current_roles(conn, users, default="none")


def _retitle(gong: tuple[GongState, str], user_id: str, title: str) -> None:
    state = gong[0]
    state.users = [u | {"title": title} if u["id"] == user_id else u for u in state.users]


@pytest.mark.parametrize(
    ("title", "role"),
    [
        ("Account Executive", "ae"),
        ("Senior ACCOUNT   executive, EMEA", "ae"),
        ("Sales Engineer", "se"),
        ("Solutions Consultant", "se"),
        ("Customer Success Manager", "csm"),
        ("RevOps Lead", "ae"),  # no phrase: DEFAULT_JOB_ROLE
        (None, "ae"),
    ],
)
def test_the_default_titles_map_to_roles(title: str | None, role: str) -> None:
    assert roles.DEFAULT_MAP.role_for(title) == role


def test_the_first_listed_phrase_wins_and_company_roles_are_any_slug() -> None:
    titles = roles.TitleMap.parse("partner=partner_manager, manager=ae", default="sdr")
    assert titles.role_for("Partner Manager") == "partner_manager"
    assert titles.role_for("Sales Manager") == "ae"
    assert titles.role_for("Business Development Rep") == "sdr"
    with pytest.raises(InvalidRequest, match="slug"):
        roles.TitleMap.parse("solutions=Sales Engineer")


def test_user_sync_sets_roles_from_gong_titles_and_follows_a_new_title(
    settings: Settings, gong: tuple[GongState, str]
) -> None:
    _sync(settings)
    assert _now(settings, ["2003", "2004", "2005", "2001"]) == {
        "2003": "ae",
        "2004": "ae",
        "2005": "csm",  # "Customer Success Manager"
        "2001": "ae",  # "RevOps Lead": the default
    }
    _retitle(gong, "2004", "Solutions Engineer")
    _sync(settings)
    _sync(settings)  # nothing changed: no new period
    assert _now(settings, ["2004"]) == {"2004": "se"}
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        periods = roles.history(conn, "2004")
        first_call = roles.role_at(conn, "2004", datetime(2020, 1, 1, tzinfo=UTC))
    assert [(p.job_role, p.source, p.gong_title) for p in periods] == [
        ("ae", "gong", "Account Executive"),
        ("se", "gong", "Solutions Engineer"),
    ]
    assert periods[0].since is None and periods[0].until == periods[1].since  # no gap
    assert periods[1].until is None
    assert first_call == "ae"  # a call from before the change keeps the role it had


def test_an_admins_role_wins_over_gong_until_an_admin_changes_it(
    settings: Settings, gong: tuple[GongState, str]
) -> None:
    _sync(settings)
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        change = roles.set_job_role(conn, "dana.lee@northwind.example", "se", set_by="2001")
    assert (change.user_id, change.previous, change.job_role) == ("2003", "ae", "se")
    _retitle(gong, "2003", "Customer Success Manager")
    _sync(settings)
    assert _now(settings, ["2003"]) == {"2003": "se"}  # Gong's new title does not apply
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        again = roles.set_job_role(conn, "2003", "se", set_by="2001")
        assert len(again.history) == len(change.history)  # the same word twice: no change
        back = roles.set_job_role(conn, "Dana Lee", "partner_manager")
    assert [(p.job_role, p.source, p.set_by) for p in back.history] == [
        ("ae", "gong", None),
        ("se", "admin", "2001"),
        ("partner_manager", "admin", None),
    ]
    assert back.label == "partner manager" and _now(settings, ["2003"]) == {
        "2003": "partner_manager"
    }


def test_a_backdated_role_covers_the_calls_since_and_keeps_what_it_replaced(
    settings: Settings, gong: tuple[GongState, str]
) -> None:
    _sync(settings)
    _retitle(gong, "2004", "Sales Engineer")
    _sync(settings)
    start = datetime.now(UTC) - timedelta(days=30)
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        change = roles.set_job_role(conn, "2004", "csm", since=start)
        before, after = (
            roles.role_at(conn, "2004", start - timedelta(seconds=1)),
            roles.role_at(conn, "2004", start + timedelta(days=1)),
        )
        now = roles.role_at(conn, "2004", None)
    assert (before, after, now) == ("ae", "csm", "csm")
    kept = [(p.job_role, p.source) for p in change.history]
    assert kept == [("ae", "gong"), ("se", "gong"), ("csm", "admin")]  # "se" kept, emptied
    emptied = change.history[1]
    assert emptied.since == emptied.until


def test_a_calls_rep_gets_a_role_before_any_sync_and_unknown_reps_the_default(
    db_url: str,
) -> None:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        conn.execute("INSERT INTO users (id, name) VALUES ('r-1', 'New Rep')")
        roles.ensure_role(conn, "r-1", "Sales Engineer", roles.DEFAULT_MAP)
        roles.ensure_role(conn, "r-1", "Account Executive", roles.DEFAULT_MAP)  # has one
        assert roles.role_at(conn, "r-1", None) == "se"
        assert roles.role_at(conn, "nobody", None, default="csm") == "csm"
        at = datetime.now(UTC)
        assert roles.roles_at(conn, ["r-1", "nobody"], at, "csm") == {"r-1": "se", "nobody": "csm"}


def test_only_admins_set_roles_and_a_role_is_a_slug(db_url: str) -> None:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        conn.execute("INSERT INTO users (id, name) VALUES ('r-1', 'Rep One')")
        with pytest.raises(AccessDenied, match="admin"):
            roles.set_job_role_as(conn, Caller("m-1", "Manager", "manager"), "r-1", "se")
        with pytest.raises(InvalidRequest, match="slug"):
            roles.set_job_role(conn, "r-1", "Sales Engineer!")
        with pytest.raises(InvalidRequest, match="no user"):
            roles.set_job_role(conn, "nobody", "se")
        done = roles.set_job_role_as(conn, Caller("a-1", "Admin", "admin"), "Rep One", "SE")
    assert (done.job_role, done.history[0].set_by, done.history[0].since) == ("se", "a-1", None)


def test_a_change_now_replaces_one_an_admin_dated_ahead(db_url: str) -> None:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        conn.execute("INSERT INTO users (id, name) VALUES ('r-1', 'Rep One')")
        roles.apply_gong_titles(conn, [("r-1", "Account Executive")], roles.DEFAULT_MAP)
        conn.commit()
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        roles.set_job_role(conn, "r-1", "csm", since=tomorrow)
        assert roles.role_at(conn, "r-1", None) == "ae"  # not yet
        conn.commit()
        change = roles.set_job_role(conn, "r-1", "se")
        conn.commit()  # a new transaction: now() moves on
        now, later = (
            roles.role_at(conn, "r-1", None),
            roles.role_at(conn, "r-1", tomorrow + timedelta(days=1)),
        )
    assert (roles.label(change.job_role), now, later) == ("sales engineer", "se", "se")
    assert [(p.job_role, p.since == p.until) for p in change.history] == [
        ("ae", False),
        ("csm", True),  # dated ahead, replaced before it began: kept, empty
        ("se", False),
    ]
