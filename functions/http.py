"""The HTTP functions on a container platform (ECS, Cloud Run, Kubernetes, a VM): the webhook
or the MCP server under uvicorn, on `$HOST:$PORT` (0.0.0.0:8080 by default), each answering
`GET /healthz` (200 when Postgres answers, else 503). The image is `Dockerfile.http`;
AWS Lambda runs the same apps through `functions.lambda_handlers`.

    sales-coach-http webhook        # Gong's webhook at /webhooks/gong
    sales-coach-http mcp            # the MCP server at /mcp (MCP_AUTH: tokens, jwt or oidc)
"""

from __future__ import annotations

import argparse
import os

import uvicorn

from common.config import load_settings
from functions import mcp_server
from functions.deadlines import header_deadline


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sales-coach-http", description=__doc__.split("\n")[0])
    ap.add_argument("service", choices=["webhook", "mcp"])
    ap.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    args = ap.parse_args(argv)
    if args.service == "mcp":
        return mcp_server.main(["--http", str(args.port), "--host", args.host])
    uvicorn.run(
        "functions.webhook:app",
        http=header_deadline(load_settings()),
        host=args.host,
        port=args.port,
        log_level="info",
        proxy_headers=True,  # behind the platform's load balancer
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
