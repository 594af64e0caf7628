"""The e-mail sender against a real SMTP server (aiosmtpd): one plain-text message whose
Message-ID is the same whenever the same message is sent; a 4xx tried again at once, a
refused recipient not transient, an unreachable server transient."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from common.config import Settings, load_settings
from common.notify import Message, NotifyError, send
from local.serve import free_port
from tests.notify.receivers import Inbox, smtp_inbox

EMAIL = "rep@example.com"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, Settings]]:
    with smtp_inbox() as (inbox, port):
        yield inbox, smtp_settings(port)


def smtp_settings(port: int) -> Settings:
    return load_settings(
        database_url="postgresql://unused",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from="coach@northwind.example",
    )


def message(key: str = "rep-note-7") -> Message:
    return Message(
        key=key,
        subject="Coaching note: Acme",
        text="Two sentences. One action.",
        slack_text="unused",
        event_type="coaching_note",
        event_payload={"note_id": 7},
    )


def test_the_same_message_has_the_same_message_id(smtp: tuple[Inbox, Settings]) -> None:
    inbox, s = smtp
    first = send(s, "email", EMAIL, message())
    again = send(s, "email", EMAIL, message())
    other = send(s, "email", EMAIL, message("rep-note-8"))
    assert first.ref == again.ref == "<rep-note-7@northwind.example>" != other.ref
    got = inbox.to(EMAIL)
    assert [m["Message-ID"] for m in got] == [first.ref, first.ref, other.ref]
    assert got[0]["Subject"] == "Coaching note: Acme"
    assert str(got[0].get_payload()).strip() == "Two sentences. One action."


def test_a_temporary_refusal_is_tried_again_at_once(smtp: tuple[Inbox, Settings]) -> None:
    inbox, s = smtp
    inbox.fail_next = 2
    send(s, "email", EMAIL, message())
    assert len(inbox.to(EMAIL)) == 1


def test_a_refused_recipient_is_not_transient(smtp: tuple[Inbox, Settings]) -> None:
    inbox, s = smtp
    inbox.unknown.add(EMAIL)
    with pytest.raises(NotifyError) as refused:
        send(s, "email", EMAIL, message())
    assert not refused.value.transient and inbox.messages == []


def test_no_server_or_no_address_is_said(smtp: tuple[Inbox, Settings]) -> None:
    _, s = smtp
    with pytest.raises(NotifyError) as down:
        send(smtp_settings(free_port()), "email", EMAIL, message())
    assert down.value.transient and not down.value.uncertain
    with pytest.raises(NotifyError) as nobody:
        send(s, "email", None, message())
    assert not nobody.value.transient
