"""An Anthropic-compatible stand-in server for tests and the demo (no key, no network).

Point the official SDK at it with `ANTHROPIC_BASE_URL`. It enforces the real API's request
rules (`local.claude_rules`), reports usage with prompt-cache reads and writes by the prefix
rules, answers `output_config.format` with schema-valid JSON drawn from the transcript
(`local.claude_output`), streams when asked, serves the Message Batches endpoints, and injects
429/529, invalid output or ungrounded quotes on demand through `POST /_control`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from common.scoring.token_counts import estimate
from local.claude_output import context_from_prompt, generate
from local.claude_rules import (
    ApiError,
    PromptCache,
    check_breakpoints,
    invalid,
    prompt_blocks,
    validate,
)


@dataclass
class StandInState:
    cache: PromptCache = field(default_factory=PromptCache)
    fail_rate: float = 0.0  # share of requests answered 429 or 529
    invalid_rate: float = 0.0  # share of answers with an out-of-range score
    hallucinate_rate: float = 0.0  # share of answers whose quotes are not in the transcript
    retry_after_ms: int = 20
    outage_after: int = -1  # from this many successful answers on, every request gets 529
    in_flight: int = 0  # Messages requests being answered now
    max_in_flight: int = 0  # the most answered at once since the last reset
    latency_s: float = 0.0  # before the response begins
    generation_s: float = 0.0  # from the response's beginning to its end
    seed: int = 7
    requests: int = 0
    responses: list[dict[str, Any]] = field(default_factory=list)  # one per successful answer
    record_prompts: bool = False  # keep every request's messages in `prompts` (tests)
    prompts: list[str] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def reset(self) -> None:
        with self.lock:
            self.cache = PromptCache()
            self.requests, self.responses, self.errors, self.batches = 0, [], {}, {}
            self.record_prompts, self.prompts = False, []
            self.fail_rate = self.invalid_rate = self.hallucinate_rate = 0.0
            self.outage_after, self.in_flight, self.max_in_flight = -1, 0, 0
            self.latency_s = self.generation_s = 0.0
            self.rng = random.Random(self.seed)

    def roll(self, rate: float) -> bool:
        with self.lock:
            return rate > 0 and self.rng.random() < rate


def _error(exc: ApiError) -> JSONResponse:
    body = {
        "type": "error",
        "error": {"type": exc.kind, "message": exc.message},
        "request_id": f"req_{uuid.uuid4().hex[:20]}",
    }
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


def _prompt_text(body: dict[str, Any]) -> str:
    parts: list[str] = []
    system = body.get("system")
    parts.extend([system] if isinstance(system, str) else [b.get("text", "") for b in system or []])
    for msg in body.get("messages", []):
        content = msg.get("content")
        parts.extend(
            [content] if isinstance(content, str) else [b.get("text", "") for b in content]
        )
    return "\n".join(parts)


def answer(
    state: StandInState, body: dict[str, Any], *, batch: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Process one Messages request: (Message object, its record in state.responses), or ApiError.

    Cache entries are written here, as the response begins; the record's `started`/`finished`
    (monotonic seconds) show how responses overlapped.
    """
    spec = validate(body, batch=batch)
    if state.record_prompts:
        state.prompts.append(json.dumps(body.get("messages")))
    blocks = prompt_blocks(body)
    points = check_breakpoints(body, blocks)
    prompt_tokens = sum(b.tokens for b in blocks)
    if prompt_tokens + body["max_tokens"] > spec.context:
        raise invalid(
            f"prompt is too long: {prompt_tokens} tokens + max_tokens"
            f" {body['max_tokens']} > {spec.context} maximum"
        )
    account = state.cache.account(body["model"], spec, blocks, points)
    text, stop = "", "end_turn"
    if body["max_tokens"] > 0:
        text = _output(state, body)
        if estimate(text) > body["max_tokens"]:
            text, stop = text[: body["max_tokens"] * 3], "max_tokens"
    output_tokens = estimate(text) if text else 0
    usage = {
        "input_tokens": account.input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": account.write_5m + account.write_1h,
        "cache_read_input_tokens": account.read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": account.write_5m,
            "ephemeral_1h_input_tokens": account.write_1h,
        },
        "service_tier": "batch" if batch else "standard",
    }
    record = {
        "model": body["model"],
        "batch": batch,
        **usage,
        "prompt_tokens": account.prompt,
        "stream": bool(body.get("stream")),
        "started": time.monotonic(),
        "finished": None,
    }
    with state.lock:
        state.responses.append(record)
    message = {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [{"type": "text", "text": text}] if text else [],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }
    return message, record


