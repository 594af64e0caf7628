"""AWS Lambda entry points (container images, see template.yaml): the ASGI apps via Mangum.

The webhook does its minimum inline (verify, store, answer): a Lambda is frozen after the
response, so nothing may be left running in the background. The MCP server runs stateless,
answering plain JSON, which suits API Gateway's request/response model.
"""

from __future__ import annotations

from typing import Any

from mangum import Mangum

from common.config import settings
from functions.mcp_server import create_server
from functions.webhook import create_app

_handlers: dict[str, Mangum] = {}


def webhook(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "webhook" not in _handlers:
        _handlers["webhook"] = Mangum(create_app(settings()), lifespan="auto")
    return _handlers["webhook"](event, context)


def mcp(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "mcp" not in _handlers:
        app = create_server(settings()).http_app(
            path="/mcp", stateless_http=True, json_response=True
        )
        _handlers["mcp"] = Mangum(app, lifespan="auto")
    return _handlers["mcp"](event, context)
