"""The Claude Desktop entry `sales-coach claude-desktop-config` prints.

- Remote (recommended): the company runs one HTTP server; the laptop holds only its own
  credential. Claude Desktop reaches it through `mcp-remote` (Node), which sends the bearer
  token, or runs the OAuth sign-in itself when the server uses `MCP_AUTH=oidc`.
- Local stdio (one user, one machine): the entry starts this install's server with every
  setting its tools need in `env`, because Claude Desktop starts it with nothing else
  (no working directory, no shell profile).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from common.config import Settings

ROOT = Path(__file__).resolve().parent.parent
# Settings the MCP tools read, copied into a stdio entry when they differ from the default.
STDIO_SETTINGS = (
    "database_url",
    "s3_bucket",
    "s3_endpoint_url",
    "aws_region",
    "report_timezone",
    "monthly_budget_usd",
    "rubrics_dir",
    "prices_file",
    "analyze_deployment",
    "mcp_analyze_wait_s",
    "gong_base_url",
    "gong_access_key",
    "gong_access_key_secret",
    "log_level",
)
# Credentials and endpoints read by libraries (boto3, Prefect), copied when set.
PASSTHROUGH = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "PREFECT_API_URL",
    "PREFECT_API_KEY",
)


def _value(s: Settings, name: str) -> str | None:
    value = getattr(s, name)
    default = Settings.model_fields[name].default
    if value is None or (value == default and name != "database_url"):
        return None
    if hasattr(value, "get_secret_value"):
        return str(value.get_secret_value())
    return str(value)


def stdio_entry(s: Settings, user: str) -> dict[str, Any]:
    python = ROOT / ".venv" / "bin" / "python"
    env = {"MCP_USER": user, "PYTHONPATH": str(ROOT)}
    for name in STDIO_SETTINGS:
        value = _value(s, name)
        if value is not None:
            env[name.upper()] = value
    env.update({k: os.environ[k] for k in PASSTHROUGH if os.environ.get(k)})
    return {
        "command": str(python if python.exists() else sys.executable),
        "args": ["-m", "functions.mcp_server"],
        "env": env,
    }


def remote_entry(url: str, token: str | None) -> dict[str, Any]:
    """mcp-remote bridges Claude Desktop's stdio to the company's HTTP server."""
    args = ["-y", "mcp-remote@latest", url]
    if token is None:  # OAuth: mcp-remote opens the browser for the identity provider
        return {"command": "npx", "args": args}
    return {
        "command": "npx",
        "args": [*args, "--header", "Authorization:${SALES_COACH_AUTH}"],
        "env": {"SALES_COACH_AUTH": f"Bearer {token}"},
    }


def claude_desktop_config(
    s: Settings, user: str | None = None, remote: str | None = None, token: str | None = None
) -> dict[str, Any]:
    entry = remote_entry(remote, token) if remote else stdio_entry(s, user or s.mcp_user)
    return {"mcpServers": {"sales-coach": entry}}
