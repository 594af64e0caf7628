"""Sign-in over HTTP: our bearer tokens, the identity provider's JWTs, OAuth through OIDC."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from fastmcp.server.auth.providers.jwt import RSAKeyPair
from psycopg.rows import dict_row
from pydantic import SecretStr

from common import access
from common.config import Settings
from functions.mcp_server import http_app
from functions.mcp_tools import create_server
from local.seed import Team
from local.serve import free_port, serve
from tests.mcp_helpers import call


@pytest.fixture
def http_server(settings: Settings, team: Team) -> Iterator[str]:
    server = serve(http_app(create_server(settings), settings))
    yield f"{server.url}/mcp"
    server.stop()


INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}


def _status(url: str, token: str | None, **extra: str) -> int:
    headers = {"Accept": "application/json, text/event-stream", **extra}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(url, json=INIT, headers=headers).status_code


async def test_http_bearer_tokens_expire_record_use_and_revoke_by_id(
    settings: Settings, http_server: str
) -> None:
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        rep_id, rep_token = access.create_token(conn, "u-r002", "laptop")
        _, manager_token = access.create_token(conn, "manager0@example.com")
        _, expired = access.create_token(conn, "u-r000", days=1)
        conn.execute(
            "UPDATE api_tokens SET expires_at = now() - interval '1 minute' WHERE user_id = 'u-r000'"
        )
    async with Client(http_server, auth=rep_token) as rep:
        own = await call(rep, "search_calls", page_size=3)
        assert {i["rep_id"] for i in own["items"]} == {"u-r002"}
        with pytest.raises(ToolError, match="in your scope"):
            await rep.call_tool("get_call_coaching", {"call_id": "c-u-r000-00-0"})
    async with Client(http_server, auth=manager_token) as manager:
        assert (await call(manager, "team_overview"))["reps"]
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        used = {t.id: t.last_used_at for t in access.list_tokens(conn)}
        assert used[rep_id] is not None
        assert access.revoke_token_id(conn, rep_id)
    assert [_status(http_server, t) for t in (rep_token, expired, None, manager_token)] == [
        401,
        401,
        401,
        200,
    ]


def jwt_server(settings: Settings, keys: RSAKeyPair) -> Any:
    """The HTTP MCP server in jwt mode, trusting `keys` for issuer login.example.com."""
    s = settings.model_copy(
        update={
            "mcp_auth": "jwt",
            "mcp_jwt_public_key": keys.public_key,
            "mcp_jwt_issuer": "https://login.example.com",
            "mcp_jwt_audience": "sales-coach",
        }
    )
    return serve(http_app(create_server(s), s))


async def test_identity_provider_jwts_map_to_gong_users(settings: Settings, team: Team) -> None:
    keys = RSAKeyPair.generate()
    server = jwt_server(settings, keys)
    url = f"{server.url}/mcp"

    def token(email: str, issuer: str = "https://login.example.com") -> str:
        return keys.create_token(
            subject=f"sub-{email}",
            issuer=issuer,
            audience="sales-coach",
            additional_claims={"email": email},
        )

    try:
        async with Client(url, auth=token("manager1@example.com")) as m1:
            page = await call(m1, "search_calls", page_size=100)
        assert {i["rep_id"] for i in page["items"]} == {"u-r001", "u-r003", "u-r005"}
        assert _status(url, token("stranger@example.com")) == 401  # not a Gong user here
        assert _status(url, token("rep4@example.com")) == 401  # soft-deleted
        assert _status(url, token("manager1@example.com", "https://evil.example")) == 401
    finally:
        server.stop()


def test_jwt_identity_comes_only_from_a_verified_email_in_the_configured_claim(
    settings: Settings, team: Team
) -> None:
    """Tokens the identity provider really signed, that must still not sign in as the admin:
    no email claim (sub names the admin's id), an email claim holding the admin's id, an
    admin address whose email_verified is anything but JSON true, one spelt with a Turkish
    dotted I or fullwidth letters, a non-string claim, a token that never expires."""
    import time

    import jwt as pyjwt

    keys = RSAKeyPair.generate()
    server = jwt_server(settings, keys)
    url = f"{server.url}/mcp"

    def token(exp: bool = True, **claims: Any) -> str:
        body = {"iss": "https://login.example.com", "aud": "sales-coach", "sub": "u-admin"}
        if exp:
            body["exp"] = int(time.time()) + 600
        return pyjwt.encode(
            {**body, **claims}, keys.private_key.get_secret_value(), algorithm="RS256"
        )

    try:
        refused = {
            "no email claim, sub is the admin's id": token(),
            "empty email": token(email=""),
            "email not a string": token(email=["admin@example.com"]),
            "email holds the admin's id": token(email="u-admin"),
            "unverified admin address": token(email="admin@example.com", email_verified=False),
            "unverified (string)": token(email="admin@example.com", email_verified="false"),
            "unverified (FALSE)": token(email="admin@example.com", email_verified="FALSE"),
            "unverified (no)": token(email="admin@example.com", email_verified="no"),
            "unverified (null)": token(email="admin@example.com", email_verified=None),
            "verified as a string": token(email="admin@example.com", email_verified="true"),
            "Turkish dotted I": token(email="ADM\u0130N@EXAMPLE.COM", email_verified=True),
            "fullwidth letters": token(email="\uff41dmin@example.com", email_verified=True),
            "preferred_username only": token(preferred_username="admin@example.com"),
            "no exp": token(exp=False, email="admin@example.com"),
        }
        assert {name: _status(url, t) for name, t in refused.items()} == dict.fromkeys(refused, 401)
        # the address as the provider may spell it: other case, stray spaces
        assert _status(url, token(email=" Admin@Example.COM ", email_verified=True)) == 200
    finally:
        server.stop()


@pytest.mark.parametrize("missing", ["mcp_jwt_issuer", "mcp_jwt_audience"])
def test_jwt_mode_refuses_to_start_without_issuer_and_audience(
    settings: Settings, missing: str
) -> None:
    from common.errors import ConfigError

    update: dict[str, Any] = {
        "mcp_auth": "jwt",
        "mcp_jwt_public_key": RSAKeyPair.generate().public_key,
        "mcp_jwt_issuer": "https://login.example.com",
        "mcp_jwt_audience": "sales-coach",
        missing: "",
    }
    with pytest.raises(ConfigError, match=missing.upper()):
        create_server(settings.model_copy(update=update))


async def test_oidc_mode_sends_claude_desktop_to_the_identity_provider(
    settings: Settings, team: Team
) -> None:
    """MCP_AUTH=oidc: FastMCP's OIDCProxy, configured from the provider's discovery document,
    publishes OAuth metadata for clients (Claude Desktop connectors) and refuses anonymous
    requests with a pointer to it."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    idp = serve(Starlette())  # a port first, so the document can name itself
    idp.stop()
    issuer = idp.url

    async def discovery(_: Any) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "jwks_uri": f"{issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    port = int(issuer.rsplit(":", 1)[1])
    provider = serve(
        Starlette(routes=[Route("/.well-known/openid-configuration", discovery)]), port=port
    )
    app_port = free_port()
    base = f"http://127.0.0.1:{app_port}"
    s = settings.model_copy(
        update={
            "mcp_auth": "oidc",
            "mcp_oidc_config_url": f"{issuer}/.well-known/openid-configuration",
            "mcp_oidc_client_id": "sales-coach",
            "mcp_oidc_client_secret": SecretStr("shh"),
            "mcp_public_url": base,
        }
    )
    server = serve(http_app(create_server(s), s), port=app_port)
    try:
        meta = httpx.get(f"{base}/.well-known/oauth-authorization-server").json()
        assert meta["authorization_endpoint"].startswith(base)
        assert "registration_endpoint" in meta  # Claude Desktop registers itself
        refused = httpx.post(
            f"{base}/mcp", json=INIT, headers={"Accept": "application/json, text/event-stream"}
        )
        assert (
            refused.status_code == 401
            and "resource_metadata" in refused.headers["www-authenticate"]
        )
    finally:
        server.stop()
        provider.stop()


def test_dns_rebinding_a_foreign_host_or_origin_is_refused(settings: Settings, team: Team) -> None:
    """What the MCP conformance suite's dns-rebinding-protection check sends: a request whose
    Host or Origin is not ours. MCP_PUBLIC_URL's host and MCP_ALLOWED_HOSTS are answered."""
    s = settings.model_copy(
        update={"mcp_public_url": "https://coach.example.com", "mcp_allowed_hosts": "mcp.internal"}
    )
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        _, token = access.create_token(conn, "u-r002")
    server = serve(http_app(create_server(s), s))
    url = f"{server.url}/mcp"
    try:
        assert _status(url, token) == 200
        assert _status(url, token, Host="evil.example") == 421
        assert _status(url, token, Origin="http://evil.example") == 403
        assert _status(url, token, Host="coach.example.com") == 200
        assert (
            _status(url, token, Host="coach.example.com", Origin="https://coach.example.com") == 200
        )
        assert _status(url, token, Host="mcp.internal:8765") == 200
    finally:
        server.stop()