def _output(state: StandInState, body: dict[str, Any]) -> str:
    fmt = (body.get("output_config") or {}).get("format")
    prompt = _prompt_text(body)
    seed = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16)
    if not fmt:
        return "This is the local stand-in: placeholder text, not a model's answer."
    ctx = context_from_prompt(
        prompt,
        seed ^ int(hashlib.sha256(str(body.get("model")).encode()).hexdigest()[:8], 16),
        state.roll(state.hallucinate_rate),
        state.roll(state.invalid_rate),
        str(body.get("model", "")),
    )
    return json.dumps(generate(fmt["schema"], fmt["schema"], ctx))


def _inject_failure(state: StandInState) -> ApiError | None:
    headers = {"retry-after": "1", "retry-after-ms": str(state.retry_after_ms)}
    if 0 <= state.outage_after <= len(state.responses):
        return ApiError(529, "overloaded_error", "Overloaded", headers)
    if not state.roll(state.fail_rate):
        return None
    if state.roll(0.5):
        return ApiError(
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
            headers,
        )
    return ApiError(529, "overloaded_error", "Overloaded", headers)


def _check_headers(request: Request) -> None:
    if not (request.headers.get("x-api-key") or request.headers.get("authorization")):
        raise ApiError(401, "authentication_error", "x-api-key header is required")
    if not request.headers.get("anthropic-version"):
        raise invalid("anthropic-version: header is required")


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise invalid("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    return body


def _sse(
    message: dict[str, Any], record: dict[str, Any], generation_s: float
) -> AsyncIterator[bytes]:
    usage = message["usage"]
    text = message["content"][0]["text"] if message["content"] else ""

    def event(name: str, data: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()

    async def stream() -> AsyncIterator[bytes]:
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {**usage, "output_tokens": 1},
        }
        yield event("message_start", {"message": start})
        yield event(
            "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
        )
        pieces = range(0, len(text), 400)
        for i in pieces:
            yield event(
                "content_block_delta",
                {"index": 0, "delta": {"type": "text_delta", "text": text[i : i + 400]}},
            )
            await asyncio.sleep(generation_s / max(1, len(pieces)))
        yield event("content_block_stop", {"index": 0})
        yield event(
            "message_delta",
            {
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
        record["finished"] = time.monotonic()
        yield event("message_stop", {})

    return stream()


def create_app(state: StandInState) -> Starlette:
    async def messages(request: Request) -> Response:
        with state.lock:
            state.requests += 1
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        response = await answer_request(request)
        if isinstance(response, StreamingResponse):  # in flight until the stream ends
            response.body_iterator = _counted(response.body_iterator)
        else:
            _done()
        return response

    def _done() -> None:
        with state.lock:
            state.in_flight -= 1

    async def _counted(body: AsyncIterable[Any]) -> AsyncIterator[Any]:
        try:
            async for part in body:
                yield part
        finally:
            _done()

    async def answer_request(request: Request) -> Response:
        try:
            _check_headers(request)
            body = await _json_body(request)
            if (failure := _inject_failure(state)) is not None:
                raise failure
            if state.latency_s:
                await asyncio.sleep(state.latency_s)
            message, record = answer(state, body)
        except ApiError as exc:
            with state.lock:
                state.errors[exc.status] = state.errors.get(exc.status, 0) + 1
            return _error(exc)
        if body.get("stream"):
            return StreamingResponse(
                _sse(message, record, state.generation_s),
                media_type="text/event-stream",
                headers={"request-id": f"req_{uuid.uuid4().hex[:20]}"},
            )
        await asyncio.sleep(state.generation_s)
        record["finished"] = time.monotonic()
        return JSONResponse(message, headers={"request-id": f"req_{uuid.uuid4().hex[:20]}"})

    async def count_tokens(request: Request) -> Response:
        try:
            _check_headers(request)
            body = await _json_body(request)
            validate({**body, "max_tokens": 1})
            return JSONResponse({"input_tokens": sum(b.tokens for b in prompt_blocks(body))})
        except ApiError as exc:
            return _error(exc)

    async def create_batch(request: Request) -> Response:
        try:
            _check_headers(request)
            body = await _json_body(request)
            requests = body.get("requests")
            if not isinstance(requests, list) or not requests:
                raise invalid("requests: at least one request is required")
        except ApiError as exc:
            return _error(exc)
        batch_id = f"msgbatch_{uuid.uuid4().hex[:24]}"
        results = []
        for item in requests:
            try:
                if state.roll(state.fail_rate):
                    raise ApiError(529, "overloaded_error", "Overloaded")
                message, _ = answer(state, item["params"], batch=True)
                results.append(
                    {
                        "custom_id": item["custom_id"],
                        "result": {"type": "succeeded", "message": message},
                    }
                )
            except ApiError as exc:
                results.append(
                    {
                        "custom_id": item["custom_id"],
                        "result": {
                            "type": "errored",
                            "error": {
                                "type": "error",
                                "error": {"type": exc.kind, "message": exc.message},
                            },
                        },
                    }
                )
        created = datetime.now(UTC)
        state.batches[batch_id] = {
            "created": created,
            "results": results,
            "polls": 0,
            "base": str(request.base_url).rstrip("/"),
        }
        return JSONResponse(_batch_view(batch_id, state.batches[batch_id]))

    async def get_batch(request: Request) -> Response:
        batch = state.batches.get(request.path_params["batch_id"])
        if batch is None:
            return _error(ApiError(404, "not_found_error", "batch not found"))
        batch["polls"] += 1
        return JSONResponse(_batch_view(request.path_params["batch_id"], batch))

    async def batch_results(request: Request) -> Response:
        batch = state.batches.get(request.path_params["batch_id"])
        if batch is None:
            return _error(ApiError(404, "not_found_error", "batch not found"))
        lines = "\n".join(json.dumps(r) for r in batch["results"]) + "\n"
        return Response(lines, media_type="application/binary")

    async def control(request: Request) -> Response:
        body = await request.json()
        if body.get("reset"):
            state.reset()
        for key in (
            "fail_rate",
            "invalid_rate",
            "hallucinate_rate",
            "retry_after_ms",
            "latency_s",
            "generation_s",
            "outage_after",
        ):
            if key in body:
                setattr(state, key, body[key])
        return JSONResponse({"ok": True})

    async def stats(request: Request) -> Response:
        with state.lock:
            return JSONResponse(
                {
                    "requests": state.requests,
                    "errors": state.errors,
                    "responses": list(state.responses),
                }
            )

    return Starlette(
        routes=[
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
            Route("/v1/messages/batches", create_batch, methods=["POST"]),
            Route("/v1/messages/batches/{batch_id}", get_batch, methods=["GET"]),
            Route("/v1/messages/batches/{batch_id}/results", batch_results, methods=["GET"]),
            Route("/_control", control, methods=["POST"]),
            Route("/_stats", stats, methods=["GET"]),
        ]
    )


def _batch_view(batch_id: str, batch: dict[str, Any]) -> dict[str, Any]:
    """A batch is 'in_progress' when created and on its first poll, 'ended' from the second."""
    ended = batch["polls"] >= 2
    results = batch["results"]
    succeeded = sum(r["result"]["type"] == "succeeded" for r in results)
    created: datetime = batch["created"]
    return {
        "id": batch_id,
        "type": "message_batch",
        "processing_status": "ended" if ended else "in_progress",
        "request_counts": {
            "processing": 0 if ended else len(results),
            "succeeded": succeeded if ended else 0,
            "errored": len(results) - succeeded if ended else 0,
            "canceled": 0,
            "expired": 0,
        },
        "created_at": created.isoformat(),
        "expires_at": (created + timedelta(hours=24)).isoformat(),
        "ended_at": datetime.now(UTC).isoformat() if ended else None,
        "cancel_initiated_at": None,
        "archived_at": None,
        "results_url": f"{batch['base']}/v1/messages/batches/{batch_id}/results" if ended else None,
    }
