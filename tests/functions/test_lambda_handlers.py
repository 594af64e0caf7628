"""The Lambda entry points, invoked with API Gateway HTTP API (v2) events."""

from __future__ import annotations

import asyncio
import base64
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from common.config import Settings
from functions import lambda_handlers
from local.samples import sample_calls, webhook_payload
from local.signing import GongSigner
from tests.conftest import WEBHOOK_URL


def event(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": {
            "http": {
                "method": method,
                "path": path,
                "sourceIp": "203.0.113.9",
                "protocol": "HTTP/1.1",
                "userAgent": "Gong",
            },
            "stage": "$default",
            "requestId": "r1",
            "accountId": "1",
            "apiId": "a",
            "domainName": "x",
            "timeEpoch": 0,
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def invoke_like_lambda(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Invoke in one thread with its own event loop, as a Lambda runtime does, and close it after."""

    def run() -> list[dict[str, Any]]:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            return [lambda_handlers.webhook(e, None) for e in events]
        finally:
            loop.close()
            asyncio.set_event_loop(None)

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def test_webhook_handler_stores_a_signed_delivery(
    settings: Settings, signer: GongSigner, monkeypatch: pytest.MonkeyPatch
) -> None:

    for key, value in {
        "DATABASE_URL": settings.database_url,
        "GONG_WEBHOOK_PUBLIC_KEYS": signer.public_key_b64_der,
        "GONG_WEBHOOK_URL": WEBHOOK_URL,
    }.items():
        monkeypatch.setenv(key, value)
    lambda_handlers.webhook_handler.cache_clear()
    body = json.dumps(webhook_payload(sample_calls()[0]["call"])).encode()
    ok, bad, health = invoke_like_lambda(
        [
            event("POST", "/webhooks/gong", body, {"authorization": signer.jwt(body, WEBHOOK_URL)}),
            event("POST", "/webhooks/gong", body, {"authorization": "Bearer x.y.z"}),
            event("GET", "/healthz"),
        ]
    )
    assert ok["statusCode"] == 200 and json.loads(ok["body"])["status"] == "stored"
    assert bad["statusCode"] == 401 and health["statusCode"] == 200
    with psycopg.connect(settings.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM webhook_events").fetchone() == (1,)
    lambda_handlers.webhook_handler.cache_clear()
