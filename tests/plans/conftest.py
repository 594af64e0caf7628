"""The plan tests' servers, as the rep-note tests': real Postgres (a fresh database each), the
Slack stand-in and an SMTP server; the world's people in Postgres and known to Slack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from common.config import Settings, load_settings
from tests.notify.receivers import slack_stand_in, smtp_inbox
from tests.repnotes.conftest import Receivers
from tests.repnotes.world import PEOPLE, add_people


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
        slack_bot_token=SecretStr(receivers.slack.token),
        slack_api_url=f"{receivers.slack_server.url}/api",
        smtp_host="127.0.0.1",
        smtp_port=receivers.smtp_port,
        smtp_from="coach@northwind.example",
    )
    add_people(settings)
    return settings
