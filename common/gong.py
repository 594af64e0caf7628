"""Gong API v2 client: calls with parties, transcripts, users.

Basic auth and a limiter every request goes through. `GongClient.from_settings` is the one way
the product builds a client, and it always carries the `SharedRateLimiter` in Postgres: Gong
allows 3 requests/s and 10,000/day per company, whatever the number of workers, commands and
MCP servers spending them. (The in-process `RateLimiter` is for tests of the client itself.)
A 429 is answered by waiting its `Retry-After` up to `max_retry_after_s`; a longer one (a spent
daily budget says 50,000 s) raises `GongRateLimited` so the caller re-queues the work instead of
holding a worker for hours. 5xx and connection errors are retried with exponential backoff. Ids
are sent up to 100 per request. Cursor pagination is followed to the end. Models ignore unknown
fields.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Annotated, Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from common.config import Settings
from common.db import Db
from common.errors import ConfigError, GongError, GongNotFound, GongRateLimited
from common.limits import SharedRateLimiter

log = logging.getLogger("sales_coach.gong")
M = TypeVar("M", bound=BaseModel)

MAX_IDS = 100  # Gong's page size: ids per calls/extensive or calls/transcript request
# Parties, and the CRM objects linked to the call with their fields as they stand now and as
# they stood at the call (the deal behind the call: common/deals).
CONTENT_SELECTOR: dict[str, Any] = {
    "context": "Extended",
    "contextTiming": ["Now", "TimeOfCall"],
    "exposedFields": {"parties": True},
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


def id_text(value: Any) -> Any:
    """A Gong id as its exact decimal text. Gong sends ids as strings (calls, users) or as int64
    numbers (scorecards), which exceed 2^53: Python's json keeps them exact, and so does this; a
    float has already lost digits and is refused."""
    if isinstance(value, bool):
        raise ValueError("an id is a number or a string, not a boolean")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise ValueError("an id is an integer or a string, not a float (digits lost above 2^53)")
    return value


GongId = Annotated[str, BeforeValidator(id_text)]


class Party(_Model):
    id: GongId | None = None
    name: str | None = None
    emailAddress: str | None = None
    title: str | None = None
    userId: GongId | None = None
    speakerId: GongId | None = None
    affiliation: str = "Unknown"  # Internal | External | Unknown


class CallMeta(_Model):
    id: GongId
    url: str | None = None
    title: str | None = None
    started: datetime | None = None
    duration: float | None = None
    primaryUserId: GongId | None = None
    scope: str | None = None  # Internal | External | Unknown
    system: str | None = None
    direction: str | None = None
    language: str | None = None


class ContextField(_Model):
    """One CRM field: `name` as the CRM names it (Opportunity: Name, StageName, Amount, CloseDate,
    Probability, ...); `value` is whatever the CRM holds (the spec says `object`; in practice a
    string or a number)."""

    name: str
    value: Any = None


class ContextObject(_Model):
    """A CRM object linked to the call (`ExternalCallObject`): with Extended context its fields,
    once per timing asked (Now, TimeOfCall)."""

    objectType: str | None = None  # Opportunity | Account
    objectId: str | None = None
    timing: str | None = None  # Now | TimeOfCall
    fields: list[ContextField] = Field(default_factory=list)

    @field_validator("objectId", mode="before")
    @classmethod
    def _as_str(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class CallContext(_Model):
    """The call's links into one external system (`CallContextDto`)."""

    system: str | None = None  # Salesforce | HubSpot | MicrosoftDynamic | Generic
    objects: list[ContextObject] = Field(default_factory=list)


class Call(_Model):
    metaData: CallMeta
    parties: list[Party] = Field(default_factory=list)
    # None: not asked for (or not sent); []: asked, the call links to nothing
    context: list[CallContext] | None = None


class Sentence(_Model):
    start: int  # ms from the call's start
    end: int
    text: str


class Monologue(_Model):
    speakerId: GongId
    topic: str | None = None
    sentences: list[Sentence]


class CallTranscript(_Model):
    callId: GongId
    transcript: list[Monologue]


class User(_Model):
    id: GongId
    emailAddress: str | None = None
    firstName: str | None = None
    lastName: str | None = None
    title: str | None = None
    active: bool = True
    managerId: GongId | None = None

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.firstName, self.lastName) if p)


class Limiter(Protocol):
    def acquire(self) -> None: ...


class QuestionOption(_Model):
    id: GongId | None = None  # an option without an id cannot be selected
    text: str = ""


class ScorecardQuestion(_Model):
    """A question of a scorecard, with its scale: `minRange`..`maxRange` (RANGE questions), or
    `answerOptions` (single/multi-select, yes/no). Scales are read in common/accuracy/scales.py."""

    questionId: GongId
    questionRevisionId: GongId | None = None
    questionText: str = ""
    isOverall: bool = False
    questionType: str | None = None
    minRange: int | None = None
    maxRange: int | None = None
    answerOptions: list[QuestionOption] | None = None


