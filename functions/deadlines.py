"""Deadlines for a client's request on both HTTP servers (the webhook and the MCP server, under
uvicorn), so a client trickling bytes (a slow-loris) cannot hold a connection open:

- `header_deadline(s)`: uvicorn's HTTP protocol with `HTTP_HEADER_TIMEOUT_S` for the request
  line and headers, from connecting (or from a kept-alive connection's next first byte);
  uvicorn itself waits for them for ever.
- `BodyDeadline`: the MCP endpoint's body within `MCP_BODY_TIMEOUT_S`, else 408 (the webhook
  reads its own body under `WEBHOOK_BODY_TIMEOUT_S`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from common.config import Settings

log = logging.getLogger("sales_coach.http")


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers are not complete
    `header_timeout_s` after connecting or after the request's first byte."""

    header_timeout_s = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self.conn.their_state is h11.IDLE:
            self._arm()  # a kept-alive connection's next request begins
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the headers are in
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            log.info("connection closed: headers not received in %g s", self.header_timeout_s)
            self.transport.close()


def header_deadline(s: Settings) -> type[H11Protocol]:
    """The protocol class for `uvicorn.run(http=...)`, with the configured header deadline."""
    return type(
        "HeaderDeadline", (HeaderDeadlineProtocol,), {"header_timeout_s": s.http_header_timeout_s}
    )


class BodyDeadline:
    """ASGI middleware: the whole request body within `timeout_s`, else 408 and the
    connection closed. The body is read here and handed on unchanged."""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app, self.timeout_s = app, timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            received = await asyncio.wait_for(_whole_body(receive), self.timeout_s)
        except TimeoutError:
            log.info("request refused (408): body not received in %g s", self.timeout_s)
            response = JSONResponse(
                {"error": f"request body not received within {self.timeout_s:g} s"},
                status_code=408,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return

        async def replay() -> Message:
            return received.pop(0) if received else await receive()

        await self.app(scope, replay, send)


async def _whole_body(receive: Receive) -> list[Message]:
    messages: list[Message] = []
    while True:
        message: dict[str, Any] = dict(await receive())
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages
