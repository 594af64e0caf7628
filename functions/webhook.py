"""The Gong webhook: verify, store once, answer.

`POST /webhooks/gong` verifies the delivery (JWT and/or HMAC), parses it, stores it in
`webhook_events` (idempotent on the Gong call id) and answers 200 once the row is durable.
Nothing else happens in the request unless inline dispatch is configured; the dispatcher starts
the analysis later. Run it with `uvicorn functions.webhook:app`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from psycopg import AsyncConnection, OperationalError
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from common.config import Settings, load_settings
from common.db import Row, make_async_pool
from common.errors import ConfigError, WebhookRejected
from common.intake import outbox
from common.intake.delivery import DeliveryVerifier, load_public_key, parse_body, parse_payload
from common.intake.runs import start_analysis_run
from common.monitoring.health import metrics_text

log = logging.getLogger("sales_coach.webhook")
INLINE_DISPATCH_TIMEOUT_S = 2.0
POOL_TIMEOUT_S = 3.0  # longest wait for a database connection before answering 503


def build_verifier(s: Settings) -> DeliveryVerifier:
    """The delivery checks; refuses to start on a configuration that cannot verify anything."""
    if "jwt" in s.auth_modes and not s.gong_webhook_url:
        raise ConfigError(
            "GONG_WEBHOOK_URL is required in jwt mode (the URL Gong posts to, checked against"
            " the JWT's webhook_url claim)"
        )
    keys = tuple(load_public_key(k) for k in s.gong_webhook_public_keys.split(",") if k.strip())
    secret = s.webhook_hmac_secret.get_secret_value().encode() if s.webhook_hmac_secret else None
    return DeliveryVerifier(
        modes=frozenset(s.auth_modes),
        public_keys=keys,
        webhook_url=s.gong_webhook_url,
        hmac_secret=secret,
        hmac_header=s.webhook_hmac_header,
        url_key=s.webhook_url_key.get_secret_value().encode() if s.webhook_url_key else None,
    )


def create_app(s: Settings | None = None) -> Starlette:
    s = s or load_settings()
    verifier = build_verifier(s)
    metrics_token = s.metrics_token.get_secret_value().encode() if s.metrics_token else None
    state: dict[str, AsyncConnectionPool[AsyncConnection[Row]]] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state["pool"] = await make_async_pool(s.database_url)
        try:
            yield
        finally:
            await state["pool"].close()

    async def receive_gong(request: Request) -> JSONResponse:
        started = time.perf_counter()
        try:
            body = await asyncio.wait_for(request.body(), s.webhook_body_timeout_s)
        except TimeoutError:
            # a client trickling its body would hold a connection (and a Lambda) for ever
            log.info("webhook rejected (408): body not received in time")
            return JSONResponse(
                {"error": f"request body not received within {s.webhook_body_timeout_s:g} s"},
                status_code=408,
                headers={"Connection": "close"},
            )
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            verifier.verify(body, headers, request.query_params.get("key"))
            data = parse_body(body)
            payload = parse_payload(data)
        except WebhookRejected as exc:
            log.info("webhook rejected (%s): %s", exc.status_code, exc)
            return JSONResponse({"error": str(exc)}, status_code=exc.status_code)
        try:
            async with state["pool"].connection(timeout=POOL_TIMEOUT_S) as conn:
                elapsed_ms = (time.perf_counter() - started) * 1000
                stored = await outbox.store_event(conn, payload, data, elapsed_ms)
        except (PoolTimeout, OperationalError) as exc:
            # fail fast: Gong retries a 5xx, and holding it 30 s helps nobody
            log.warning("webhook not stored, database unavailable: %s", type(exc).__name__)
            return JSONResponse(
                {"error": "database unavailable, retry later"},
                status_code=503,
                headers={"Retry-After": "30"},
            )
        if stored and s.webhook_inline_dispatch and not payload.isTest:
            await _dispatch_inline(s, state["pool"], payload.call_id)
        status = "test" if payload.isTest else ("stored" if stored else "duplicate")
        return JSONResponse({"status": status, "call_id": payload.call_id})

    async def healthz(request: Request) -> JSONResponse:
        try:
            async with state["pool"].connection(timeout=POOL_TIMEOUT_S) as conn:
                await conn.execute("SELECT 1")
        except Exception as exc:
            return JSONResponse({"ok": False, "error": type(exc).__name__}, status_code=503)
        return JSONResponse({"ok": True})

    async def metrics(request: Request) -> Response:
        """The monitors in Prometheus text format, for a scraper holding METRICS_TOKEN: spend,
        budget and queue are not for whoever finds the webhook's URL."""
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not (metrics_token and hmac.compare_digest(given.encode(), metrics_token)):
            return PlainTextResponse(
                "metrics need the bearer token METRICS_TOKEN\n",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            text = await asyncio.to_thread(metrics_text, s)
        except Exception as exc:
            return PlainTextResponse(f"# monitors unavailable: {type(exc).__name__}\n", 503)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    routes = [
        Route(
            "/webhooks/gong",
            receive_gong,
            methods=["POST"],
            max_body_size=s.webhook_max_body_bytes,
        ),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    if metrics_token:
        routes.append(Route("/metrics", metrics, methods=["GET"]))
    return Starlette(routes=routes, lifespan=lifespan)


async def _dispatch_inline(
    s: Settings, pool: AsyncConnectionPool[AsyncConnection[Row]], call_id: str
) -> None:
    """Best effort: start the run now and mark the event dispatched; on any failure the event
    stays pending and the dispatcher starts it later. The run key is the one the dispatcher
    would use for this first attempt, so a start that was not recorded is not repeated."""
    key = outbox.first_run_key(call_id)
    start = partial(start_analysis_run, s.analyze_deployment, [call_id], key)
    try:
        run_id = await asyncio.wait_for(asyncio.to_thread(start), INLINE_DISPATCH_TIMEOUT_S)
        async with pool.connection(timeout=POOL_TIMEOUT_S) as conn:
            await outbox.mark_dispatched_inline(conn, call_id, run_id)
    except Exception as exc:
        log.warning("inline dispatch of call %s failed: %s", call_id, type(exc).__name__)


def __getattr__(name: str) -> Starlette:
    """`uvicorn functions.webhook:app` builds the app from the environment on first use."""
    if name == "app":
        return create_app()
    raise AttributeError(name)