class Scorecard(_Model):
    scorecardId: GongId
    scorecardName: str = ""
    enabled: bool = True
    questions: list[ScorecardQuestion] = Field(default_factory=list)


class ScorecardAnswer(_Model):
    """`score` is on the question's own scale; `selectedOptions` are option ids."""

    questionId: GongId
    questionRevisionId: GongId | None = None
    isOverall: bool = False
    notApplicable: bool = False
    score: int | None = None
    answerText: str | None = None
    selectedOptions: list[GongId] | None = None


class AnsweredScorecard(_Model):
    answeredScorecardId: GongId
    scorecardId: GongId
    callId: GongId
    reviewTime: datetime
    reviewedUserId: GongId | None = None
    reviewerUserId: GongId
    answers: list[ScorecardAnswer] = Field(default_factory=list)


class RateLimiter:
    """At most `rate` acquisitions per second across threads (evenly spaced)."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            wait = self._next - now
            self._next = max(now, self._next) + self.interval
        if wait > 0:
            self._sleep(wait)


class GongClient:
    """Synchronous Gong API client; errors surface as GongError after retries."""

    def __init__(
        self,
        base_url: str,
        access_key: str,
        secret: str,
        *,
        limiter: Limiter,
        max_retries: int = 5,
        timeout_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        max_retry_after_s: float = 60.0,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), auth=(access_key, secret), timeout=timeout_s
        )
        self._limiter = limiter
        self._max_retries = max_retries
        self._max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self.requests_made = 0

    @classmethod
    def from_settings(cls, s: Settings, db: Db | None = None) -> GongClient:
        """A client for the configured account, spending the company's shared rate and daily
        budget (`gong_limiter`)."""
        if not (s.gong_access_key and s.gong_access_key_secret):
            raise ConfigError("GONG_ACCESS_KEY and GONG_ACCESS_KEY_SECRET are required")
        return cls(
            s.gong_base_url,
            s.gong_access_key.get_secret_value(),
            s.gong_access_key_secret.get_secret_value(),
            limiter=gong_limiter(s, db),
            max_retry_after_s=s.gong_max_retry_after_s,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GongClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -----------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        for attempt in range(self._max_retries + 1):
            self._limiter.acquire()
            self.requests_made += 1
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == self._max_retries:
                    raise GongError(f"Gong {path}: {type(exc).__name__}") from exc
                self._sleep(self._backoff(attempt))
                continue
            if response.status_code == 429 or response.status_code >= 500:
                retry_after = self._retry_after(response)
                if retry_after is not None and retry_after > self._max_retry_after_s:
                    raise GongRateLimited(
                        f"Gong {path}: HTTP {response.status_code}, Retry-After {retry_after:.0f} s",
                        retry_after,
                    )
                if attempt == self._max_retries:
                    raise GongError(f"Gong {path}: HTTP {response.status_code} after retries")
                self._sleep(retry_after or self._backoff(attempt))
                continue
            if response.status_code == 404:
                raise GongNotFound(f"Gong {path}: not found")
            if response.status_code >= 400:
                raise GongError(
                    f"Gong {path}: HTTP {response.status_code}: {_error_text(response)}"
                )
            data: dict[str, Any] = response.json()
            return data
        raise GongError(f"Gong {path}: retries exhausted")  # pragma: no cover

    @staticmethod
    def _retry_after(response: httpx.Response) -> float | None:
        try:
            return max(0.0, float(response.headers.get("retry-after", "")))
        except ValueError:
            return None

    @staticmethod
    def _backoff(attempt: int) -> float:
        return float(min(30.0, 0.5 * 2**attempt) * (0.5 + random.random() / 2))

    def _paged(
        self, method: str, path: str, key: str, body: dict[str, Any] | None = None
    ) -> Iterator[Any]:
        """Yield every record of `key` across pages, repeating the request with the cursor."""
        cursor: str | None = None
        while True:
            if method == "GET":
                params = {"cursor": cursor} if cursor else {}
                page = self._request("GET", path, params=params)
            else:
                page = self._request(
                    "POST", path, json={**(body or {}), **({"cursor": cursor} if cursor else {})}
                )
            yield from page.get(key) or []
            cursor = (page.get("records") or {}).get("cursor")
            if not cursor:
                return

    # -- endpoints -----------------------------------------------------------------------
    def calls(
        self,
        *,
        call_ids: list[str] | None = None,
        from_dt: datetime | None = None,
        to_dt: datetime | None = None,
    ) -> Iterator[Call]:
        """`POST /v2/calls/extensive` with parties and Extended CRM context (Now and
        TimeOfCall), by ids or by date range."""
        flt: dict[str, Any] = {}
        if call_ids:
            flt["callIds"] = call_ids
        if from_dt:
            flt["fromDateTime"] = from_dt.isoformat()
        if to_dt:
            flt["toDateTime"] = to_dt.isoformat()
        body = {"filter": flt, "contentSelector": CONTENT_SELECTOR}
        for raw in self._paged("POST", "/v2/calls/extensive", "calls", body):
            yield Call.model_validate(raw)

    def call(self, call_id: str) -> Call:
        found = self.calls_by_id([call_id])
        if call_id not in found:
            raise GongNotFound(f"Gong has no call {call_id}")
        return found[call_id]

    def calls_by_id(self, call_ids: Sequence[str]) -> dict[str, Call]:
        """Metadata and parties of many calls, 100 ids per request; missing ids are left out."""
        found: dict[str, Call] = {}
        for batch in _batches(call_ids):
            try:
                found.update((c.metaData.id, c) for c in self.calls(call_ids=batch))
            except GongNotFound:
                continue
        return found

    def transcript(self, call_id: str) -> tuple[CallTranscript, dict[str, Any]]:
        """The call's transcript, parsed and raw (the raw form is what we store)."""
        found = self.transcripts([call_id])
        if call_id not in found:
            raise GongNotFound(f"Gong has no transcript for call {call_id} yet")
        return found[call_id]

    def transcripts(
        self, call_ids: Sequence[str]
    ) -> dict[str, tuple[CallTranscript, dict[str, Any]]]:
        """Transcripts of many calls, 100 ids per request; calls without one are left out."""
        found: dict[str, tuple[CallTranscript, dict[str, Any]]] = {}
        for batch in _batches(call_ids):
            body = {"filter": {"callIds": batch}}
            try:
                for raw in self._paged("POST", "/v2/calls/transcript", "callTranscripts", body):
                    found[str(raw.get("callId"))] = (CallTranscript.model_validate(raw), raw)
            except GongNotFound:
                continue
        return found

    def scorecards(self, *, invalid: Counter[str] | None = None) -> list[Scorecard]:
        """`GET /v2/settings/scorecards`: the company's scorecards, their questions and each
        question's scale ([] when Gong answers 404: the company has none). With `invalid`, a
        scorecard our model cannot read is counted there by reason and left out."""
        try:
            data = self._request("GET", "/v2/settings/scorecards")
        except GongNotFound:
            return []
        return list(_valid(Scorecard, data.get("scorecards") or [], invalid, "scorecardId"))

    def answered_scorecards(
        self, *, invalid: Counter[str] | None = None, **filter_: Any
    ) -> Iterator[AnsweredScorecard]:
        """`POST /v2/stats/activity/scorecards`, every page; filter keys as Gong names them
        (reviewFromDate, reviewToDate as YYYY-MM-DD, "to" exclusive; reviewedUserIds, ...).
        With `invalid`, a record our model cannot read is counted there by reason, logged with
        its id and skipped (the rest still come); without it, it raises ValidationError."""
        body = {"filter": {k: v for k, v in filter_.items() if v is not None}}
        try:
            for raw in self._paged(
                "POST", "/v2/stats/activity/scorecards", "answeredScorecards", body
            ):
                yield from _valid(AnsweredScorecard, [raw], invalid, "answeredScorecardId")
        except GongNotFound:  # Gong answers 404 when no scorecard matches
            return

    def users(self) -> Iterator[User]:
        for raw in self._paged("GET", "/v2/users", "users"):
            yield User.model_validate(raw)

    def calls_referencing(self, email: str | None = None, phone: str | None = None) -> list[str]:
        """Ids of the calls Gong's data-privacy API says reference a person (the calls an
        erasure in Gong removes)."""
        if email:
            path, params = "/v2/data-privacy/data-for-email-address", {"emailAddress": email}
        else:
            path, params = "/v2/data-privacy/data-for-phone-number", {"phoneNumber": phone or ""}
        try:
            data = self._request("GET", path, params=params)
        except GongNotFound:
            return []
        return [str(c["id"]) for c in data.get("calls") or [] if c.get("id")]


