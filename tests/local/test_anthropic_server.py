"""The Claude stand-in enforces the real API's rules, spoken to through the official SDK."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from common.claude import output_schema
from common.scoring.analysis import DimensionAssessment
from local.anthropic_server import StandInState

LONG = "The customer described their reporting process in detail. " * 400  # ~3.5K tokens
MODEL = "claude-sonnet-5-5"


@pytest.fixture
def sdk(
    claude_stand_in: tuple[StandInState, str], claude: StandInState
) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(api_key="sk-test", base_url=claude_stand_in[1], max_retries=0)
    yield client
    client.close()


def cc(ttl: str = "5m") -> dict[str, Any]:
    return {"type": "ephemeral", "ttl": ttl}


def user(*texts: str, cache: int | None = None) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": t} for t in texts]
    if cache is not None:
        blocks[cache]["cache_control"] = cc()
    return [{"role": "user", "content": blocks}]


def test_cache_write_then_read_and_usage_fields(sdk: anthropic.Anthropic) -> None:
    system = [{"type": "text", "text": LONG, "cache_control": cc()}]
    first = sdk.messages.create(
        model=MODEL, max_tokens=50, system=system, messages=user("Question one?")
    )  # type: ignore[arg-type]
    second = sdk.messages.create(
        model=MODEL, max_tokens=50, system=system, messages=user("Question two?")
    )  # type: ignore[arg-type]
    assert (
        first.usage.cache_creation_input_tokens > 2048 and first.usage.cache_read_input_tokens == 0
    )
    assert first.usage.cache_creation is not None
    assert (
        first.usage.cache_creation.ephemeral_5m_input_tokens
        == first.usage.cache_creation_input_tokens
    )
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    assert 0 < second.usage.input_tokens < 20


def test_prefix_below_minimum_is_not_cached_and_not_an_error(sdk: anthropic.Anthropic) -> None:
    system = [{"type": "text", "text": "Short system prompt.", "cache_control": cc()}]
    for _ in range(2):
        msg = sdk.messages.create(model=MODEL, max_tokens=10, system=system, messages=user("Hi"))  # type: ignore[arg-type]
        assert msg.usage.cache_creation_input_tokens == 0 and msg.usage.cache_read_input_tokens == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"extra_body": {"temperature": 0.2}},
            "temperature: sampling parameters are not supported",
        ),
        (
            {
                "messages": user("a", "b", "c", "d", "e", cache=0)
                and [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": str(i), "cache_control": cc()}
                            for i in range(5)
                        ],
                    }
                ]
            },
            "A maximum of 4 blocks with cache_control",
        ),
        (
            {
                "system": [{"type": "text", "text": "x", "cache_control": cc("5m")}],
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "text", "text": "y", "cache_control": cc("1h")}],
                    }
                ],
            },
            "ttl='1h' entry must not come after",
        ),
        (
            {
                "max_tokens": 0,
                "output_config": {
                    "format": {"type": "json_schema", "schema": output_schema(DimensionAssessment)}
                },
            },
            "max_tokens: 0 cannot be combined",
        ),
        (
            {
                "tools": [{"name": "score", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "tool", "name": "score"},
            },
            "forced tool use is not supported",
        ),
        (
            {
                "output_config": {
                    "format": {
                        "type": "json_schema",
                        "schema": {"type": "object", "properties": {}},
                    }
                }
            },
            "additionalProperties: false",
        ),
        (
            {"messages": [{"role": "assistant", "content": "hi"}]},
            "first message must use the user role",
        ),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]}, "non-empty"),
    ],
)
def test_invalid_requests_get_400_with_the_apis_error_shape(
    sdk: anthropic.Anthropic, kwargs: dict[str, Any], message: str
) -> None:
    params: dict[str, Any] = {"model": MODEL, "max_tokens": 10, "messages": user("Hello")}
    params.update(kwargs)
    with pytest.raises(anthropic.BadRequestError) as exc:
        sdk.messages.create(**params)
    assert exc.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert message in exc.value.body["error"]["message"]  # type: ignore[index]


def test_context_limit_and_unknown_model(sdk: anthropic.Anthropic) -> None:
    huge = "word " * 160_000  # about 208K Claude tokens
    with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
        sdk.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=user(huge))
    with pytest.raises(anthropic.NotFoundError):
        sdk.messages.create(model="claude-sonnet-9", max_tokens=10, messages=user("hi"))


def test_max_tokens_zero_prewarms_the_cache(sdk: anthropic.Anthropic) -> None:
    system = [{"type": "text", "text": LONG, "cache_control": cc()}]
    warm = sdk.messages.create(model=MODEL, max_tokens=0, system=system, messages=user("."))  # type: ignore[arg-type]
    assert warm.usage.output_tokens == 0 and warm.usage.cache_creation_input_tokens > 0
    after = sdk.messages.create(model=MODEL, max_tokens=20, system=system, messages=user("Now?"))  # type: ignore[arg-type]
    assert after.usage.cache_read_input_tokens == warm.usage.cache_creation_input_tokens


def test_structured_output_is_schema_valid_and_quotes_the_prompt(sdk: anthropic.Anthropic) -> None:
    transcript = (
        "[01:02] Dana Lee (AE, internal): What would a great quarter look like for you?\n"
        "[01:09] Jo (CFO, external): Fewer surprises in the board deck, honestly."
    )
    msg = sdk.messages.create(
        model=MODEL,
        max_tokens=2000,
        messages=user(transcript, "Criterion ids: alpha, beta"),
        output_config={
            "format": {"type": "json_schema", "schema": output_schema(DimensionAssessment)}
        },
    )
    parsed = DimensionAssessment.model_validate_json(msg.content[0].text)  # type: ignore[union-attr]
    assert [c.criterion_id for c in parsed.criteria] == ["alpha", "beta"]
    for ev in (e for c in parsed.criteria for e in c.evidence):
        assert ev.quote in transcript and ev.timestamp in ("01:02", "01:09")


def test_streaming_returns_the_same_usage(sdk: anthropic.Anthropic) -> None:
    with sdk.messages.stream(
        model=MODEL, max_tokens=200, messages=user("Tell me something.")
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.usage.output_tokens > 0 and final.usage.input_tokens > 0


def test_injected_overload_and_rate_limit_carry_retry_after(
    sdk: anthropic.Anthropic, claude: StandInState
) -> None:
    claude.fail_rate = 1.0
    seen = set()
    for _ in range(12):
        with pytest.raises((anthropic.RateLimitError, anthropic.InternalServerError)) as exc:
            sdk.messages.create(model=MODEL, max_tokens=10, messages=user("hi"))
        seen.add(exc.value.status_code)
        assert exc.value.response.headers["retry-after-ms"] == "20"
    assert seen == {429, 529}
    assert claude.responses == []


def test_missing_api_key_is_401(
    claude_stand_in: tuple[StandInState, str], claude: StandInState
) -> None:
    body = {"model": MODEL, "max_tokens": 10, "messages": user("hi")}
    r = httpx.post(
        f"{claude_stand_in[1]}/v1/messages", json=body, headers={"anthropic-version": "2026-10-21"}
    )
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"


def test_batches_and_count_tokens(sdk: anthropic.Anthropic) -> None:
    batch = sdk.messages.batches.create(
        requests=[
            {
                "custom_id": f"r{i}",
                "params": {"model": MODEL, "max_tokens": 20, "messages": user(f"Question {i}")},
            }
            for i in range(3)
        ]
        + [{"custom_id": "bad", "params": {"model": MODEL, "max_tokens": 0, "messages": user("x")}}]
    )
    assert batch.processing_status == "in_progress"
    assert sdk.messages.batches.retrieve(batch.id).processing_status == "in_progress"
    done = sdk.messages.batches.retrieve(batch.id)
    assert done.processing_status == "ended" and done.request_counts.succeeded == 3
    results = {r.custom_id: r.result for r in sdk.messages.batches.results(batch.id)}
    assert results["r0"].type == "succeeded" and results["bad"].type == "errored"
    assert results["r0"].message.usage.service_tier == "batch"  # type: ignore[union-attr]
    count = sdk.messages.count_tokens(model=MODEL, messages=user(LONG))
    assert count.input_tokens > 2048
