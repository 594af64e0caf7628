"""What every coaching MCP tool shares: the argument types (with the bounds and descriptions
the client sees), the read/write annotations, and the one error boundary (`tool_errors`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Literal, Protocol, TypeVar

import psycopg
from fastmcp.exceptions import ToolError
from mcp.types import ToolAnnotations
from psycopg_pool import PoolTimeout
from pydantic import Field

from common.errors import CoachError

Dimension = Literal["product_knowledge", "discovery", "objections", "engagement"]
READ = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, idempotent_hint=False, open_world_hint=False)
CallId = Annotated[
    str,
    Field(
        description="Gong call id (as in the call's Gong URL, ?id=...)",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
    ),
]
Rep = Annotated[
    str,
    Field(
        description="A rep's Gong user id, email address or full name",
        min_length=1,
        max_length=200,
    ),
]
Weeks = Annotated[int, Field(ge=1, le=52, description="Weeks back, including this one")]
Offset = Annotated[int, Field(ge=0, le=100_000, description="Reps to skip (the next page)")]
Limit = Annotated[int, Field(ge=1, le=200, description="Reps per page")]
Score = Annotated[float, Field(ge=1, le=5)]
Detail = Annotated[
    Literal["summary", "full"],
    Field(description="summary: scores, top strength and improvement; full: every criterion"),
]
UNAVAILABLE = "the coaching database is not reachable right now; try again in a minute"
REFUSED_VALUE = (
    "a value is out of range or holds a character that cannot be stored (a date too far out,"
    " a NUL character): check the arguments"
)
FAILED = "the coaching server failed on this request; an admin can find it in the server log"
log = logging.getLogger("sales_coach.mcp")
INSTRUCTIONS = (
    "Sales-call coaching from Gong calls scored by Claude on four dimensions (product_knowledge,"
    " discovery, objections, engagement; 1-5). Name reps by name. Quote evidence with its Gong"
    " link. Scores are only as good as the rubric: read the rubric resources to explain a score."
)


@contextmanager
def tool_errors() -> Iterator[None]:
    """The MCP server's one error boundary: our errors become the tool's error text, a
    database outage and a value the database refuses one clear line each, and anything else
    a generic line (logged with its traceback) instead of an internal message."""
    try:
        yield
    except ToolError:
        raise
    except CoachError as exc:
        raise ToolError(str(exc)) from None
    except (psycopg.OperationalError, PoolTimeout):
        raise ToolError(UNAVAILABLE) from None
    except (psycopg.DataError, OverflowError):
        raise ToolError(REFUSED_VALUE) from None
    except Exception:
        log.exception("tool failed")
        raise ToolError(FAILED) from None


T = TypeVar("T")


class Answer(Protocol):
    """A tool's body: runs a service method as the caller (its identity first), inside
    `tool_errors`. Built by `create_server`."""

    def __call__(self, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T: ...
