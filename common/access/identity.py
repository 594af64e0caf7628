"""From a verified credential to a caller.

Three ways in (`MCP_AUTH`):
- `tokens`: our own bearer tokens (`sales-coach token create`), checked in Postgres.
- `jwt`: access tokens signed by the company's identity provider, checked against its JWKS
  (or a public key), issuer and audience (both required), with an `exp`; the e-mail in
  `MCP_IDENTITY_CLAIM` (default `email`), and only there, names the user.
- `oidc`: FastMCP's `OIDCProxy` runs the OAuth flow against the provider's discovery document
  (Google Workspace, Microsoft Entra, Okta...), so Claude Desktop signs users in itself; the
  ID token's identity claim names the user.
Whatever the way, the identity must be an active Gong user here or the caller gets nothing.
An identity provider's claim is matched to a user's e-mail (trimmed, letters case-blind in ASCII
only), never to a user id, and refused unless `email_verified`, when present, is `true`:
otherwise a token whose `sub` or `email` happened to read "u-admin" would sign in as the admin.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import psycopg
from fastmcp.server.auth import AccessToken, AuthProvider, TokenVerifier
from fastmcp.server.auth.providers.jwt import JWTVerifier
from psycopg_pool import PoolTimeout
from starlette.authentication import AuthenticationError
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, PlainTextResponse, Response

from common.access.scope import Caller
from common.access.tokens import caller_for_token
from common.config import Settings
from common.db import Db, transaction
from common.errors import ConfigError

log = logging.getLogger("sales_coach.access")

T = TypeVar("T")
# the process's database as its composition root holds it now (a server's pool is closed at
# the end of its lifespan and opened again by the next)
DbSource = Callable[[], Db]


class Offload(Protocol):
    """Runs a blocking check off the event loop (on threads of the checks' own)."""

    def __call__(self, fn: Callable[[], T], /) -> Awaitable[T]: ...


async def _to_thread(fn: Callable[[], T]) -> T:
    return await asyncio.to_thread(fn)


@dataclass(frozen=True)
class Checks:
    """Where credentials are checked: `db` (connections of their own, so a flood of tool
    calls cannot keep a sign-in waiting), `offload` (threads likewise), and the line a caller
    reads, with a 503, when Postgres does not answer."""

    db: DbSource
    offload: Offload = _to_thread
    unavailable: str = "the coaching database is not reachable right now; try again in a minute"


class Unreachable(AuthenticationError):
    """The credential could not be checked: Postgres did not answer."""


def _refusal(unavailable: str) -> Callable[[HTTPConnection, AuthenticationError], Response]:
    def respond(conn: HTTPConnection, exc: AuthenticationError) -> Response:
        if isinstance(exc, Unreachable):
            error = {"code": -32603, "message": unavailable}
            return JSONResponse(
                {"jsonrpc": "2.0", "id": None, "error": error},
                status_code=503,
                headers={"Retry-After": "30"},
            )
        return PlainTextResponse(str(exc), status_code=400)  # starlette's own answer

    return respond


class _OutageAware(AuthProvider):
    """A verifier whose check needs Postgres: an outage answers 503 with the one line
    instead of escaping the authentication middleware as a 500."""

    checks: Checks

    def get_middleware(self) -> list[Any]:
        return [
            Middleware(
                m.cls, *m.args, **{**m.kwargs, "on_error": _refusal(self.checks.unavailable)}
            )
            if m.cls is AuthenticationMiddleware
            else m
            for m in super().get_middleware()
        ]

    async def checked(self, fn: Callable[[], T]) -> T:
        try:
            return await self.checks.offload(fn)
        except (psycopg.OperationalError, PoolTimeout):
            log.warning("bearer token not checked: the database is not reachable")
            raise Unreachable("database not reachable") from None


def _access(token: str, caller: Caller, claims: dict[str, Any]) -> AccessToken:
    return AccessToken(
        token=token,
        client_id=caller.id,
        scopes=[caller.role],
        claims={**claims, "user_id": caller.id, "role": caller.role},
    )


class PostgresTokenVerifier(_OutageAware, TokenVerifier):
    """Our bearer tokens: hashed in `api_tokens`, expiring, revocable."""

    def __init__(self, checks: Checks) -> None:
        super().__init__()
        self.checks = checks

    async def verify_token(self, token: str) -> AccessToken | None:
        caller = await self.checked(lambda: self._lookup(token))
        return _access(token, caller, {}) if caller else None

    def _lookup(self, token: str) -> Caller | None:
        with transaction(self.checks.db()) as conn:  # pooled: no connect per request
            return caller_for_token(conn, token)


def identity_of(claims: dict[str, Any], claim: str) -> str | None:
    """The e-mail address a verified token names in `claim`, and nowhere else; None when the
    claim is missing, empty or not a string, or when the token carries `email_verified` as
    anything but JSON `true` ("FALSE", "no", null and 0 do not verify an address)."""
    value = claims.get(claim)
    if not isinstance(value, str) or not value.strip():
        return None
    if "email_verified" in claims and claims["email_verified"] is not True:
        return None
    return value.strip()


# Matched by the index on lower(trim(email)), then exactly with ASCII-only case folding on
# both sides (the "C" collation): under a linguistic locale lower() maps the Turkish dotted
# İ to i, so `ADMİN@EXAMPLE.COM` would have signed in as admin@example.com.
_BY_EMAIL = """
SELECT id, name, role FROM users
WHERE lower(trim(email)) = lower(%(email)s)
  AND lower(trim(email) COLLATE "C") = lower(%(email)s::text COLLATE "C")
  AND deleted_at IS NULL AND active
LIMIT 2
"""


def caller_for_identity(db: Db, email: str | None) -> Caller | None:
    """The one active user whose e-mail is `email` (trimmed; letters compared case-blind in
    ASCII only, every other character as it is), or None."""
    if not email:
        return None
    with transaction(db) as conn:
        rows = conn.execute(_BY_EMAIL, {"email": email}).fetchall()
    if len(rows) != 1:  # none, or an address two users share: neither is this caller
        log.warning("access denied: unknown or inactive identity")
        return None
    return Caller(rows[0]["id"], rows[0]["name"], rows[0]["role"])


class IdentityJWTVerifier(_OutageAware, JWTVerifier):
    """The identity provider's JWTs, accepted only for active Gong users (else 401)."""

    def __init__(self, checks: Checks, identity_claim: str, **jwt: Any) -> None:
        super().__init__(**jwt)
        self.checks = checks
        self.identity_claim = identity_claim

    async def verify_token(self, token: str) -> AccessToken | None:
        verified = await super().verify_token(token)
        if verified is None:
            return None
        claims = dict(verified.claims or {})
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            log.warning("bearer token refused: it has no exp (tokens must expire)")
            return None
        email = identity_of(claims, self.identity_claim)
        caller = await self.checked(lambda: caller_for_identity(self.checks.db(), email))
        return _access(token, caller, claims) if caller else None


def auth_provider(s: Settings, checks: Checks) -> AuthProvider:
    """The HTTP transport's authentication, as `MCP_AUTH` says, looking callers up as
    `checks` says (connections and threads of their own)."""
    if s.mcp_auth == "tokens":
        return PostgresTokenVerifier(checks)
    if s.mcp_auth == "jwt":
        if not (s.mcp_jwt_jwks_uri or s.mcp_jwt_public_key):
            raise ConfigError("MCP_AUTH=jwt needs MCP_JWT_JWKS_URI or MCP_JWT_PUBLIC_KEY")
        missing = [
            name
            for name, value in (
                ("MCP_JWT_ISSUER", s.mcp_jwt_issuer),
                ("MCP_JWT_AUDIENCE", s.mcp_jwt_audience),
            )
            if not value.strip()
        ]
        if missing:
            raise ConfigError(
                f"MCP_AUTH=jwt needs {' and '.join(missing)}: without them any token your"
                " identity provider signs (for any application) would be accepted"
            )
        return IdentityJWTVerifier(
            checks,
            s.mcp_identity_claim,
            jwks_uri=s.mcp_jwt_jwks_uri or None,
            public_key=s.mcp_jwt_public_key or None,
            issuer=s.mcp_jwt_issuer.strip(),
            audience=s.mcp_jwt_audience.strip(),
        )
    from fastmcp.server.auth.oidc_proxy import OIDCProxy

    missing = [
        name
        for name, value in (
            ("MCP_OIDC_CONFIG_URL", s.mcp_oidc_config_url),
            ("MCP_OIDC_CLIENT_ID", s.mcp_oidc_client_id),
            ("MCP_PUBLIC_URL", s.mcp_public_url),
        )
        if not value
    ]
    if missing:
        raise ConfigError(f"MCP_AUTH=oidc needs {', '.join(missing)}")
    secret = s.mcp_oidc_client_secret.get_secret_value() if s.mcp_oidc_client_secret else None
    return OIDCProxy(
        config_url=s.mcp_oidc_config_url,
        client_id=s.mcp_oidc_client_id,
        client_secret=secret,
        base_url=s.mcp_public_url,
        verify_id_token=True,
        required_scopes=["openid", "email"],
    )
