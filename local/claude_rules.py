"""The Messages API's request rules and prompt-cache accounting, for the stand-in server.

Modelled on the real API as documented for the 2026-10-21 version: required fields, no
sampling parameters, at most 4 cache breakpoints (a top-level `cache_control` takes one),
1h entries before 5m entries, minimum cacheable prefix lengths per model, context limits,
and usage reported as input (after the last breakpoint) + cache writes + cache reads.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from common.scoring.token_counts import estimate


class ApiError(Exception):
    def __init__(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message
        self.headers = headers or {}


def invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", message)


@dataclass(frozen=True)
class ModelSpec:
    context: int
    max_output: int
    min_cacheable: int
    forced_tool_use: bool = True


MODELS: dict[str, ModelSpec] = {
    "claude-sonnet-5-5": ModelSpec(1_000_000, 128_000, 2048, forced_tool_use=False),
    "claude-sonnet-5": ModelSpec(1_000_000, 128_000, 2048),
    "claude-haiku-5-5": ModelSpec(1_000_000, 128_000, 4096),
    "claude-opus-5-5": ModelSpec(1_000_000, 128_000, 4096),
    "claude-haiku-4-5": ModelSpec(200_000, 64_000, 4096),
    "claude-sonnet-4-5": ModelSpec(200_000, 64_000, 1024),
}
SAMPLING = ("temperature", "top_p", "top_k")
TTL_S = {"5m": 300, "1h": 3600}


@dataclass
class Block:
    """One cacheable unit of the prompt in prefix order (tools -> system -> messages)."""

    canonical: str
    tokens: int
    ttl: str | None  # set when the block carries a cache_control breakpoint


def _strip_cache_control(block: Any) -> Any:
    if isinstance(block, dict):
        return {k: v for k, v in block.items() if k != "cache_control"}
    return block


def _text_of(block: dict[str, Any]) -> str:
    if block.get("type") == "text":
        return str(block.get("text", ""))
    return json.dumps(_strip_cache_control(block), sort_keys=True)


def _block(role: str, raw: Any) -> Block:
    if isinstance(raw, str):
        raw = {"type": "text", "text": raw}
    if not isinstance(raw, dict) or "type" not in raw:
        raise invalid(f"{role}: each content block must be an object with a type")
    if raw["type"] == "text" and not isinstance(raw.get("text"), str):
        raise invalid(f"{role}: text blocks need a text field")
    if raw["type"] == "text" and not raw["text"].strip():
        raise invalid(f"{role}: text content blocks must be non-empty")
    cc = raw.get("cache_control")
    ttl = None
    if cc is not None:
        if not isinstance(cc, dict) or cc.get("type") != "ephemeral":
            raise invalid(f"{role}: cache_control.type must be 'ephemeral'")
        ttl = cc.get("ttl", "5m")
        if ttl not in TTL_S:
            raise invalid(f"{role}: cache_control.ttl must be '5m' or '1h'")
    canonical = json.dumps([role, _strip_cache_control(raw)], sort_keys=True)
    return Block(canonical, estimate(_text_of(raw)) + 3, ttl)


def prompt_blocks(body: dict[str, Any]) -> list[Block]:
    """Validate the prompt's shape and flatten it into blocks in cache-prefix order."""
    blocks = [_block("tools", t) for t in body.get("tools") or []]
    system = body.get("system")
    if system is not None:
        if isinstance(system, str):
            blocks.append(_block("system", system))
        elif isinstance(system, list):
            blocks.extend(_block("system", b) for b in system)
        else:
            raise invalid("system: must be a string or a list of text blocks")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages: at least one message is required")
    for i, msg in enumerate(messages):
        role = msg.get("role") if isinstance(msg, dict) else None
        if role not in ("user", "assistant"):
            raise invalid(f"messages.{i}.role: must be 'user' or 'assistant'")
        if i == 0 and role != "user":
            raise invalid("messages.0.role: the first message must use the user role")
        content = msg.get("content")
        if isinstance(content, str):
            content = [content]
        if not isinstance(content, list) or not content:
            raise invalid(f"messages.{i}.content: must be a non-empty string or list")
        blocks.extend(_block(f"messages.{i}", b) for b in content)
    return blocks


