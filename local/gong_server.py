"""A Gong API v2 stand-in serving the sample calls, with Gong's pagination and rate limits.

Checks Basic auth, pages with `records.cursor`, answers 429 with `Retry-After` above the
configured rate, and lets tests add calls, shrink pages or force 429s through `/_admin`.
"""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from local.samples import USERS, sample_calls
from local.scorecards import answered_scorecards, scorecards


class GongState:
    def __init__(self, access_key: str, secret: str, rate_per_s: float = 3.0) -> None:
        self.auth = "Basic " + base64.b64encode(f"{access_key}:{secret}".encode()).decode()
        self.calls: dict[str, dict[str, Any]] = {}
        self.transcripts: dict[str, dict[str, Any]] = {}
        self.users = list(USERS)
        self.page_size = 100
        self.rate_per_s = rate_per_s
        self.scorecards = scorecards()
        self.answered = answered_scorecards()
        self.force_429 = 0  # answer the next N requests with 429
        self.retry_after_s = 1
        self.requests: list[str] = []
        self._window: list[float] = []
        self._lock = threading.Lock()
        for sample in sample_calls():
            self.add(sample["call"], sample["transcript"])

    def add(self, call: dict[str, Any], transcript: dict[str, Any] | None) -> None:
        self.calls[str(call["metaData"]["id"])] = call
        if transcript is not None:
            self.transcripts[str(transcript["callId"])] = transcript

    def admit(self) -> bool:
        """False when this request must get a 429 (forced, or over the rate)."""
        with self._lock:
            if self.force_429 > 0:
                self.force_429 -= 1
                return False
            now = time.monotonic()
            self._window = [t for t in self._window if now - t < 0.95]
            if len(self._window) >= self.rate_per_s + 1e-9:
                return False
            self._window.append(now)
            return True


def _page(records: list[Any], cursor: str | None, size: int) -> tuple[list[Any], dict[str, Any]]:
    start = int(cursor or 0)
    page = records[start : start + size]
    meta: dict[str, Any] = {
        "totalRecords": len(records),
        "currentPageSize": len(page),
        "currentPageNumber": start // size,
    }
    if start + size < len(records):
        meta["cursor"] = str(start + size)
    return page, meta


