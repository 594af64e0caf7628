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
An identity provider's claim is matched to a user's e-mail (trimmed, case-insensitive), never to
a user id, and refused when the provider says the address is unverified: otherwise a token
whose `sub` or `email` happened to read "u-admin" would sign in as the admin.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from fastmcp.server.auth import AccessToken, AuthProvider, TokenVerifier
from fastmcp.server.auth.providers.jwt import JWTVerifier

from common.access.scope import Caller, load_caller_by_email
from common.access.tokens import caller_for_token
from common.config import Settings
from common.db import Db, transaction
from common.errors import AccessDenied, ConfigError

log = logging.getLogger("sales_coach.access")

UNVERIFIED = (False, "false", "False")
# the process's database as its composition root holds it now (a server's pool is closed at
# the end of its lifespan and opened again by the next)
DbSource = Callable[[], Db]


def _access(token: str, caller: Caller, claims: dict[str, Any]) -> AccessToken:
    return AccessToken(
        token=token,
        client_id=caller.id,
        scopes=[caller.role],
        claims={**claims, "user_id": caller.id, "role": caller.role},
    )


class PostgresTokenVerifier(TokenVerifier):
    """Our bearer tokens: hashed in `api_tokens`, expiring, revocable."""

    def __init__(self, db: DbSource) -> None:
        super().__init__()
        self.db = db

    async def verify_token(self, token: str) -> AccessToken | None:
        caller = await asyncio.to_thread(self._lookup, token)
        return _access(token, caller, {}) if caller else None

    def _lookup(self, token: str) -> Caller | None:
        with transaction(self.db()) as conn:  # a pooled connection: no connect per request
            return caller_for_token(conn, token)


def identity_of(claims: dict[str, Any], claim: str) -> str | None:
    """The e-mail address a verified token names in `claim`, and nowhere else; None when the
    claim is missing, empty or not a string, or when `email_verified` says it is unverified."""
    value = claims.get(claim)
    if not isinstance(value, str) or not value.strip():
        return None
    if claims.get("email_verified") in UNVERIFIED:
        return None
    return value.strip()


def caller_for_identity(db: Db, email: str | None) -> Caller | None:
    """The active user whose e-mail is `email`, or None."""
    if not email:
        return None
    try:
        with transaction(db) as conn:
            return load_caller_by_email(conn, email)
    except AccessDenied:
        return None


class IdentityJWTVerifier(JWTVerifier):
    """The identity provider's JWTs, accepted only for active Gong users (else 401)."""

    def __init__(self, db: DbSource, identity_claim: str, **jwt: Any) -> None:
        super().__init__(**jwt)
        self.db = db
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
        caller = await asyncio.to_thread(
            caller_for_identity, self.db(), identity_of(claims, self.identity_claim)
        )
        return _access(token, caller, claims) if caller else None


def auth_provider(s: Settings, db: DbSource) -> AuthProvider:
    """The HTTP transport's authentication, as `MCP_AUTH` says, looking callers up in `db`
    (the server's pool)."""
    if s.mcp_auth == "tokens":
        return PostgresTokenVerifier(db)
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
            db,
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
