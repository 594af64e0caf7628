"""The coaching MCP server process: the tools of `functions.mcp_tools` over stdio (one
user's Claude Desktop) or streamable HTTP (the company's server, Host and Origin checked).

    python -m functions.mcp_server                  # stdio, for one user's Claude Desktop
    python -m functions.mcp_server --http 8765      # the company's server
"""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import urlsplit

import psycopg
from fastmcp import FastMCP
from starlette.middleware import Middleware

from common.config import Settings, load_settings
from common.errors import CoachError
from functions.deadlines import BodyDeadline, header_deadline
from functions.mcp_tools import create_server


def allowed_hosts(s: Settings) -> tuple[list[str], list[str]]:
    """(Host values, browser origins) the HTTP server answers: MCP_PUBLIC_URL's, those in
    MCP_ALLOWED_HOSTS and localhost. A page on another site that rebinds its DNS name to this
    server sends its own Host (421) or Origin (403) and is refused."""
    hosts = [h.strip() for h in s.mcp_allowed_hosts.split(",") if h.strip()]
    origins = []
    if s.mcp_public_url:
        public = urlsplit(s.mcp_public_url)
        if public.hostname:
            hosts.append(public.hostname)
            origins.append(f"{public.scheme}://{public.netloc}")
    return hosts, origins


def http_app(server: FastMCP, s: Settings, **options: Any) -> Any:
    """The server's streamable-HTTP app at /mcp, with Host and Origin checked on every request
    and each request's body due within MCP_BODY_TIMEOUT_S."""
    hosts, origins = allowed_hosts(s)
    deadline = Middleware(BodyDeadline, timeout_s=s.mcp_body_timeout_s)
    return server.http_app(
        path="/mcp",
        host_origin_protection=True,
        allowed_hosts=hosts,
        allowed_origins=origins,
        middleware=[deadline, *options.pop("middleware", [])],
        **options,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Sales-coach MCP server")
    ap.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on this port")
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args(argv)
    try:
        s = load_settings()
        if not args.http and not s.mcp_user:
            raise CoachError("MCP_USER is required for the stdio server (a Gong user id or email)")
        _check_database(s)
        server = create_server(s, stdio_user=s.mcp_user or None)
    except CoachError as exc:
        print(f"sales-coach MCP server: {exc}", file=sys.stderr)
        return 2
    if args.http:
        import uvicorn

        uvicorn.run(
            http_app(server, s),
            host=args.host,
            port=args.http,
            log_level="warning",
            http=header_deadline(s),
        )
    else:
        server.run(show_banner=False)
    return 0


def _check_database(s: Settings) -> None:
    try:
        with psycopg.connect(s.database_url, connect_timeout=5) as conn:
            conn.execute("SELECT 1 FROM call_scores LIMIT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CoachError(f"cannot use DATABASE_URL: {first}") from None


if __name__ == "__main__":
    sys.exit(main())
