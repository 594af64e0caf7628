"""Real servers for the tests: embedded Postgres, moto's S3 server, the Gong stand-in."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from moto.server import ThreadedMotoServer
from psycopg.rows import dict_row

from common.config import Settings, load_settings
from common.db import apply_schema
from local.anthropic_server import StandInState
from local.anthropic_server import create_app as claude_app
from local.gong_server import GongState
from local.gong_server import create_app as gong_app
from local.seed import Team, seed
from local.serve import serve
from local.signing import GongSigner
from local.stack import (
    GONG_KEY,
    GONG_SECRET,
    PostgresControl,
    create_database,
    start_postgres,
)

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
WEBHOOK_URL = "https://coach.example.com/webhooks/gong"
TEMPLATE_DB = "coach_template"


@pytest.fixture(scope="session")
def pg_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("pg")) / "data"


@pytest.fixture(scope="session")
def pg_admin_uri(pg_data_dir: Path) -> str:
    uri = start_postgres(pg_data_dir)
    template = create_database(uri, TEMPLATE_DB)
    apply_schema(template)
    return uri


@pytest.fixture
def pg_control(pg_data_dir: Path, pg_admin_uri: str) -> Iterator[PostgresControl]:
    """Stops and restarts the test server; it is always running again after the test."""
    control = PostgresControl(pg_data_dir, pg_admin_uri)
    yield control
    with contextlib.suppress(Exception):
        control.start()


@pytest.fixture
def db_url(pg_admin_uri: str) -> str:
    """A fresh database with the schema applied, cloned from a template."""
    return create_database(pg_admin_uri, f"t_{uuid.uuid4().hex[:12]}", template=TEMPLATE_DB)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def gong() -> Iterator[tuple[GongState, str]]:
    state = GongState(GONG_KEY, GONG_SECRET, rate_per_s=1000)
    server = serve(gong_app(state))
    yield state, server.url
    server.stop()


@pytest.fixture(scope="session")
def signer() -> GongSigner:
    return GongSigner()


@pytest.fixture
def settings(
    db_url: str, s3_endpoint: str, gong: tuple[GongState, str], signer: GongSigner
) -> Settings:
    return load_settings(
        database_url=db_url,
        s3_endpoint_url=s3_endpoint,
        s3_bucket=f"coach-{uuid.uuid4().hex[:8]}",
        gong_base_url=gong[1],
        gong_access_key=GONG_KEY,
        gong_access_key_secret=GONG_SECRET,
        gong_requests_per_second=50,
        webhook_auth_modes="jwt,hmac",
        gong_webhook_public_keys=signer.public_key_b64_der,
        gong_webhook_url=WEBHOOK_URL,
        webhook_hmac_secret="hmac-test-secret",
        scoring_cascade="",  # one sample of CLAUDE_MODEL; the cascade's own tests set theirs
    )


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture(scope="session")
def claude_stand_in() -> Iterator[tuple[StandInState, str]]:
    state = StandInState()
    server = serve(claude_app(state))
    yield state, server.url
    server.stop()


@pytest.fixture
def claude(claude_stand_in: tuple[StandInState, str]) -> StandInState:
    """The stand-in's state, reset (no cache entries, no injected faults, no counts)."""
    claude_stand_in[0].reset()
    return claude_stand_in[0]


def app_env(settings: Settings, claude_url: str) -> dict[str, str]:
    """Environment variables that point a process (flow, worker) at the test servers."""
    return {
        "DATABASE_URL": settings.database_url,
        "S3_ENDPOINT_URL": settings.s3_endpoint_url or "",
        "S3_BUCKET": settings.s3_bucket,
        "GONG_BASE_URL": settings.gong_base_url,
        "GONG_ACCESS_KEY": GONG_KEY,
        "GONG_ACCESS_KEY_SECRET": GONG_SECRET,
        "GONG_REQUESTS_PER_SECOND": "50",
        "ANTHROPIC_BASE_URL": claude_url,
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "SCORING_CASCADE": settings.scoring_cascade,
    }


@pytest.fixture
def engine_env(
    settings: Settings,
    claude_stand_in: tuple[StandInState, str],
    prefect_api: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Settings]:
    """Environment for the flows (they read settings from it), settings cache cleared."""
    from common.config import load_settings

    for key, value in app_env(settings, claude_stand_in[1]).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("JOURNAL_DIR", str(tmp_path / "journal"))
    yield load_settings()


_today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
NOW = _today - timedelta(days=_today.weekday())  # seeded weeks end this Monday: same data every day


@pytest.fixture
def team(settings: Settings) -> Team:
    """Two managers' teams of seeded history; m0's rep u-r004 is soft-deleted."""
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        t = seed(conn, reps=6, managers=2, weeks=6, calls_per_week=2, now=NOW)
        conn.execute("UPDATE users SET deleted_at = now() WHERE id = 'u-r004'")
    return t


@pytest.fixture
async def as_user(settings: Settings, team: Team) -> AsyncIterator[Any]:
    """Opens in-memory MCP clients acting as a user (closed after the test)."""
    from fastmcp import Client

    from functions.mcp_tools import create_server

    clients: list[Client[Any]] = []

    async def open_as(user: str, s: Settings = settings) -> Client[Any]:
        client: Client[Any] = Client(create_server(s, stdio_user=user))
        await client.__aenter__()
        clients.append(client)
        return client

    yield open_as
    for c in clients:
        await c.__aexit__(None, None, None)
