"""The Claude client against the stand-in: error mapping and retries (the SDK itself is untouched)."""

from __future__ import annotations

import pytest

from common.claude import ClaudeClient, ClaudeResponse
from common.errors import ClaudeError, ClaudeRequestRejected
from common.scoring.analysis import DimensionAssessment
from local.anthropic_server import StandInState

MESSAGES = [
    {
        "role": "user",
        "content": [
            {
                "type": "text",
                "text": "[00:01] A (AE, internal): Hello there, how are you?\nCriterion ids: x",
            }
        ],
    }
]
SYSTEM = [{"type": "text", "text": "Score the call."}]


def client(url: str, retries: int = 3) -> ClaudeClient:
    return ClaudeClient("sk-ant-test", url, max_retries=retries)


def ask(c: ClaudeClient, messages: list[dict], max_tokens: int) -> ClaudeResponse:  # type: ignore[type-arg]
    return c.structured(
        model="claude-sonnet-5-5",
        system=SYSTEM,
        messages=messages,
        max_tokens=max_tokens,
        schema=DimensionAssessment,
    )


def test_retries_429_and_529_then_succeeds(
    claude_stand_in: tuple[StandInState, str], claude: StandInState
) -> None:
    claude.fail_rate = 0.5
    c = client(claude_stand_in[1], retries=8)
    for _ in range(4):
        response = ask(c, messages=MESSAGES, max_tokens=800)
        assert (
            DimensionAssessment.model_validate_json(response.text).criteria[0].criterion_id == "x"
        )
    c.close()
    assert sum(claude.errors.values()) > 0 and len(claude.responses) == 4


def test_persistent_overload_is_a_claude_error(
    claude_stand_in: tuple[StandInState, str], claude: StandInState
) -> None:
    claude.fail_rate = 1.0
    c = client(claude_stand_in[1], retries=2)
    with pytest.raises(ClaudeError, match="after retries"):
        ask(c, messages=MESSAGES, max_tokens=100)
    c.close()
    assert claude.requests == 3


def test_400_is_not_retried_and_keeps_the_api_message(
    claude_stand_in: tuple[StandInState, str], claude: StandInState
) -> None:
    c = client(claude_stand_in[1])
    with pytest.raises(ClaudeRequestRejected) as exc:
        ask(c, messages=[], max_tokens=100)
    c.close()
    assert (
        exc.value.status_code == 400
        and exc.value.message == "messages: at least one message is required"
    )
    assert claude.requests == 1


def test_unreachable_api_is_a_claude_error() -> None:
    c = client("http://127.0.0.1:9", retries=1)
    with pytest.raises(ClaudeError, match="unreachable"):
        ask(c, messages=MESSAGES, max_tokens=100)
    c.close()
