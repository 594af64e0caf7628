"""Gong's published API contract (docs/gong/gong-openapi-v2.json) held against our side of it.

- every request the client (common/gong.py) sends is one the operation's schema allows;
- every model of common/gong.py reads every response the spec allows: generated from the spec's
  own schemas, exhaustively at the edges (int64 ids above 2^53, optional fields absent, empty
  arrays, every enum value, unknown extra fields, the spec's own examples) and at random
  (hypothesis, drawing from the same schemas: `responses`);
- every response the Gong stand-in (local/gong_server.py) serves is one the spec allows, so the
  stand-in cannot drift from Gong again.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import common.gong
from common.gong import AnsweredScorecard, Call, CallTranscript, GongClient, Scorecard, User
from common.gong import RateLimiter as ClientRateLimiter
from local.gong_server import GongState
from local.gong_spec import GongSpec, errors_of, spec
from local.stack import GONG_KEY, GONG_SECRET

# What each model reads: (the spec's component, the models it covers through its fields).
MODELS: dict[type[BaseModel], str] = {
    Call: "CallData",
    CallTranscript: "CallTranscript",
    User: "UserMetadata",
    Scorecard: "Scorecard",
    AnsweredScorecard: "AnsweredScorecard",
}
# The spec marks no response field required. These are the fields our models cannot do without
# (a record lacking one is refused, and the scorecard import reports and skips it); every other
# field may be absent.
NEEDED: dict[str, list[str]] = {
    "CallData": ["metaData"],
    "CallBasicData": ["id"],
    "CallTranscript": ["callId", "transcript"],
    "Monologue": ["speakerId", "sentences"],
    "Sentence": ["start", "end", "text"],
    "UserMetadata": ["id"],
    "Scorecard": ["scorecardId"],
    "Question": ["questionId"],
    # a review without its reviewer (none is named for Gong's own AI reviews) is no manager's
    "AnsweredScorecard": [
        "answeredScorecardId",
        "scorecardId",
        "callId",
        "reviewTime",
        "reviewerUserId",
    ],
    "Answer": ["questionId"],
    "ContextField": ["name"],  # a CRM field without its name says nothing
}
READ = spec().requiring(NEEDED)
VARIANTS = ("full", "minimal", "empty-arrays", "lowest", "enum-1", "enum-2", "enum-3", "enum-4")
UNKNOWN = {"fieldGongAddsLater": {"nested": [1, "two", None]}}


def build(schema: dict[str, Any], variant: str) -> Any:
    """One instance of `schema` at the edge that `variant` names."""
    if "enum" in schema:
        values = [v for v in schema["enum"] if v is not None]
        return values[int(variant[-1]) % len(values)] if variant.startswith("enum") else values[0]
    kind = schema.get("type")
    if kind == "object":
        props: dict[str, Any] = schema.get("properties") or {}
        keys = schema.get("required", []) if variant == "minimal" else list(props)
        out = {k: build(props[k], variant) for k in keys}
        return out if variant == "minimal" else {**out, **UNKNOWN}
    if kind == "array":
        return [] if variant == "empty-arrays" else [build(schema.get("items") or {}, variant)]
    if kind == "integer":
        if variant == "lowest":
            return schema.get("minimum", -(2**63))
        return schema.get("maximum", 2**63 - 1)  # int64: far above 2^53
    if kind == "number":
        return 0.0 if variant == "lowest" else 1234.5
    if kind == "boolean":
        return variant != "lowest"
    if kind == "string":
        if schema.get("format") == "date-time":
            return "2026-11-03T09:30:00.123456-08:00"
        return "" if variant == "lowest" else "Gong's text ✓"
    return "an untyped value"


def responses(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Any instance of a converted response schema (local/gong_spec.py gives them: objects,
    arrays, enums, bounded integers, numbers, booleans, strings and date-times), with optional
    properties present or absent and unknown properties added."""
    if "enum" in schema:
        return st.sampled_from([v for v in schema["enum"] if v is not None])
    kind = schema.get("type")
    if kind == "object":
        props: dict[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required", []))
        known = st.fixed_dictionaries(
            {k: responses(v) for k, v in props.items() if k in required},
            optional={k: responses(v) for k, v in props.items() if k not in required},
        )
        extra = st.dictionaries(
            st.text(min_size=1, max_size=8).filter(lambda k: k not in props),
            st.none() | st.integers() | st.text(max_size=5),
            max_size=2,
        )
        return st.tuples(known, extra).map(lambda pair: {**pair[1], **pair[0]})
    if kind == "array":
        return st.lists(responses(schema.get("items") or {}), max_size=3)
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False) | st.integers()
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        if schema.get("format") == "date-time":
            moments = st.datetimes(
                datetime(1990, 1, 1), datetime(2100, 1, 1), timezones=st.timezones()
            )
            return moments.map(lambda d: d.isoformat())
        return st.text(max_size=12)
    return st.none() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=2)


