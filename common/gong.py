"""Gong API v2 client: calls with parties, transcripts, users.

Basic auth, a client-side cap of N requests per second (Gong allows 3/s and 10,000/day per
company), 429 answered by waiting `Retry-After`, 5xx and connection errors retried with
exponential backoff. Cursor pagination is followed to the end. Models ignore unknown fields.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.config import Settings
from common.errors import ConfigError, GongError, GongNotFound


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Party(_Model):
    id: str | None = None
    name: str | None = None
    emailAddress: str | None = None
    title: str | None = None
    userId: str | None = None
    speakerId: str | None = None
    affiliation: str = "Unknown"  # Internal | External | Unknown


class CallMeta(_Model):
    id: str
    url: str | None = None
    title: str | None = None
    started: datetime | None = None
    duration: float | None = None
    primaryUserId: str | None = None

    @field_validator("id", "primaryUserId", mode="before")
    @classmethod
    def _as_str(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class Call(_Model):
    metaData: CallMeta
    parties: list[Party] = Field(default_factory=list)


class Sentence(_Model):
    start: int  # ms from the call's start
    end: int
    text: str


class Monologue(_Model):
    speakerId: str
    topic: str | None = None
    sentences: list[Sentence]


class CallTranscript(_Model):
    callId: str
    transcript: list[Monologue]

    @field_validator("callId", mode="before")
    @classmethod
    def _as_str(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class User(_Model):
    id: str
    emailAddress: str | None = None
    firstName: str | None = None
    lastName: str | None = None
    title: str | None = None
    active: bool = True
    managerId: str | None = None

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.firstName, self.lastName) if p)


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
        requests_per_second: float = 3.0,
        max_retries: int = 5,
        timeout_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), auth=(access_key, secret), timeout=timeout_s
        )
        self._limiter = RateLimiter(requests_per_second)
        self._max_retries = max_retries
        self._sleep = sleep
        self.requests_made = 0

    @classmethod
    def from_settings(cls, s: Settings) -> GongClient:
        if not (s.gong_access_key and s.gong_access_key_secret):
            raise ConfigError("GONG_ACCESS_KEY and GONG_ACCESS_KEY_SECRET are required")
        return cls(
            s.gong_base_url,
            s.gong_access_key.get_secret_value(),
            s.gong_access_key_secret.get_secret_value(),
            s.gong_requests_per_second,
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
                if attempt == self._max_retries:
                    raise GongError(f"Gong {path}: HTTP {response.status_code} after retries")
                self._sleep(self._retry_after(response) or self._backoff(attempt))
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
        """`POST /v2/calls/extensive` with parties, by ids or by date range."""
        flt: dict[str, Any] = {}
        if call_ids:
            flt["callIds"] = call_ids
        if from_dt:
            flt["fromDateTime"] = from_dt.isoformat()
        if to_dt:
            flt["toDateTime"] = to_dt.isoformat()
        body = {"filter": flt, "contentSelector": {"exposedFields": {"parties": True}}}
        for raw in self._paged("POST", "/v2/calls/extensive", "calls", body):
            yield Call.model_validate(raw)

    def call(self, call_id: str) -> Call:
        for found in self.calls(call_ids=[call_id]):
            if found.metaData.id == call_id:
                return found
        raise GongNotFound(f"Gong has no call {call_id}")

    def transcript(self, call_id: str) -> tuple[CallTranscript, dict[str, Any]]:
        """The call's transcript, parsed and raw (the raw form is what we store)."""
        body = {"filter": {"callIds": [call_id]}}
        for raw in self._paged("POST", "/v2/calls/transcript", "callTranscripts", body):
            if str(raw.get("callId")) == call_id:
                return CallTranscript.model_validate(raw), raw
        raise GongNotFound(f"Gong has no transcript for call {call_id} yet")

    def users(self) -> Iterator[User]:
        for raw in self._paged("GET", "/v2/users", "users"):
            yield User.model_validate(raw)


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    errors = data.get("errors") if isinstance(data, dict) else None
    return "; ".join(map(str, errors)) if errors else str(data)[:200]
