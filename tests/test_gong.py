"""The Gong client against the Gong stand-in server over HTTP."""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from common.errors import GongError, GongNotFound, GongRateLimited
from common.gong import AnsweredScorecard, GongClient, RateLimiter
from local.gong_server import GongState
from local.samples import sample_calls
from local.stack import GONG_KEY, GONG_SECRET


def client(url: str, sleeps: list[float] | None = None, max_retries: int = 5) -> GongClient:
    record = sleeps.append if sleeps is not None else (lambda s: None)
    c = GongClient(
        url,
        GONG_KEY,
        GONG_SECRET,
        limiter=RateLimiter(100),
        sleep=record,
        max_retries=max_retries,
    )
    _OPEN.append(c)
    return c


_OPEN: list[GongClient] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def test_429_is_retried_after_retry_after(gong: tuple[GongState, str]) -> None:
    state, url = gong
    state.force_429, state.retry_after_s = 2, 7
    sleeps: list[float] = []
    call = client(url, sleeps).call("7001001")
    assert call.metaData.title == "Acme Logistics - Discovery"
    assert sleeps == [7.0, 7.0]
    assert state.requests.count("/v2/calls/extensive") == 3


def test_429_forever_gives_a_clear_error(gong: tuple[GongState, str]) -> None:
    state, url = gong
    state.force_429 = 100
    with pytest.raises(GongError, match="429 after retries"):
        client(url, [], max_retries=2).call("7001001")


def test_pagination_is_followed_to_the_end(gong: tuple[GongState, str]) -> None:
    state, url = gong
    state.page_size = 2
    extra = []
    for i in range(7):
        call = {
            "metaData": {
                "id": f"88{i:02d}",
                "started": f"2026-10-0{i + 1}T10:00:00+00:00",
                "title": f"extra {i}",
            },
            "parties": [],
        }
        extra.append(call)
        state.add(call, None)
    c = client(url)
    ids = [call.metaData.id for call in c.calls()]
    assert len(ids) == len(sample_calls()) + 7 == len(set(ids))
    assert c.requests_made == -(-len(ids) // 2)
    users = list(c.users())
    assert len(users) == 5 and users[2].name == "Dana Lee"


def test_transcript_and_parties(gong: tuple[GongState, str]) -> None:
    _, url = gong
    c = client(url)
    transcript, raw = c.transcript("7001003")
    assert transcript.callId == "7001003" and raw["callId"] == "7001003"
    speakers = {p.speakerId: p.affiliation for p in c.call("7001003").parties}
    assert {m.speakerId for m in transcript.transcript} <= set(speakers)
    assert set(speakers.values()) == {"Internal", "External"}


def test_missing_call_and_bad_credentials(gong: tuple[GongState, str]) -> None:
    _, url = gong
    with pytest.raises(GongNotFound):
        client(url).transcript("404404")
    with (
        GongClient(url, "wrong", "creds", limiter=RateLimiter(100), sleep=lambda s: None) as bad,
        pytest.raises(GongError, match="401"),
    ):
        bad.call("7001001")


def test_rate_limiter_spaces_requests() -> None:
    now = [0.0]
    waits: list[float] = []
    limiter = RateLimiter(3.0, clock=lambda: now[0], sleep=waits.append)
    for _ in range(4):
        limiter.acquire()
    now[0] = 5.0  # idle long enough: no wait, no burst credit beyond one slot
    limiter.acquire()
    assert [round(w, 3) for w in waits] == [0.333, 0.667, 1.0]


def test_connection_errors_are_retried_then_reported() -> None:
    sleeps: list[float] = []
    with (
        GongClient(
            "http://127.0.0.1:9",
            "k",
            "s",
            limiter=RateLimiter(100),
            sleep=sleeps.append,
            max_retries=2,
        ) as c,
        pytest.raises(GongError, match="ConnectError"),
    ):
        c.call("1")
    assert len(sleeps) == 2


def test_a_long_retry_after_is_not_waited_for(gong: tuple[GongState, str]) -> None:
    """A spent daily budget says Retry-After: 50000; the worker gives the call back at once."""
    state, url = gong
    state.force_429, state.retry_after_s = 1, 50000
    sleeps: list[float] = []
    started = time.monotonic()
    with pytest.raises(GongRateLimited) as refused:
        client(url, sleeps).call("7001001")
    assert refused.value.retry_after_s == 50000
    assert sleeps == [] and time.monotonic() - started < 2


def test_ids_are_sent_a_hundred_per_request(gong: tuple[GongState, str]) -> None:
    state, url = gong
    for i in range(150):
        sample = copy.deepcopy(sample_calls()[0])
        sample["call"]["metaData"]["id"] = sample["transcript"]["callId"] = f"81{i:04d}"
        state.add(sample["call"], sample["transcript"])
    ids = [f"81{i:04d}" for i in range(150)] + ["404404"]
    before = len(state.requests)
    c = client(url)
    transcripts = c.transcripts(ids)
    calls = c.calls_by_id(ids)
    assert len(transcripts) == 150 and len(calls) == 150 and "404404" not in transcripts
    assert state.requests[before:] == ["/v2/calls/transcript"] * 2 + ["/v2/calls/extensive"] * 2


def test_int64_ids_come_through_http_exactly_as_text(gong: tuple[GongState, str]) -> None:
    """Gong's scorecard ids are int64 numbers past 2^53, where a float would change them."""
    state, url = gong
    biggest = 2**63 - 1
    card = copy.deepcopy(state.answered[0])
    card.update(answeredScorecardId=biggest, scorecardId=2**53 + 1, reviewerUserId=biggest - 1)
    card["answers"][0]["questionId"] = 2**62 + 3
    state.answered = [card]
    (read,) = client(url).answered_scorecards()
    assert read.answeredScorecardId == "9223372036854775807" != str(float(biggest))
    assert (read.scorecardId, read.reviewerUserId) == ("9007199254740993", str(biggest - 1))
    assert read.answers[0].questionId == str(2**62 + 3)
    assert read.callId == str(card["callId"]) and read.reviewedUserId == str(card["reviewedUserId"])


def test_an_id_that_went_through_a_float_is_refused() -> None:
    with pytest.raises(ValidationError, match="not a float"):
        AnsweredScorecard.model_validate(
            {
                "answeredScorecardId": 5.635152584587450e14,
                "scorecardId": 1,
                "callId": 2,
                "reviewerUserId": 3,
                "reviewTime": "2026-11-03T09:30:00Z",
            }
        )


def test_unreadable_scorecards_are_counted_and_skipped_when_asked(
    gong: tuple[GongState, str],
) -> None:
    state, url = gong
    state.page_size = 2
    del state.answered[1]["reviewTime"]
    with pytest.raises(ValidationError):  # without a counter: raised, as before
        list(client(url).answered_scorecards())
    invalid: Counter[str] = Counter()
    read = list(client(url).answered_scorecards(invalid=invalid))
    assert len(read) == len(state.answered) - 1  # the pages after it still come
    assert invalid == {"AnsweredScorecard: reviewTime: Field required": 1}
