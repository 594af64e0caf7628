"""Schema-valid structured output for the stand-in, drawn from the transcript in the prompt.

The stand-in does not understand the call: it fills the requested JSON schema with
deterministic placeholders. Quotes are real sentences from transcript lines (`[mm:ss] Name
(...): text`) with their timestamps; integers honour the bounds the SDK moves into the
description (`{maximum: 5, minimum: 1}`); an array of objects with a `criterion_id` gets one
item per id listed on a `Criterion ids:` line of the prompt.

It also exercises the checks on what a real model might get wrong or rightly decline: a
criterion listed on a `May be N/A:` line is N/A (null) for about a third of calls; a
dimension the prompt says may be N/A as a whole is N/A when no external line voices a concern;
and about one quote in six names the wrong side in `said_by` (a quote in the wrong mouth).

Scores are a planted truth plus noise, as a real judge's are: each (call, criterion) has a
true score (`planted_truth`, from the call's header and the criterion id), and each answer
draws around it with a spread that depends on the model (`NOISE`: Haiku wider than Sonnet),
so repeated samples of one call disagree the way a model at temperature 1 does, and a
benchmark can count how close published scores are to the truth. The model's own overall is
the mean of its criteria, off by two points about one answer in twenty.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from typing import Any

LINE = re.compile(r"^\[((?:\d+:)?\d{2}:\d{2})\] ([^:\n]+?): (.+)$", re.MULTILINE)
BOUND = re.compile(r"(minimum|maximum|minItems|maxItems): (\d+)")
CRITERIA = re.compile(r"^Criterion ids: (.+)$", re.MULTILINE)
MAY_BE_NA = re.compile(r"^May be N/A: (.+)$", re.MULTILINE)
DIMENSION_NA = re.compile(r"^The whole dimension may be N/A: ", re.MULTILINE)
REP_ONLY = re.compile(
    r"^### ([a-z0-9_]+) - [^\n]*\n(?:(?!### )[^\n]*\n)*?- Evidence: the rep's own words only\.",
    re.MULTILINE,
)
CALL_KEY = re.compile(r"^(Call: .*\nDate: .*)$", re.MULTILINE)
NOISE = {"haiku": 0.55, "sonnet": 0.35, "opus": 0.3}  # SD of an answer around the truth
CONCERN = re.compile(r"\b(concern|worried|expensive|price|budget|competitor|risk)\b", re.I)
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
    may_be_na: tuple[str, ...] = ()
    dimension_na: bool = False
    call_key: str = ""  # the call's header lines: what its planted truth is drawn from
    noise: float = 0.6
    rep_only: frozenset[str] = frozenset()  # criteria whose evidence is the rep's own words
    quoting_rep: bool = False  # the criterion being written is one of them


def planted_truth(call_key: str, criterion_id: str) -> int:
    """The true 1-5 score of a criterion on a call (the same for every model and sample)."""
    h = int(hashlib.sha256(f"{call_key}|{criterion_id}".encode()).hexdigest()[:8], 16)
    return (1, 2, 2, 3, 3, 3, 4, 4, 4, 5)[h % 10]


def truly_not_applicable(call_key: str, criterion_id: str) -> bool:
    h = int(hashlib.sha256(f"na|{call_key}|{criterion_id}".encode()).hexdigest()[:8], 16)
    return h % 3 == 0


def noise_for(model: str) -> float:
    return next((sd for family, sd in NOISE.items() if family in model), 0.6)


def context_from_prompt(
    prompt_text: str, seed: int, hallucinate: bool, invalid: bool, model: str = ""
) -> Context:
    lines = LINE.findall(prompt_text)
    ids_match = CRITERIA.findall(prompt_text)
    ids = [i.strip() for i in ids_match[-1].split(",")] if ids_match else []
    na = MAY_BE_NA.findall(prompt_text)
    may_be_na = tuple(i.strip() for i in na[-1].split(",")) if na else ()
    concern = any(CONCERN.search(text) for _, who, text in lines if "external" in who)
    dimension_na = bool(DIMENSION_NA.search(prompt_text)) and not concern
    key = CALL_KEY.search(prompt_text)
    rep_only = frozenset(
        m.group(1) for m in REP_ONLY.finditer(prompt_text) if m.group(1) in set(ids)
    )
    return Context(
        random.Random(seed),
        lines,
        ids,
        hallucinate,
        invalid,
        may_be_na,
        dimension_na,
        key.group(1) if key else "",
        noise_for(model),
        rep_only,
    )


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


def _quote(ctx: Context) -> tuple[str, str, str]:
    """(timestamp, quote, said_by): the side is the line's, wrong about one time in six."""
    if ctx.hallucinate or not ctx.lines:
        return "00:00", "We guarantee a 40% uplift in revenue within one week of launch.", "rep"
    reps = [line for line in ctx.lines if "external" not in line[1]]
    # a coach quotes what the rep did: the rep's lines mostly, only theirs where asked
    pool = reps if reps and (ctx.quoting_rep or ctx.rng.random() < 0.7) else ctx.lines
    ts, who, text = ctx.rng.choice(pool)
    parts = re.split(r"(?<=[.?!])\s+|(?<=[\u3002\uff1f\uff01])\s*", text)
    sentences = [s for s in parts if len(s.split()) >= 4 or len(s) >= 12] or [text]
    side = "customer" if "external" in who else "rep"
    if ctx.rng.random() < 1 / 6:
        side = {"rep": "customer", "customer": "rep"}[side]
    return ts, ctx.rng.choice(sentences), side


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
        ts, quote, side = _quote(ctx)
        out["quote"] = quote
        if "timestamp" in props:
            out["timestamp"] = ts
        if "said_by" in props:
            out["said_by"] = side
    for key, sub in props.items():
        if key not in out:
            out[key] = generate(sub, root, ctx, key)
    if "overall_score" in out and isinstance(out.get("criteria"), list):
        scores = [c["score"] for c in out["criteria"] if isinstance(c.get("score"), int)]
        if scores and not ctx.invalid:
            out["overall_score"] = max(1, min(5, round(sum(scores) / len(scores))))
            if ctx.rng.random() < 0.05:  # an overall that does not follow its criteria
                out["overall_score"] = 1 if out["overall_score"] >= 3 else 5
    if ctx.dimension_na and "overall_score" in out and isinstance(out.get("criteria"), list):
        out["overall_score"] = None
        out["coaching_note"] = "N/A: no objection or concern came up, so there was none to handle."
        for item in out["criteria"]:
            item["score"] = None
            item["rationale"] = "N/A: the customer raised no concern in this part of the call."
    return out


def _array(schema: dict[str, Any], root: dict[str, Any], ctx: Context, name: str) -> list[Any]:
    items = _resolve(schema.get("items", {}), root)
    if "criterion_id" in items.get("properties", {}) and ctx.criterion_ids:
        out = []
        for cid in ctx.criterion_ids:
            ctx.quoting_rep = cid in ctx.rep_only
            item = generate(items, root, ctx)
            ctx.quoting_rep = False
            item["criterion_id"] = cid
            if isinstance(item.get("score"), int) and not ctx.invalid:
                truth = planted_truth(ctx.call_key, cid)
                item["score"] = max(1, min(5, round(truth + ctx.rng.gauss(0, ctx.noise))))
            if cid in ctx.may_be_na and (
                truly_not_applicable(ctx.call_key, cid) != (ctx.rng.random() < 0.04)
            ):
                item["score"] = None
                item["rationale"] = f"N/A: the rubric's condition for {cid} holds in this call."
            out.append(item)
        return out
    b = _bounds(schema)
    low, high = b.get("minItems", 1), b.get("maxItems", 3)
    return [
        generate(items, root, ctx, name)
        for _ in range(ctx.rng.randint(low, max(low, min(high, 3))))
    ]
