"""The rep-note tests' servers: real Postgres (a fresh database each), the Slack stand-in and
an SMTP server; the world's people are in Postgres and known to Slack by their e-mail."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from common.config import Settings, load_settings
from local.serve import ThreadedServer
from local.slack_server import SlackState
from tests.notify.receivers import Inbox, slack_stand_in, smtp_inbox
from tests.repnotes.world import PEOPLE, add_people


@dataclass
class Receivers:
    slack: SlackState
    slack_server: ThreadedServer
    inbox: Inbox
    smtp_port: int


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    with slack_stand_in() as (state, server), smtp_inbox() as (inbox, port):
        for _, email, *_ in PEOPLE:
            state.add_user(email)
        yield Receivers(state, server, inbox, port)


@pytest.fixture
def s(db_url: str, receivers: Receivers) -> Settings:
    settings = load_settings(
        database_url=db_url,
        rep_notes=True,
        slack_bot_token=SecretStr(receivers.slack.token),
        slack_api_url=f"{receivers.slack_server.url}/api",
        smtp_host="127.0.0.1",
        smtp_port=receivers.smtp_port,
        smtp_from="coach@northwind.example",
        ack_link_secret=SecretStr("ack-test-secret"),
        mcp_public_url="https://coach.example.com",
    )
    add_people(settings)
    return settings