def _check_schema(node: Any, path: str = "schema") -> None:
    if isinstance(node, dict):
        if node.get("type") == "object" and node.get("additionalProperties") is not False:
            raise invalid(
                f"output_config.format.{path}: objects must set additionalProperties: false"
            )
        for key, value in node.items():
            _check_schema(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_schema(value, f"{path}.{i}")


def validate(body: dict[str, Any], *, batch: bool = False) -> ModelSpec:
    """Raise ApiError(400/404) for a request the real API would refuse."""
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            raise invalid(f"{name}: Field required")
    spec = MODELS.get(body["model"])
    if spec is None:
        raise ApiError(404, "not_found_error", f"model: {body['model']}")
    for name in SAMPLING:
        if name in body:
            raise invalid(f"{name}: sampling parameters are not supported for {body['model']}")
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or max_tokens < 0 or max_tokens > spec.max_output:
        raise invalid(f"max_tokens: must be an integer from 0 to {spec.max_output}")
    fmt = (body.get("output_config") or {}).get("format")
    if max_tokens == 0 and (fmt or body.get("stream") or batch or _forced(body)):
        raise invalid(
            "max_tokens: 0 cannot be combined with output_config.format, a forced"
            " tool_choice, streaming or batches"
        )
    if _forced(body) and not spec.forced_tool_use:
        raise invalid(
            f"tool_choice: forced tool use is not supported on {body['model']};"
            " use output_config.format"
        )
    if fmt is not None:
        if fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
            raise invalid("output_config.format: type must be json_schema with a schema")
        _check_schema(fmt["schema"])
    return spec


def _forced(body: dict[str, Any]) -> bool:
    return (body.get("tool_choice") or {}).get("type") in ("tool", "any")


def check_breakpoints(body: dict[str, Any], blocks: list[Block]) -> list[int]:
    """Indices of the breakpoint blocks; enforce the count and TTL-order rules."""
    points = [i for i, b in enumerate(blocks) if b.ttl]
    top = body.get("cache_control")
    if top is not None and blocks:
        ttl = top.get("ttl", "5m") if isinstance(top, dict) else "5m"
        if not points or points[-1] != len(blocks) - 1:
            blocks[-1].ttl = ttl
            points.append(len(blocks) - 1)
    if len(points) > 4:
        raise invalid(
            f"A maximum of 4 blocks with cache_control may be provided. Found {len(points)}."
        )
    ttls = [blocks[i].ttl for i in points]
    if "5m" in ttls and "1h" in ttls[ttls.index("5m") :]:
        raise invalid("cache_control: a ttl='1h' entry must not come after a ttl='5m' entry")
    return points


@dataclass
class CacheAccount:
    input_tokens: int
    read: int
    write_5m: int
    write_1h: int

    @property
    def prompt(self) -> int:
        return self.input_tokens + self.read + self.write_5m + self.write_1h


@dataclass
class PromptCache:
    """Cache entries by (model, prefix hash) with expiry; readable as soon as written."""

    entries: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def account(
        self, model: str, spec: ModelSpec, blocks: list[Block], points: list[int]
    ) -> CacheAccount:
        prefix_tokens, keys, digest = [], [], hashlib.sha256(model.encode())
        running = 0
        for block in blocks:
            digest.update(block.canonical.encode())
            running += block.tokens
            prefix_tokens.append(running)
            keys.append(digest.hexdigest())
        total = running
        now = time.monotonic()
        with self.lock:
            hit = max((i for i in points if self.entries.get(keys[i], 0) > now), default=None)
            read = prefix_tokens[hit] if hit is not None else 0
            covered, w5, w1h = read, 0, 0
            for i in points:
                if hit is not None and i <= hit:
                    self.entries[keys[i]] = now + TTL_S[blocks[i].ttl or "5m"]  # refresh
                    continue
                if prefix_tokens[i] < spec.min_cacheable:
                    continue  # too short to cache: silently not cached
                ttl = blocks[i].ttl or "5m"
                written = prefix_tokens[i] - covered
                w5, w1h = (w5 + written, w1h) if ttl == "5m" else (w5, w1h + written)
                covered = prefix_tokens[i]
                self.entries[keys[i]] = now + TTL_S[ttl]
        return CacheAccount(total - covered, read, w5, w1h)
