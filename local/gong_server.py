"""A Gong API v2 stand-in serving the sample calls, with Gong's pagination and rate limits.

Checks Basic auth, pages with `records.cursor`, answers 429 with `Retry-After` above the
configured rate, and lets tests add calls, shrink pages or force 429s through `/_admin`. Every
exchange is kept in `GongState.traffic` (the last 10,000) so tests and the demo can hold it to
Gong's published spec (local/gong_spec.py). It serves what the spec says Gong serves: numeric
(int64) ids in the scorecard endpoints, no `null` where the spec has none.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
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
        self.traffic: deque[dict[str, Any]] = deque(maxlen=10_000)
        # opportunity id -> its CRM fields now, where they changed since the samples (close_deal)
        self.deals_now: dict[str, list[dict[str, Any]]] = {}
        self._window: list[float] = []
        self._lock = threading.Lock()
        for sample in sample_calls():
            self.add(sample["call"], sample["transcript"])

    def add(self, call: dict[str, Any], transcript: dict[str, Any] | None) -> None:
        self.calls[str(call["metaData"]["id"])] = call
        if transcript is not None:
            self.transcripts[str(transcript["callId"])] = transcript

    def close_deal(
        self, opportunity_id: str, stage: str, probability: int, close_date: str
    ) -> None:
        """The CRM closes a deal: from now on every call linked to it shows the new stage in
        its Now context (TimeOfCall keeps the stage at the call)."""
        now = self._opportunity_now(opportunity_id)
        changed = {"StageName": stage, "Probability": probability, "CloseDate": close_date}
        with self._lock:
            self.deals_now[opportunity_id] = [
                {"name": f["name"], "value": changed.get(f["name"], f["value"])} for f in now
            ]

    def _opportunity_now(self, opportunity_id: str) -> list[dict[str, Any]]:
        if opportunity_id in self.deals_now:
            return self.deals_now[opportunity_id]
        for call in self.calls.values():
            for ctx in call.get("context") or []:
                for obj in ctx.get("objects") or []:
                    if obj.get("objectId") == opportunity_id and obj.get("timing") == "Now":
                        return list(obj.get("fields") or [])
        raise KeyError(opportunity_id)

    def served(self, call: dict[str, Any], selector: dict[str, Any]) -> dict[str, Any]:
        """The call as calls/extensive answers for this contentSelector: no `context` unless
        asked; Basic: the links without fields; Extended: the fields at the timings asked
        (default Now), Now fields as the CRM holds them today."""
        served = {k: v for k, v in call.items() if k != "context"}
        level = selector.get("context") or "None"
        if level == "None":
            return served
        timings = set(selector.get("contextTiming") or ["Now"])
        contexts = []
        for ctx in call.get("context") or []:
            objects = []
            for obj in ctx.get("objects") or []:
                if level == "Basic":
                    if obj.get("timing", "Now") == "Now":
                        objects.append(
                            {"objectType": obj["objectType"], "objectId": obj["objectId"]}
                        )
                    continue
                if obj.get("timing", "Now") not in timings:
                    continue
                fresh = self.deals_now.get(obj["objectId"]) if obj.get("timing") == "Now" else None
                objects.append({**obj, "fields": fresh if fresh is not None else obj["fields"]})
            contexts.append({**ctx, "objects": objects})
        served["context"] = contexts
        return served

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


Endpoint = Callable[[Request], Awaitable[JSONResponse]]


def recorded(state: GongState, endpoint: Endpoint) -> Endpoint:
    """The endpoint, keeping each request and its answer in `state.traffic`."""

    async def record(request: Request) -> JSONResponse:
        raw = await request.body()  # Starlette keeps it for the endpoint's own request.json()
        response = await endpoint(request)
        state.traffic.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "body": json.loads(raw) if raw else None,
                "status": response.status_code,
                "response": json.loads(bytes(response.body)),
            }
        )
        return response

    return record


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
        selector = body.get("contentSelector") or {}
        page = [state.served(c, selector) for c in page]
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
        # ids are int64 numbers in the records, strings in the filter (as in Gong's spec)
        reviewed = {str(i) for i in flt.get("reviewedUserIds") or []}
        cards = {str(i) for i in flt.get("scorecardIds") or []}
        found = [
            a
            for a in state.answered
            if (not flt.get("reviewFromDate") or a["reviewTime"][:10] >= flt["reviewFromDate"])
            and (not flt.get("reviewToDate") or a["reviewTime"][:10] < flt["reviewToDate"])
            and (not flt.get("callFromDate") or a["callStartTime"][:10] >= flt["callFromDate"])
            and (not flt.get("callToDate") or a["callStartTime"][:10] < flt["callToDate"])
            and (not reviewed or str(a["reviewedUserId"]) in reviewed)
            and (not cards or str(a["scorecardId"]) in cards)
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
        for deal in body.get("close_deals", []):  # {opportunity_id, stage, probability, close_date}
            state.close_deal(**deal)
        return JSONResponse({"ok": True, "requests": len(state.requests)})

    return Starlette(
        routes=[
            Route("/v2/calls/extensive", recorded(state, extensive), methods=["POST"]),
            Route("/v2/calls/transcript", recorded(state, transcript), methods=["POST"]),
            Route("/v2/users", recorded(state, users), methods=["GET"]),
            Route("/v2/settings/scorecards", recorded(state, settings_scorecards), methods=["GET"]),
            Route(
                "/v2/stats/activity/scorecards",
                recorded(state, activity_scorecards),
                methods=["POST"],
            ),
            Route(
                "/v2/data-privacy/data-for-email-address",
                recorded(state, data_privacy),
                methods=["GET"],
            ),
            Route(
                "/v2/data-privacy/data-for-phone-number",
                recorded(state, data_privacy),
                methods=["GET"],
            ),
            Route("/_admin", admin, methods=["POST"]),
        ]
    )
