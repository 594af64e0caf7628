"""Header and body deadlines (`functions/deadlines.py`) on the real servers as the image runs
them (`sales-coach-http webhook|mcp`, uvicorn in a process of its own), probed with a raw
socket that trickles a request a byte at a time."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from common import access
from common.config import Settings
from local.seed import Team
from local.serve import free_port
from tests.conftest import app_env

DEADLINE_S = 1.0
TRICKLE_S = 0.2  # between bytes: the probes below take 10 s and more to finish sending


def _start(settings: Settings, service: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        **app_env(settings, "http://127.0.0.1:9"),
        "WEBHOOK_AUTH_MODES": "hmac",
        "WEBHOOK_HMAC_SECRET": "hmac-test-secret",
        "HTTP_HEADER_TIMEOUT_S": str(DEADLINE_S),
        "MCP_BODY_TIMEOUT_S": str(DEADLINE_S),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "functions.http",
            service,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, f"the {service} server exited"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def webhook_server(settings: Settings) -> Iterator[str]:
    yield from _start(settings, "webhook")


@pytest.fixture
def mcp_server(settings: Settings, team: Team) -> Iterator[str]:
    yield from _start(settings, "mcp")


def _trickle(url: str, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Sends `head` a byte at a time, or whole and then `body` a byte at a time, until the
    server answers or closes; returns (trickled bytes sent by then, the server's answer)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        trickled = body or head
        if body:
            sock.sendall(head)
        sent = 0
        try:
            for byte in trickled:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered, or closed the connection
                sock.sendall(bytes([byte]))
                sent += 1
                time.sleep(TRICKLE_S)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return sent, _drain(sock)


def _drain(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


HEADERS = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow-loris-probe/1.0\r\n\r\n"


@pytest.mark.parametrize("service", ["webhook", "mcp"])
def test_headers_sent_a_byte_at_a_time_are_cut_off(
    service: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(f"{service}_server")
    sent, answer = _trickle(url, HEADERS)
    assert sent < len(HEADERS), "the server waited for every header byte"
    assert answer == b""  # disconnected, no request was served
    assert httpx.get(f"{url}/healthz").status_code == 200  # and it answers everyone else


def test_an_mcp_body_sent_a_byte_at_a_time_gets_408(settings: Settings, mcp_server: str) -> None:
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        token = access.create_token(conn, "u-r000")[1]
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "padding": "' + b"x" * 60 + b'"}'
    head = (
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Accept: application/json, text/event-stream\r\n"
        + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    )
    sent, answer = _trickle(mcp_server, head, body)
    assert sent < len(body), "the server waited for every body byte"
    assert answer.startswith(b"HTTP/1.1 408")