def example(name: str, depth: int = 0) -> Any:
    """An instance made of the spec's own `example`s (not always valid against the spec:
    its date-time examples are numbers)."""
    node = spec().raw["components"]["schemas"][name]
    return _example(node, depth)


def _example(node: dict[str, Any], depth: int) -> Any:
    if "$ref" in node:
        return example(node["$ref"].rsplit("/", 1)[-1], depth + 1) if depth < 8 else {}
    if "example" in node:
        return node["example"]
    kind = node.get("type")
    if kind == "object":
        return {k: _example(v, depth) for k, v in (node.get("properties") or {}).items()}
    if kind == "array":
        return [_example(node.get("items") or {}, depth)]
    if "enum" in node:
        return node["enum"][0]
    return {"integer": 7, "number": 1.5, "boolean": True, "string": "x"}.get(kind or "")


def assert_ids_exact(model: BaseModel, raw: dict[str, Any]) -> None:
    """Every integer Gong sent for a text field is kept as its exact decimal string."""
    for name in type(model).model_fields:
        sent, kept = raw.get(name), getattr(model, name)
        if isinstance(sent, int) and not isinstance(sent, bool) and isinstance(kept, str):
            assert kept == str(sent), (name, sent, kept)
        if isinstance(sent, dict) and isinstance(kept, BaseModel):
            assert_ids_exact(kept, sent)
        if isinstance(sent, list) and isinstance(kept, list):
            for s, k in zip(sent, kept, strict=False):
                if isinstance(s, dict) and isinstance(k, BaseModel):
                    assert_ids_exact(k, s)


def test_every_model_of_the_client_is_held_to_a_schema() -> None:
    """A model added to common/gong.py without a place in MODELS fails here; so does a model
    field made required that NEEDED does not list."""
    models = {
        obj
        for _, obj in inspect.getmembers(common.gong, inspect.isclass)
        if issubclass(obj, BaseModel) and obj.__module__ == "common.gong"
    }
    reached: set[type[BaseModel]] = set()

    def walk(model: type[BaseModel], component: str) -> None:
        reached.add(model)
        raw = spec().raw["components"]["schemas"][component]
        for name, field in model.model_fields.items():
            assert name in raw["properties"], f"{model.__name__}.{name} is not in {component}"
            if field.is_required():
                assert name in NEEDED.get(component, []), f"{component}.{name} is not NEEDED"
            ref = _ref_of(raw["properties"][name])
            inner = _model_of(field.annotation)
            if ref and inner:
                walk(inner, ref)

    for model, component in MODELS.items():
        walk(model, component)
    assert models - {common.gong._Model} == reached


def _ref_of(prop: dict[str, Any]) -> str | None:
    ref = prop.get("$ref") or (prop.get("items") or {}).get("$ref")
    return str(ref).rsplit("/", 1)[-1] if ref else None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if (found := _model_of(arg)) is not None:
            return found
    return None


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_models_read_the_edges_of_what_the_spec_allows(
    model: type[BaseModel], variant: str
) -> None:
    schema = READ.component(MODELS[model])
    raw = build(schema, variant)
    assert errors_of(schema, raw) == []  # the generator itself keeps to the spec
    assert_ids_exact(model.model_validate(raw), raw)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_models_read_the_specs_own_examples(model: type[BaseModel]) -> None:
    raw = example(MODELS[model])
    for needed in NEEDED.get(MODELS[model], []):
        assert needed in raw
    assert_ids_exact(model.model_validate(raw), raw)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