def create_app(state: GongState) -> Starlette:
    def guard(request: Request) -> JSONResponse | None:
        state.requests.append(request.url.path)
        if request.headers.get("authorization") != state.auth:
            return JSONResponse({"errors": ["Invalid credentials"]}, status_code=401)
        if not state.admit():
            return JSONResponse(
                {"errors": ["Too many requests"]},
                status_code=429,
                headers={"Retry-After": str(state.retry_after_s)},
            )
        return None

    async def extensive(request: Request) -> JSONResponse:
        if (refused := guard(request)) is not None:
            return refused
        body = await request.json()
        flt = body.get("filter") or {}
        calls = list(state.calls.values())
        if flt.get("callIds"):
            wanted = {str(i) for i in flt["callIds"]}
            calls = [c for c in calls if c["metaData"]["id"] in wanted]
        if flt.get("fromDateTime"):
            calls = [c for c in calls if c["metaData"]["started"] >= flt["fromDateTime"]]
        if flt.get("toDateTime"):
            calls = [c for c in calls if c["metaData"]["started"] < flt["toDateTime"]]
        if not calls:
            return JSONResponse(
                {"errors": ["No calls found corresponding to the provided filters"]},
                status_code=404,
            )
        calls.sort(key=lambda c: c["metaData"]["started"])
        page, meta = _page(calls, body.get("cursor"), state.page_size)
        return JSONResponse({"requestId": "stand-in", "records": meta, "calls": page})

    async def transcript(request: Request) -> JSONResponse:
        if (refused := guard(request)) is not None:
            return refused
        body = await request.json()
        ids = [str(i) for i in (body.get("filter") or {}).get("callIds") or []]
        found = [state.transcripts[i] for i in ids if i in state.transcripts]
        if not found:
            return JSONResponse({"errors": ["No transcripts found"]}, status_code=404)
        page, meta = _page(found, body.get("cursor"), state.page_size)
        return JSONResponse({"requestId": "stand-in", "records": meta, "callTranscripts": page})

    async def users(request: Request) -> JSONResponse:
        if (refused := guard(request)) is not None:
            return refused
        page, meta = _page(state.users, request.query_params.get("cursor"), state.page_size)
        return JSONResponse({"requestId": "stand-in", "records": meta, "users": page})

    async def settings_scorecards(request: Request) -> JSONResponse:
        if (refused := guard(request)) is not None:
            return refused
        return JSONResponse({"requestId": "stand-in", "scorecards": state.scorecards})

    async def activity_scorecards(request: Request) -> JSONResponse:
        """Answered scorecards by review date ("to" exclusive) and reviewed users, paged."""
        if (refused := guard(request)) is not None:
            return refused
        body = await request.json()
        flt = body.get("filter") or {}
        found = [
            a
            for a in state.answered
            if (not flt.get("reviewFromDate") or a["reviewTime"][:10] >= flt["reviewFromDate"])
            and (not flt.get("reviewToDate") or a["reviewTime"][:10] < flt["reviewToDate"])
            and (not flt.get("callFromDate") or a["callStartTime"][:10] >= flt["callFromDate"])
            and (not flt.get("callToDate") or a["callStartTime"][:10] < flt["callToDate"])
            and (not flt.get("reviewedUserIds") or a["reviewedUserId"] in flt["reviewedUserIds"])
            and (not flt.get("scorecardIds") or a["scorecardId"] in flt["scorecardIds"])
        ]
        if not found:
            return JSONResponse({"errors": ["No scorecards found"]}, status_code=404)
        page, meta = _page(found, body.get("cursor"), state.page_size)
        return JSONResponse({"requestId": "stand-in", "records": meta, "answeredScorecards": page})

    async def data_privacy(request: Request) -> JSONResponse:
        """Calls whose parties carry the e-mail address or phone number (Gong also lists
        emails, leads and contacts; the stand-in has only calls)."""
        if (refused := guard(request)) is not None:
            return refused
        email = (request.query_params.get("emailAddress") or "").lower()
        digits = "".join(ch for ch in request.query_params.get("phoneNumber") or "" if ch.isdigit())

        def refers(party: dict[str, Any]) -> bool:
            phone = "".join(ch for ch in str(party.get("phoneNumber") or "") if ch.isdigit())
            return bool(email and str(party.get("emailAddress", "")).lower() == email) or bool(
                digits and phone == digits
            )

        calls = [
            {
                "id": c["metaData"]["id"],
                "title": c["metaData"].get("title"),
                "url": c["metaData"].get("url"),
            }
            for c in state.calls.values()
            if any(refers(p) for p in c.get("parties") or [])
        ]
        return JSONResponse(
            {"requestId": "stand-in", "calls": calls, "emails": [], "leads": [], "contacts": []}
        )

    async def admin(request: Request) -> JSONResponse:
        body = await request.json()
        for key in ("page_size", "force_429", "retry_after_s", "rate_per_s"):
            if key in body:
                setattr(state, key, body[key])
        for item in body.get("calls", []):
            state.add(item["call"], item.get("transcript"))
        return JSONResponse({"ok": True, "requests": len(state.requests)})

    return Starlette(
        routes=[
            Route("/v2/calls/extensive", extensive, methods=["POST"]),
            Route("/v2/calls/transcript", transcript, methods=["POST"]),
            Route("/v2/users", users, methods=["GET"]),
            Route("/v2/settings/scorecards", settings_scorecards, methods=["GET"]),
            Route("/v2/stats/activity/scorecards", activity_scorecards, methods=["POST"]),
            Route("/v2/data-privacy/data-for-email-address", data_privacy, methods=["GET"]),
            Route("/v2/data-privacy/data-for-phone-number", data_privacy, methods=["GET"]),
            Route("/_admin", admin, methods=["POST"]),
        ]
    )
