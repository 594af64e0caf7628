"""The webhook function over real HTTP (uvicorn) against real Postgres."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from common.config import Settings
from functions.webhook import create_app
from local.samples import sample_calls, webhook_payload
from local.serve import serve
from local.signing import GongSigner, hmac_signature
from local.stack import PostgresControl
from tests.conftest import WEBHOOK_URL


@pytest.fixture
def webhook(settings: Settings) -> Iterator[str]:
    server = serve(create_app(settings))
    yield server.url
    server.stop()


def _body(call_index: int = 0, **extra: object) -> bytes:
    return json.dumps({**webhook_payload(sample_calls()[call_index]["call"]), **extra}).encode()


def _rows(db_url: str) -> list[tuple[str, str, bool]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT idempotency_key, status, is_test FROM webhook_events ORDER BY id"
        ).fetchall()


def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{url}/webhooks/gong", content=body, headers=headers, timeout=10)


def test_signed_delivery_is_stored_once(webhook: str, signer: GongSigner, db_url: str) -> None:
    body = _body()
    auth = {"Authorization": f"Bearer {signer.jwt(body, WEBHOOK_URL)}"}
    first = post(webhook, body, auth)
    second = post(webhook, body, auth)
    assert first.status_code == 200 and first.json()["status"] == "stored"
    assert second.status_code == 200 and second.json()["status"] == "duplicate"
    assert _rows(db_url) == [("7001001", "pending", False)]


def test_jwt_without_bearer_prefix_is_accepted(
    webhook: str, signer: GongSigner, db_url: str
) -> None:
    body = _body(1)
    assert post(webhook, body, {"Authorization": signer.jwt(body, WEBHOOK_URL)}).status_code == 200
    assert [r[0] for r in _rows(db_url)] == ["7001002"]


def test_hmac_delivery_is_accepted(webhook: str, db_url: str) -> None:
    body = _body(2)
    sig = hmac_signature("hmac-test-secret", body)
    assert post(webhook, body, {"X-Signature-SHA256": sig}).status_code == 200
    assert [r[0] for r in _rows(db_url)] == ["7001003"]


def test_test_delivery_is_acknowledged_and_marked(
    webhook: str, signer: GongSigner, db_url: str
) -> None:
    body = _body(isTest=True)
    response = post(webhook, body, {"Authorization": signer.jwt(body, WEBHOOK_URL)})
    assert response.json()["status"] == "test"
    assert _rows(db_url) == [("test:7001001", "test", True)]


@pytest.mark.parametrize(
    "case",
    [
        "no_signature",
        "bad_signature",
        "other_key",
        "expired",
        "wrong_body_hash",
        "wrong_url",
        "bad_hmac",
    ],
)
def test_bad_signatures_get_401_and_nothing_stored(
    case: str, webhook: str, signer: GongSigner, db_url: str
) -> None:
    body = _body()
    good = signer.jwt(body, WEBHOOK_URL)
    headers = {
        "no_signature": {},
        "bad_signature": {"Authorization": f"Bearer {good[:-6]}AAAAAA"},
        "other_key": {"Authorization": GongSigner().jwt(body, WEBHOOK_URL)},
        "expired": {"Authorization": signer.jwt(body, WEBHOOK_URL, ttl_s=-120)},
        "wrong_body_hash": {"Authorization": signer.jwt(body + b" ", WEBHOOK_URL)},
        "wrong_url": {"Authorization": signer.jwt(body, "https://evil.example/hook")},
        "bad_hmac": {"X-Signature-SHA256": hmac_signature("not-the-secret", body)},
    }[case]
    response = post(webhook, body, headers)
    assert response.status_code == 401, response.text
    assert "error" in response.json()
    assert _rows(db_url) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not JSON"),
        (b'["a list"]', "not a JSON object"),
        (json.dumps({"callData": {"metaData": {"title": "no id"}}}).encode(), "call id"),
    ],
)
def test_bad_payloads_get_400_with_a_message(
    body: bytes, message: str, webhook: str, signer: GongSigner, db_url: str
) -> None:
    response = post(webhook, body, {"Authorization": signer.jwt(body, WEBHOOK_URL)})
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert _rows(db_url) == []


def test_oversize_body_gets_413(webhook: str, signer: GongSigner, db_url: str) -> None:
    body = _body(padding="x" * 1_100_000)
    response = post(webhook, body, {"Authorization": signer.jwt(body, WEBHOOK_URL)})
    assert response.status_code == 413
    assert _rows(db_url) == []


def test_unknown_fields_are_ignored(webhook: str, signer: GongSigner, db_url: str) -> None:
    payload = webhook_payload(sample_calls()[3]["call"])
    payload["callData"]["metaData"]["brandNewField"] = {"nested": True}
    payload["somethingElse"] = [1, 2]
    body = json.dumps(payload).encode()
    assert post(webhook, body, {"Authorization": signer.jwt(body, WEBHOOK_URL)}).status_code == 200
    assert [r[0] for r in _rows(db_url)] == ["7001004"]


def test_healthz_checks_the_database(webhook: str) -> None:
    response = httpx.get(f"{webhook}/healthz")
    assert response.status_code == 200 and response.json() == {"ok": True}


def test_url_key_mode(settings: Settings, db_url: str) -> None:
    from common.config import load_settings

    s = load_settings(
        **{
            **settings.model_dump(),
            "webhook_auth_modes": "url_key",
            "webhook_url_key": "k3y-s3cret",
        }
    )
    server = serve(create_app(s))
    try:
        body = _body()
        assert httpx.post(f"{server.url}/webhooks/gong?key=wrong", content=body).status_code == 401
        assert httpx.post(f"{server.url}/webhooks/gong", content=body).status_code == 401
        assert _rows(db_url) == []
        assert (
            httpx.post(f"{server.url}/webhooks/gong?key=k3y-s3cret", content=body).status_code
            == 200
        )
    finally:
        server.stop()
    assert [r[0] for r in _rows(db_url)] == ["7001001"]


def test_a_nul_character_in_a_signed_payload_is_cleaned_and_stored(
    webhook: str, signer: GongSigner, db_url: str
) -> None:
    payload = webhook_payload(sample_calls()[0]["call"])
    payload["callData"]["metaData"]["title"] = "Acme\u0000 Logistics"
    body = json.dumps(payload).encode()
    r = post(webhook, body, {"Authorization": signer.jwt(body, WEBHOOK_URL)})
    assert r.status_code == 200 and r.json()["status"] == "stored"
    with psycopg.connect(db_url) as conn:
        title = conn.execute(
            "SELECT payload -> 'callData' -> 'metaData' ->> 'title' FROM webhook_events"
        ).fetchone()
    assert title == ("Acme Logistics",)


def test_a_non_ascii_hmac_header_is_401(webhook: str, db_url: str) -> None:
    body = _body()
    r = httpx.post(
        f"{webhook}/webhooks/gong",
        content=body,
        headers=[(b"X-Signature-SHA256", "sha256=caf\u00e9".encode("latin-1"))],
        timeout=10,
    )
    assert r.status_code == 401 and _rows(db_url) == []


def test_a_jwt_valid_for_more_than_a_day_is_refused(
    webhook: str, signer: GongSigner, db_url: str
) -> None:
    body = _body()
    token = signer.jwt(body, WEBHOOK_URL, ttl_s=3 * 86400)
    r = post(webhook, body, {"Authorization": token})
    assert r.status_code == 401 and "more than a day" in r.json()["error"]
    assert _rows(db_url) == []


def test_an_unsafe_call_id_is_refused(webhook: str, signer: GongSigner, db_url: str) -> None:
    payload = webhook_payload(sample_calls()[0]["call"])
    payload["callData"]["metaData"]["id"] = "../../reports/index"
    body = json.dumps(payload).encode()
    r = post(webhook, body, {"Authorization": signer.jwt(body, WEBHOOK_URL)})
    assert r.status_code == 400 and "safe id" in r.json()["error"]
    assert _rows(db_url) == []


def test_jwt_mode_without_the_public_url_refuses_to_start(settings: Settings) -> None:
    from common.config import load_settings
    from common.errors import ConfigError

    s = load_settings(**{**settings.model_dump(), "gong_webhook_url": ""})
    with pytest.raises(ConfigError, match="GONG_WEBHOOK_URL is required"):
        create_app(s)


def test_postgres_down_answers_503_fast_and_recovers_without_errors(
    webhook: str, signer: GongSigner, db_url: str, pg_control: PostgresControl
) -> None:
    body = _body()
    auth = {"Authorization": signer.jwt(body, WEBHOOK_URL)}
    assert (
        post(webhook, _body(1), {"Authorization": signer.jwt(_body(1), WEBHOOK_URL)}).status_code
        == 200
    )
    pg_control.stop()
    try:
        started = time.monotonic()
        down = post(webhook, body, auth)
        assert down.status_code == 503 and time.monotonic() - started < 5
        assert down.headers["retry-after"] == "30"
    finally:
        pg_control.start()
    # the pool's stale connections are checked and replaced: no request fails after the restart
    statuses = [post(webhook, body, auth).status_code for _ in range(5)]
    assert statuses == [200] * 5
    assert [r[0] for r in _rows(db_url)] == ["7001002", "7001001"]


def _signed(body: bytes) -> dict[str, str]:
    return {"X-Signature-SHA256": hmac_signature("hmac-test-secret", body)}


def _with_meta(**meta: object) -> str:
    payload = webhook_payload(sample_calls()[0]["call"])
    payload["callData"]["metaData"].update(meta)
    return json.dumps(payload)


ODD_BODIES = {
    "NaN": _with_meta(duration=0).replace('"duration": 0', '"duration": NaN'),
    "Infinity": _with_meta(duration=0).replace('"duration": 0', '"duration": -Infinity'),
    "1e400": _with_meta(duration=0).replace('"duration": 0', '"duration": 1e400'),
    "5,000 digits": _with_meta(duration=0).replace('"duration": 0', '"duration": ' + "9" * 5000),
    "nested 5,000 deep": _with_meta(extra=0).replace(
        '"extra": 0', '"extra": ' + "[" * 5000 + "]" * 5000
    ),
    "nested object 1,000 deep": _with_meta(extra=0).replace(
        '"extra": 0', '"extra": ' + '{"a":' * 1000 + "1" + "}" * 1000
    ),
    "id with a newline": _with_meta(id="7001001\n"),
    "id true": _with_meta(id=True),
}


@pytest.mark.parametrize("name", list(ODD_BODIES))
def test_signed_odd_json_is_refused_with_400_not_500(webhook: str, db_url: str, name: str) -> None:
    body = ODD_BODIES[name].encode()
    response = post(webhook, body, _signed(body))
    assert response.status_code == 400, response.text
    assert _rows(db_url) == []


def test_lone_surrogates_and_nul_are_stored_cleaned(webhook: str, db_url: str) -> None:
    body = _with_meta(title="Demo \ud800 call\u0000", deep={"k\udfff": ["x\ud800"]}).encode()
    assert b"\\ud800" in body  # json.dumps escapes it: valid JSON, unstorable as it stands
    response = post(webhook, body, _signed(body))
    assert response.status_code == 200, response.text
    with psycopg.connect(db_url) as conn:
        meta = conn.execute(
            "SELECT payload -> 'callData' -> 'metaData' FROM webhook_events"
        ).fetchone()
    assert meta is not None
    assert meta[0]["title"] == "Demo \ufffd call" and meta[0]["deep"] == {"k\ufffd": ["x\ufffd"]}


def test_a_trickled_body_gets_408_and_the_connection_closes(settings: Settings) -> None:
    """One byte every 0.3 s (a slow-loris client): answered 408 once the deadline passes,
    instead of holding the connection for as long as the client likes."""
    import contextlib
    import select
    import socket

    server = serve(create_app(settings.model_copy(update={"webhook_body_timeout_s": 1.0})))
    host, port = server.url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                b"POST /webhooks/gong HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n"
            )
            received = b""
            for _ in range(30):  # at most 9 s of trickling
                readable, _, _ = select.select([sock], [], [], 0.3)
                if readable:  # the answer: read it before sending more (that would reset)
                    break
                sock.sendall(b"{")
            sock.settimeout(5)
            with contextlib.suppress(ConnectionResetError):
                while chunk := sock.recv(4096):  # the server closes after answering
                    received += chunk
    finally:
        server.stop()
    assert received.startswith(b"HTTP/1.1 408")


def test_metrics_are_not_served_without_a_token(webhook: str) -> None:
    assert httpx.get(f"{webhook}/metrics").status_code == 404
