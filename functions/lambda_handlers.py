"""AWS Lambda entry points (container images, see template.yaml): the ASGI apps via Mangum.

The webhook does its minimum inline (verify, store, answer): a Lambda is frozen after the
response, so nothing may be left running in the background. The MCP server runs stateless,
answering plain JSON, which suits API Gateway's request/response model.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from mangum import Mangum

from common.config import load_settings
from functions.mcp_server import http_app
from functions.mcp_tools import create_server
from functions.webhook import create_app


@cache
def webhook_handler() -> Mangum:
    """Built on the first invocation of a container and reused while it stays warm."""
    return Mangum(create_app(load_settings()), lifespan="auto")


@cache
def mcp_handler() -> Mangum:
    s = load_settings()
    app = http_app(create_server(s), s, stateless_http=True, json_response=True)
    return Mangum(app, lifespan="auto")


def webhook(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return webhook_handler()(event, context)


def mcp(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return mcp_handler()(event, context)
