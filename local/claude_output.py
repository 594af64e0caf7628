"""Schema-valid structured output for the stand-in, drawn from the transcript in the prompt.

The stand-in does not understand the call: it fills the requested JSON schema with
deterministic placeholders. Quotes are real sentences from transcript lines (`[mm:ss] Name
(...): text`) with their timestamps; integers honour the bounds the SDK moves into the
description (`{maximum: 5, minimum: 1}`); an array of objects with a `criterion_id` gets one
item per id listed on a `Criterion ids:` line of the prompt.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

LINE = re.compile(r"^\[((?:\d+:)?\d{2}:\d{2})\] ([^:\n]+?): (.+)$", re.MULTILINE)
BOUND = re.compile(r"(minimum|maximum|minItems|maxItems): (\d+)")
CRITERIA = re.compile(r"^Criterion ids: (.+)$", re.MULTILINE)
PHRASES = [
    "Placeholder assessment from the local stand-in; not a real model judgement.",
    "Asked follow-up questions after the customer described the problem.",
    "Tie the pricing discussion back to the quantified pain before discussing discounts.",
    "Summarise the customer's priorities before presenting the next step.",
    "Let the customer finish their story before answering the objection.",
]


@dataclass
class Context:
    rng: random.Random
    lines: list[tuple[str, str, str]]  # (timestamp, speaker, text)
    criterion_ids: list[str]
    hallucinate: bool = False
    invalid: bool = False


def context_from_prompt(prompt_text: str, seed: int, hallucinate: bool, invalid: bool) -> Context:
    lines = LINE.findall(prompt_text)
    ids_match = CRITERIA.findall(prompt_text)
    ids = [i.strip() for i in ids_match[-1].split(",")] if ids_match else []
    return Context(random.Random(seed), lines, ids, hallucinate, invalid)


def _bounds(schema: dict[str, Any]) -> dict[str, int]:
    found = {k: int(v) for k, v in BOUND.findall(schema.get("description", ""))}
    for key in ("minimum", "maximum", "minItems", "maxItems"):
        if key in schema:
            found[key] = int(schema[key])
    return found


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved: dict[str, Any] = root["$defs"][ref.split("/")[-1]]
        return resolved
    return schema


def _quote(ctx: Context) -> tuple[str, str]:
    if ctx.hallucinate or not ctx.lines:
        return "00:00", "We guarantee a 40% uplift in revenue within one week of launch."
    ts, _, text = ctx.rng.choice(ctx.lines)
    sentences = [s for s in re.split(r"(?<=[.?!])\s+", text) if len(s.split()) >= 4] or [text]
    return ts, ctx.rng.choice(sentences)


def generate(schema: dict[str, Any], root: dict[str, Any], ctx: Context, name: str = "") -> Any:
    schema = _resolve(schema, root)
    kind = schema.get("type")
    if "enum" in schema:
        return ctx.rng.choice(schema["enum"])
    if "anyOf" in schema:
        return generate(schema["anyOf"][0], root, ctx, name)
    if kind == "object":
        return _object(schema, root, ctx)
    if kind == "array":
        return _array(schema, root, ctx, name)
    if kind == "integer":
        b = _bounds(schema)
        value = ctx.rng.randint(b.get("minimum", 1), b.get("maximum", 5))
        return b.get("maximum", 5) + 2 if ctx.invalid and name.endswith("score") else value
    if kind == "number":
        b = _bounds(schema)
        return round(ctx.rng.uniform(b.get("minimum", 0), b.get("maximum", 1)), 2)
    if kind == "boolean":
        return ctx.rng.random() < 0.5
    return ctx.rng.choice(PHRASES)


def _object(schema: dict[str, Any], root: dict[str, Any], ctx: Context) -> dict[str, Any]:
    props: dict[str, Any] = schema.get("properties", {})
    out: dict[str, Any] = {}
    if "quote" in props:
        ts, quote = _quote(ctx)
        out["quote"] = quote
        if "timestamp" in props:
            out["timestamp"] = ts
    for key, sub in props.items():
        if key not in out:
            out[key] = generate(sub, root, ctx, key)
    return out


def _array(schema: dict[str, Any], root: dict[str, Any], ctx: Context, name: str) -> list[Any]:
    items = _resolve(schema.get("items", {}), root)
    if "criterion_id" in items.get("properties", {}) and ctx.criterion_ids:
        out = []
        for cid in ctx.criterion_ids:
            item = generate(items, root, ctx)
            item["criterion_id"] = cid
            out.append(item)
        return out
    b = _bounds(schema)
    low, high = b.get("minItems", 1), b.get("maxItems", 3)
    return [
        generate(items, root, ctx, name)
        for _ in range(ctx.rng.randint(low, max(low, min(high, 3))))
    ]
