"""A Slack Web API stand-in for tests and the demo: the methods a bot's direct message needs.

`users.lookupByEmail`, `conversations.open`, `chat.postMessage` (with message `metadata`) and
`conversations.history` (cursor pages, newest first, `oldest`/`latest`, metadata only with
`include_all_metadata`), under `/api/`, each checking the bearer token and answering as Slack
does (HTTP 200 with `{"ok": false, "error": ...}`). Arguments come as JSON or a form.

Switches for the tests (on `SlackState`): `fail_next` answers the next N requests (of
`fail_method`, when set) with `fail_status` (429 with Retry-After, or a 5xx);
`drop_after_accept` keeps the next N posted messages and then closes the connection without
an answer; `hold_posts` keeps each posted
message, sets `accepted` and then waits for `release` before answering (a test kills the
sender in that window).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
DROP = "slack_stand_in.drop"  # set in a request's scope: close the connection, answer nothing
BOT_ID = "B0COACH"


class SlackState:
    def __init__(self, token: str = "xoxb-test-token") -> None:
        self.token = token
        self.users: dict[str, str] = {}  # e-mail (lower case) -> user id
        self.dms: dict[str, str] = {}  # user id -> DM channel id
        self.channels: dict[str, list[dict[str, Any]]] = {}  # channel id -> messages, oldest first
        self.requests: list[str] = []  # method names, in order
        self.fail_next = 0
        self.fail_method: str | None = None  # fail only this method's requests (None: any)
        self.fail_status = 500
        self.retry_after_s = 0
        self.drop_after_accept = 0
        self.hold_posts = False
        self.accepted = threading.Event()  # a message was kept (hold_posts)
        self.release = threading.Event()  # let the held answer go
        self._last_ts = 0.0
        self._lock = threading.Lock()

    def add_user(self, email: str, user_id: str | None = None) -> str:
        uid = user_id or f"U{len(self.users) + 1:08d}"
        self.users[email.lower()] = uid
        return uid

    def dm(self, user_id: str) -> str:
        with self._lock:
            channel = self.dms.setdefault(user_id, f"D{user_id[1:]}")
            self.channels.setdefault(channel, [])
            return channel

    def messages_to(self, email: str) -> list[dict[str, Any]]:
        """The messages in the bot's DM with this person, oldest first."""
        uid = self.users.get(email.lower())
        channel = self.dms.get(uid or "")
        return list(self.channels.get(channel or "", []))

    def copies_of(self, note_id: int) -> int:
        """How many messages anywhere carry this note id in their metadata."""
        return sum(
            note_id in (m.get("metadata", {}).get("event_payload", {}).get("note_ids") or [])
            for messages in self.channels.values()
            for m in messages
        )

    def keep(self, channel: str, text: str, metadata: dict[str, Any] | None) -> dict[str, Any]:
        with self._lock:
            ts = max(time.time(), self._last_ts + 0.000001)
            self._last_ts = ts
            message: dict[str, Any] = {
                "type": "message",
                "bot_id": BOT_ID,
                "text": text,
                "ts": f"{ts:.6f}",
            }
            if metadata is not None:
                message["metadata"] = metadata
            self.channels.setdefault(channel, []).append(message)
            return message


async def _args(request: Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query_params)
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.json()
        if isinstance(body, dict):
            args.update(body)
    else:
        args.update(dict(await request.form()))
    return args


def _truthy(value: object) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def create_app(state: SlackState) -> ASGIApp:
    def refuse(error: str, status: int = 200, **headers: str) -> JSONResponse:
        return JSONResponse({"ok": False, "error": error}, status_code=status, headers=headers)

    def checked(
        method: str, handler: Callable[[Request, dict[str, Any]], Awaitable[JSONResponse]]
    ) -> Route:
        async def endpoint(request: Request) -> JSONResponse:
            state.requests.append(method)
            auth = request.headers.get("authorization", "")
            if not auth.startswith("Bearer "):
                return refuse("not_authed")
            if auth.removeprefix("Bearer ") != state.token:
                return refuse("invalid_auth")
            if state.fail_next > 0 and state.fail_method in (None, method):
                state.fail_next -= 1
                if state.fail_status == 429:
                    return refuse("ratelimited", 429, **{"Retry-After": str(state.retry_after_s)})
                return refuse("internal_error", state.fail_status)
            return await handler(request, await _args(request))

        return Route(f"/api/{method}", endpoint, methods=["GET", "POST"])

    async def lookup(request: Request, args: dict[str, Any]) -> JSONResponse:
        email = str(args.get("email") or "").lower()
        if email not in state.users:
            return refuse("users_not_found")
        return JSONResponse(
            {"ok": True, "user": {"id": state.users[email], "profile": {"email": email}}}
        )

    async def open_dm(request: Request, args: dict[str, Any]) -> JSONResponse:
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if len(users) != 1:
            return refuse("not_enough_users" if not users else "too_many_users")
        if users[0] not in state.users.values():
            return refuse("user_not_found")
        return JSONResponse({"ok": True, "channel": {"id": state.dm(users[0])}})

    async def post(request: Request, args: dict[str, Any]) -> JSONResponse:
        channel = str(args.get("channel") or "")
        if channel in state.users.values():  # a user id: their DM with the bot
            channel = state.dm(channel)
        if channel not in state.channels:
            return refuse("channel_not_found")
        text = str(args.get("text") or "")
        if not text and not args.get("blocks"):
            return refuse("no_text")
        metadata = args.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        if metadata is not None and not (
            isinstance(metadata, dict)
            and isinstance(metadata.get("event_type"), str)
            and isinstance(metadata.get("event_payload"), dict)
        ):
            return refuse("invalid_metadata_format")
        message = state.keep(channel, text, metadata)
        if state.drop_after_accept > 0:
            state.drop_after_accept -= 1
            request.scope[DROP] = True
        elif state.hold_posts:
            state.accepted.set()
            await asyncio.to_thread(state.release.wait)
        return JSONResponse(
            {"ok": True, "channel": channel, "ts": message["ts"], "message": message}
        )

    async def history(request: Request, args: dict[str, Any]) -> JSONResponse:
        channel = str(args.get("channel") or "")
        if channel not in state.channels:
            return refuse("channel_not_found")
        oldest = float(args.get("oldest") or 0)
        latest = float(args.get("latest") or time.time() + 3600)
        limit = max(1, min(int(args.get("limit") or 100), 1000))
        start = int(args.get("cursor") or 0)
        found = [m for m in reversed(state.channels[channel]) if oldest < float(m["ts"]) < latest]
        page = found[start : start + limit]
        if not _truthy(args.get("include_all_metadata")):
            page = [{k: v for k, v in m.items() if k != "metadata"} for m in page]
        more = start + limit < len(found)
        return JSONResponse(
            {
                "ok": True,
                "messages": page,
                "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""},
            }
        )

    app = Starlette(
        routes=[
            checked("users.lookupByEmail", lookup),
            checked("conversations.open", open_dm),
            checked("chat.postMessage", post),
            checked("conversations.history", history),
        ]
    )
    return _dropping(app)


def _dropping(app: ASGIApp) -> ASGIApp:
    """Closes the connection instead of answering a request marked `DROP` (the message was
    kept; the client never learns it)."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        async def answer(message: Message) -> None:
            if scope.get(DROP):
                transport = getattr(getattr(send, "__self__", None), "transport", None)
                if transport is not None:
                    transport.close()
                return
            await send(message)

        await app(scope, receive, answer)

    return asgi
