"""Every exception the system raises on purpose, in one hierarchy.

Catch `CoachError` to catch them all. The tree::

    CoachError
    ├── ConfigError              a setting is missing or invalid (message names it)
    ├── WebhookRejected          a delivery we refuse; `.status_code` is the HTTP answer
    │   ├── SignatureInvalid     401: bad/missing JWT or HMAC, expired, wrong body hash or URL
    │   ├── PayloadInvalid       400: not JSON, or no call id
    │   └── PayloadTooLarge      413: body over the configured limit
    ├── GongError                the Gong API failed after retries
    │   ├── GongNotFound         the call or transcript does not exist (yet)
    │   └── GongRateLimited      429 with a Retry-After too long to wait in a worker (or the
    │       └── GongBudgetSpent  daily budget is spent): `.retry_after_s` says when to retry
    ├── StorageError             object storage (S3) failed
    ├── RubricError              a rubric or knowledge-base file is invalid, or changed without
    │                            a version bump
    ├── ClaudeError              a Claude request failed after retries (outage: try later)
    │   ├── ClaudeRequestRejected  4xx from the API (not retried); `.message` is the API's text
    │   ├── InvalidAnalysis      the model's output failed validation, even after one repair
    │   └── SlotTimeout          no Claude concurrency slot freed up in time (try later)
    ├── BudgetExceeded           month-to-date spend would pass the monthly budget
    ├── AccessDenied             a caller asked for data outside their scope (worded the same
    │                            as for data that does not exist)
    └── InvalidRequest           a request's value is invalid (a tool argument, a cursor)

Transient faults (Gong 429, Claude 429/529/5xx, connection errors) are retried inside the
adapters and only surface as `GongError` / `ClaudeError` once retries are spent.
`is_transient(exc)` tells an outage (retry later, never give up) from a failure that counts
towards parking a call as `needs_attention`.
"""

from __future__ import annotations


class CoachError(Exception):
    """Base class of every deliberate error in the system."""


class ConfigError(CoachError):
    """A required setting is missing or a setting is invalid."""


class WebhookRejected(CoachError):
    status_code = 400


class SignatureInvalid(WebhookRejected):
    status_code = 401


class PayloadInvalid(WebhookRejected):
    status_code = 400


class PayloadTooLarge(WebhookRejected):
    status_code = 413


class GongError(CoachError):
    """The Gong API failed (after retries for transient errors)."""


class GongNotFound(GongError):
    """Gong does not (yet) have the requested call or transcript."""


class GongRateLimited(GongError):
    """Gong asked us to wait longer than a worker should: re-queue after `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class GongBudgetSpent(GongRateLimited):
    """Today's Gong request budget is used up; retry after midnight UTC."""


class StorageError(CoachError):
    """Object storage failed."""


class RubricError(CoachError):
    """A rubric or knowledge-base file is invalid or changed without a version bump."""


class ClaudeError(CoachError):
    """A Claude request failed for good."""


class ClaudeRequestRejected(ClaudeError):
    """The API refused the request (4xx); it is not retried."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"Claude API {status_code}: {message}")
        self.status_code = status_code
        self.message = message


class InvalidAnalysis(ClaudeError):
    """The model's structured output failed validation, even after a repair request."""


class SlotTimeout(ClaudeError):
    """No Claude concurrency slot was free in time."""


class BudgetExceeded(CoachError):
    """Month-to-date spend would pass the monthly budget."""


class AccessDenied(CoachError):
    """The caller asked for data outside their scope."""


def is_transient(exc: BaseException) -> bool:
    """An outage to wait out (Claude or Gong unavailable, Postgres restarting), not a fault of
    the call itself. Such failures are retried with backoff and never park a call."""
    import psycopg  # local: errors stays importable without the driver's cost at start-up

    if isinstance(exc, ClaudeRequestRejected | InvalidAnalysis | GongNotFound):
        return False
    return isinstance(exc, ClaudeError | GongError | StorageError | psycopg.OperationalError)


class InvalidRequest(CoachError):
    """A request's value is invalid; the message says which and what is accepted."""
