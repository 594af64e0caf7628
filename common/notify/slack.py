"""Direct messages through the Slack Web API, with a bot token (SLACK_BOT_TOKEN).

The person is found by e-mail (`users.lookupByEmail`), their DM with the bot opened
(`conversations.open`) and the message posted (`chat.postMessage`) with message metadata naming
what it is. `posted` reads the DM's history (`conversations.history`, with
`include_all_metadata`) back, so a sender whose last post lost its answer can see whether it
went out before posting again.

Slack answers most errors with HTTP 200 and `{"ok": false, "error": ...}`; a rate limit with
429 and `Retry-After`. Errors naming the recipient (unknown user, deactivated account) are not
transient; a bad token or a missing scope is (an admin fixes it and the message goes out).
A post whose answer was lost (a timeout while reading, a dropped connection, a 5xx) is
`uncertain`.
"""

from __future__ import annotations

import json
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from common.config import Settings
from common.notify import Message, NotifyError, attempt

TIMEOUT_S = 10.0
HISTORY_PAGE = 200
HISTORY_PAGES = 10  # at most 2,000 messages back: a DM with a bot is short
RECIPIENT_ERRORS = frozenset(
    {
        "users_not_found",
        "user_not_found",
        "user_not_visible",
        "account_inactive",
        "user_disabled",
        "cannot_dm_bot",
        "channel_not_found",
        "is_archived",
    }
)
CONTENT_ERRORS = frozenset({"msg_too_long", "no_text", "invalid_blocks", "invalid_metadata_format"})
CERTAIN_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class SlackClient:
    """The few Web API methods a DM needs, over one HTTP client (closed with the block)."""

    def __init__(self, base_url: str, token: str, timeout_s: float = TIMEOUT_S) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )

    @classmethod
    def from_settings(cls, s: Settings, timeout_s: float = TIMEOUT_S) -> SlackClient:
        if s.slack_bot_token is None:
            raise NotifyError("SLACK_BOT_TOKEN is not set: Slack cannot be used", transient=True)
        return cls(s.slack_api_url, s.slack_bot_token.get_secret_value(), timeout_s)

    def __enter__(self) -> SlackClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.http.close()

    def call(
        self, method: str, *, body: dict[str, Any] | None = None, form: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """One Web API method (a JSON `body`, or a `form`); its answer when `ok`."""
        try:
            if body is not None:
                response = self.http.post(method, json=body)
            else:
                response = self.http.post(method, data=form or {})
        except CERTAIN_ERRORS as exc:
            raise NotifyError(f"Slack {method}: {type(exc).__name__}", transient=True) from None
        except httpx.HTTPError as exc:  # sent, answer lost
            raise NotifyError(
                f"Slack {method}: {type(exc).__name__}", transient=True, uncertain=True
            ) from None
        return _answer(method, response)

    def user_id(self, email: str) -> str:
        return str(self.call("users.lookupByEmail", form={"email": email})["user"]["id"])

    def dm_channel(self, user_id: str) -> str:
        return str(self.call("conversations.open", body={"users": user_id})["channel"]["id"])

    def post(self, channel: str, text: str, event_type: str, payload: dict[str, Any]) -> str:
        """Post `text` with metadata; returns the message's ts."""
        answer = self.call(
            "chat.postMessage",
            body={
                "channel": channel,
                "text": text,
                "unfurl_links": False,  # a link preview would open the acknowledgement link
                "unfurl_media": False,
                "metadata": {"event_type": event_type, "event_payload": payload},
            },
        )
        return str(answer["ts"])

    def history_payloads(
        self, channel: str, event_type: str, oldest: float
    ) -> list[dict[str, Any]]:
        """Metadata payloads of the DM's messages of `event_type` since `oldest` (epoch s)."""
        found: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(HISTORY_PAGES):
            form = {
                "channel": channel,
                "oldest": f"{oldest:.6f}",
                "limit": str(HISTORY_PAGE),
                "include_all_metadata": "true",
            }
            if cursor:
                form["cursor"] = cursor
            page = self.call("conversations.history", form=form)
            for m in page.get("messages") or []:
                meta = m.get("metadata") or {}
                if meta.get("event_type") == event_type:
                    found.append(dict(meta.get("event_payload") or {}))
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not (page.get("has_more") and cursor):
                break
        return found


def _answer(method: str, response: httpx.Response) -> dict[str, Any]:
    """The body of an `ok` answer, else the error, classified."""
    if response.status_code == 429:
        after = float(response.headers.get("Retry-After") or 1)
        raise NotifyError(f"Slack {method}: rate limited", transient=True, retry_after_s=after)
    if response.status_code >= 500:
        raise NotifyError(
            f"Slack {method}: HTTP {response.status_code}", transient=True, uncertain=True
        )
    try:
        data = response.json()
    except json.JSONDecodeError:
        raise NotifyError(
            f"Slack {method}: HTTP {response.status_code}, not JSON", transient=True
        ) from None
    if not isinstance(data, dict):
        raise NotifyError(f"Slack {method}: unexpected answer", transient=True)
    if data.get("ok") is True:
        return data
    error = str(data.get("error") or f"HTTP {response.status_code}")
    permanent = error in RECIPIENT_ERRORS or error in CONTENT_ERRORS
    raise NotifyError(f"Slack {method}: {error}", transient=not permanent)


def _dm(client: SlackClient, email: str) -> str:
    user = attempt(lambda: client.user_id(email), idempotent=True)
    return attempt(lambda: client.dm_channel(user), idempotent=True)


def send(s: Settings, email: str, message: Message) -> str:
    """DM `message` to the Slack user with this e-mail; returns the message's ts."""
    with SlackClient.from_settings(s) as client:
        channel = _dm(client, email)
        return attempt(
            lambda: client.post(
                channel, message.slack_text, message.event_type, message.event_payload
            ),
            idempotent=False,
        )


def posted(s: Settings, email: str, event_type: str, since: datetime) -> list[dict[str, Any]]:
    """Metadata payloads of the messages of `event_type` in the DM with this person since
    `since` (a minute earlier, for clocks apart)."""
    with SlackClient.from_settings(s) as client:
        channel = _dm(client, email)
        oldest = since.timestamp() - 60
        return attempt(
            lambda: client.history_payloads(channel, event_type, oldest), idempotent=True
        )


def escape(text: str) -> str:
    """Text for Slack mrkdwn: &, < and > are control characters there."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """A mrkdwn link (`url` must be http(s); `label` is escaped)."""
    return f"<{url.replace('>', '%3E').replace('|', '%7C')}|{escape(label)}>"