def gong_limiter(s: Settings, db: Db | None = None) -> SharedRateLimiter:
    """The company's Gong allowance: GONG_REQUESTS_PER_SECOND and GONG_DAILY_BUDGET, shared in
    Postgres by every process (through `db`, the process's pool, when it has one)."""
    return SharedRateLimiter(
        db or s.database_url, "gong", s.gong_requests_per_second, s.gong_daily_budget
    )


def _batches(ids: Sequence[str]) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), MAX_IDS):
        yield unique[start : start + MAX_IDS]


def _valid(
    model: type[M], records: list[Any], invalid: Counter[str] | None, id_field: str
) -> Iterator[M]:
    """The records `model` reads; the others raise, or with `invalid` are counted there by
    reason (field and message, never the values: no customer data in reports or logs), logged
    with their id and skipped."""
    for raw in records:
        try:
            yield model.model_validate(raw)
        except ValidationError as exc:
            if invalid is None:
                raise
            reason = f"{model.__name__}: " + "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors()[:3]
            )
            invalid[reason] += 1
            rid = raw.get(id_field) if isinstance(raw, dict) else None
            log.warning("skipped Gong record %s %s: %s", model.__name__, rid, reason)


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    errors = data.get("errors") if isinstance(data, dict) else None
    return "; ".join(map(str, errors)) if errors else str(data)[:200]
