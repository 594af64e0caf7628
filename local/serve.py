"""Running an ASGI app with uvicorn in a background thread on a free loopback port."""

from __future__ import annotations

import contextvars
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ThreadedServer:
    server: uvicorn.Server
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve(app: Any, port: int | None = None, log_level: str = "warning") -> ThreadedServer:
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level, lifespan="on")
    server = uvicorn.Server(config)
    # the server sees the caller's context (e.g. Prefect settings set for a test)
    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run, args=(server.run,), name=f"uvicorn:{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"server on port {port} did not start")
        time.sleep(0.02)
    return ThreadedServer(server, thread, f"http://127.0.0.1:{port}")
