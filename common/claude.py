"""Claude through the official anthropic SDK: structured output, retries, usage.

Cost arithmetic of the prompt layout (`common.scoring.prompts`), for a 60-minute call on
claude-sonnet-5-5 ($2/M input, $2.50/M 5-minute cache write, $0.10/M cache read, $10/M output):

    static prefix P ~ 4K tokens (instructions, knowledge base, four rubrics)
    transcript    T ~ 16K tokens, dimension instruction ~ 100 tokens, output O ~ 1K per dimension

    dimension 1: writes P+T once (when P is already cached by another call it only writes T):
                 (P+T) x $2.50/M = 20K x 2.5 = $0.050
    dimensions 2-4 read P+T:      3 x 20K x $0.10/M = $0.006
    instructions: 4 x 100 x $2/M ~ $0.001;  output: 4 x 1K x $10/M = $0.040
    total ~ $0.097 per call, against $0.16 for four uncached requests' input alone
    (4 x 20K x $2/M) plus the same output. The transcript is paid about 1.25x + 3 x 0.05x = 1.4x
    its plain input price instead of 4x.

This only holds if dimension 1's response has begun before 2-4 are sent: a cache entry is
readable once the response that writes it has begun, so four requests started together would
all pay for the write. The first dimension therefore streams, and the other three start as
soon as its response has begun (per chunk, through `common.scoring.scorer.PrefixGate`): the same cost
as running it alone first, for about half the wall time. A `max_tokens: 0` pre-warm is not
needed: the API refuses it with `output_config.format`, so it would be a fifth request that
writes P+T before all four read it, one extra read of P+T (~$0.002 here) for no gain over
streaming the first dimension. `bench/cost_per_call.py` shows the split per call.

We use `messages.create` with `output_config.format` (the schema built by the SDK's
`transform_schema` from the pydantic model) and validate ourselves rather than
`messages.parse`: when parsing fails, `parse` raises and the billed response's usage is lost,
and every response must reach the cost ledger.

Retries: the SDK retries 408/409/429/5xx/529 and connection errors with exponential backoff
and jitter, honouring `retry-after`/`retry-after-ms` (`max_retries`). Other 4xx are not
retried and surface as `ClaudeRequestRejected` with the API's message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import anthropic
from anthropic.types import OutputConfigParam
from pydantic import BaseModel

from common.config import Settings
from common.errors import ClaudeError, ClaudeRequestRejected
from common.scoring.costs import Usage


@dataclass(frozen=True)
class ClaudeResponse:
    id: str  # the API's message id: one per billed response
    text: str
    usage: Usage
    request_id: str | None
    model: str
    stop_reason: str | None


@lru_cache(maxsize=8)
def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema for `output_config.format`, as the SDK's parse helper builds it."""
    return anthropic.transform_schema(model)


class ClaudeClient:
    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        max_retries: int = 4,
        timeout_s: float = 300.0,
    ) -> None:
        self.sdk = anthropic.Anthropic(
            api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout_s
        )

    @classmethod
    def from_settings(cls, s: Settings) -> ClaudeClient:
        key = s.anthropic_api_key.get_secret_value() if s.anthropic_api_key else None
        return cls(key, s.anthropic_base_url, s.claude_max_retries)

    def close(self) -> None:
        self.sdk.close()

    def structured(
        self,
        *,
        model: str,
        system: list[dict[str, Any]],
        messages: list[dict[str, Any]],
        max_tokens: int,
        schema: type[BaseModel],
        on_begun: Callable[[], None] | None = None,
    ) -> ClaudeResponse:
        """One request with structured output; the text is not validated here.

        With `on_begun`, the request streams and `on_begun()` is called as soon as the response
        has begun: from then on the prompt-cache entries it writes are readable by others.
        """
        params: dict[str, Any] = {
            "model": model,
            "max_tokens": max_tokens,
            "system": system,
            "messages": messages,
            "output_config": structured_output(schema),
        }
        try:
            if on_begun is None:
                msg = self.sdk.messages.create(**params)
                request_id = msg._request_id
            else:
                with self.sdk.messages.stream(**params) as stream:
                    on_begun()
                    msg = stream.get_final_message()
                    request_id = stream.response.headers.get("request-id")
        except anthropic.APIStatusError as exc:
            if 400 <= exc.status_code < 500 and exc.status_code not in (408, 409, 429):
                raise ClaudeRequestRejected(exc.status_code, _api_message(exc)) from None
            raise ClaudeError(
                f"Claude API {exc.status_code} after retries: {_api_message(exc)}"
            ) from None
        except anthropic.APIConnectionError as exc:
            raise ClaudeError(
                f"Claude API unreachable after retries: {type(exc).__name__}"
            ) from None
        return response_from(msg, request_id)

    # -- Message Batches (half price; nobody waiting) ---------------------------------------
    def submit_batch(self, requests: list[dict[str, Any]]) -> str:
        """Submit `[{"custom_id", "params"}]`; returns the batch id."""
        try:
            return self.sdk.messages.batches.create(requests=requests).id  # type: ignore[arg-type]
        except anthropic.APIStatusError as exc:
            raise ClaudeRequestRejected(exc.status_code, _api_message(exc)) from None

    def batch_status(self, batch_id: str) -> str:
        return self.sdk.messages.batches.retrieve(batch_id).processing_status

    def batch_results(
        self, batch_id: str
    ) -> Iterator[tuple[str, ClaudeResponse | None, str | None]]:
        """(custom_id, response, error) per request; error is set for errored/expired/canceled."""
        for item in self.sdk.messages.batches.results(batch_id):
            if item.result.type == "succeeded":
                yield item.custom_id, response_from(item.result.message), None
            elif item.result.type == "errored":
                yield item.custom_id, None, str(item.result.error.error.message)
            else:
                yield item.custom_id, None, item.result.type

    def count_tokens(
        self, *, model: str, system: list[dict[str, Any]], messages: list[dict[str, Any]]
    ) -> int:
        """Anthropic's free count_tokens endpoint (use only with a real key)."""
        kwargs: dict[str, Any] = {"system": system} if system else {}
        result = self.sdk.messages.count_tokens(model=model, messages=messages, **kwargs)  # type: ignore[arg-type]
        return result.input_tokens


def structured_output(schema: type[BaseModel]) -> OutputConfigParam:
    return {"format": {"type": "json_schema", "schema": output_schema(schema)}}


def response_from(msg: Any, request_id: str | None = None) -> ClaudeResponse:
    """Our view of a Message, from a direct response or a batch result."""
    text = "".join(b.text for b in msg.content if b.type == "text")
    return ClaudeResponse(
        id=msg.id,
        text=text,
        usage=Usage.from_api(msg.usage),
        request_id=request_id,
        model=msg.model,
        stop_reason=msg.stop_reason,
    )


def _api_message(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])
    return str(exc.message)
