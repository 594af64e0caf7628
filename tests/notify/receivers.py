"""Where notes go, for real in tests: the Slack stand-in (local/slack_server.py) over HTTP and
an SMTP server (aiosmtpd), each with switches to fail."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from local.serve import ThreadedServer, free_port, serve
from local.slack_server import SlackState, create_app


class Inbox:
    """What the SMTP server took; `fail_next` answers the next N messages' data with
    `fail_reply`; addresses in `unknown` are refused at RCPT (550)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.fail_next = 0
        self.fail_reply = "451 4.3.0 Try again later"
        self.unknown: set[str] = set()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.lower() in self.unknown:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.fail_next > 0:
            self.fail_next -= 1
            return self.fail_reply
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


@contextmanager
def slack_stand_in() -> Iterator[tuple[SlackState, ThreadedServer]]:
    state = SlackState()
    server = serve(create_app(state))
    try:
        yield state, server
    finally:
        state.release.set()  # a held answer must not keep the server from stopping
        server.stop()


@contextmanager
def smtp_inbox() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