# Hypothesis warns when the global `random` state moves during a draw; in the whole suite the
# servers other tests leave running (the stand-ins' fault injection, the SDK's retry jitter)
# move it from their own threads. The strategies here never use `random`.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_models_read_any_response_the_spec_allows(model: type[BaseModel], data: Any) -> None:
    raw = data.draw(responses(READ.component(MODELS[model])))
    assert_ids_exact(model.model_validate(raw), raw)


def exercise(client: GongClient) -> None:
    """Every endpoint of the client, with every filter it sends."""
    calls = list(client.calls(from_dt=datetime(2026, 1, 1, tzinfo=UTC)))
    ids = [c.metaData.id for c in calls]
    client.calls_by_id([*ids, *ids[:2]])  # repeated ids are sent once
    client.transcripts(ids)
    list(client.users())
    client.scorecards()
    list(client.answered_scorecards(reviewFromDate="2026-11-01", reviewToDate="2026-12-01"))
    reviewed = sorted({c.metaData.primaryUserId or "" for c in calls})
    list(client.answered_scorecards(reviewedUserIds=reviewed, callFromDate="2026-11-01"))
    list(client.answered_scorecards(reviewFromDate="2030-01-01"))  # a 404: none found
    client.calls_referencing(email="marcus.webb@acmelogistics.example")
    client.calls_referencing(phone="+1 415 555 0100")


@pytest.fixture
def traffic(gong: tuple[GongState, str]) -> list[dict[str, Any]]:
    state, url = gong
    state.page_size = 3  # cursors in every paged request
    with GongClient(url, GONG_KEY, GONG_SECRET, limiter=ClientRateLimiter(1000)) as client:
        exercise(client)
    return list(state.traffic)


def test_every_request_the_client_sends_is_one_the_spec_allows(
    traffic: list[dict[str, Any]],
) -> None:
    assert {t["path"] for t in traffic} >= {
        "/v2/calls/extensive",
        "/v2/calls/transcript",
        "/v2/users",
        "/v2/settings/scorecards",
        "/v2/stats/activity/scorecards",
        "/v2/data-privacy/data-for-email-address",
        "/v2/data-privacy/data-for-phone-number",
    }
    assert any((t["body"] or {}).get("cursor") for t in traffic)
    errors = {
        f"{t['method']} {t['path']} {t['body']} {t['query']}": e
        for t in traffic
        if (e := spec().request_errors(t["method"], t["path"], t["body"], t["query"]))
    }
    assert errors == {}


def test_every_response_the_stand_in_serves_is_one_the_spec_allows(
    traffic: list[dict[str, Any]],
) -> None:
    assert {t["status"] for t in traffic} >= {200, 404}
    errors = {
        f"{t['method']} {t['path']} -> {t['status']}": e[:5]
        for t in traffic
        if (e := spec().response_errors(t["method"], t["path"], t["status"], t["response"]))
    }
    assert errors == {}


def test_the_stand_ins_refusals_are_ones_the_spec_allows(gong: tuple[GongState, str]) -> None:
    state, url = gong
    with (
        GongClient(url, GONG_KEY, "wrong", limiter=ClientRateLimiter(1000)) as client,
        pytest.raises(common.gong.GongError),
    ):
        client.scorecards()
    state.force_429 = 1
    with GongClient(
        url, GONG_KEY, GONG_SECRET, limiter=ClientRateLimiter(1000), sleep=lambda s: None
    ) as client:
        client.scorecards()
    assert {t["status"] for t in state.traffic} >= {401, 429, 200}
    for t in state.traffic:
        assert spec().response_errors(t["method"], t["path"], t["status"], t["response"]) == []


def test_the_spec_copy_is_read_as_gongs_own() -> None:
    """The converter refuses a null where the spec has none, and int64s out of range."""
    answer = spec().component("Answer")
    assert errors_of(answer, {"questionId": 2**63 - 1}) == []
    assert errors_of(answer, {"questionId": 2**63}) != []
    assert errors_of(answer, {"answerText": None}) != []
    assert errors_of(spec().component("Monologue"), {"topic": None}) != []
    assert isinstance(GongSpec().operation("GET", "/v2/settings/scorecards"), dict)
