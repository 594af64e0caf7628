"""Where alerts go, for real in tests: a Slack stand-in (an HTTP server) and an SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from common.config import Settings
from local.serve import free_port, serve


class Inbox:
    """What the SMTP server received: each message, and to whom."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content.decode())
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@contextmanager
def wired(settings: Settings, **updates: Any) -> Iterator[tuple[Settings, list[str], Inbox]]:
    """Settings pointing Slack and SMTP at local servers (plus `updates`), the Slack posts'
    texts and the inbox; the servers stop on exit."""
    posts: list[str] = []

    async def hook(request: Request) -> JSONResponse:
        posts.append((await request.json())["text"])
        return JSONResponse({"ok": True})

    slack = serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))
    inbox, port = Inbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    s = settings.model_copy(
        update={
            "slack_webhook_url": SecretStr(f"{slack.url}/hook"),
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            **updates,
        }
    )
    try:
        yield s, posts, inbox
    finally:
        smtp.stop()
        slack.stop()
