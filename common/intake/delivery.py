"""Verifying and parsing Gong webhook deliveries.

Gong's automation rules sign each delivery with a JWT (RS256) in the `Authorization` header,
with or without a `Bearer ` prefix. Its claims bind it to the delivery: `body_sha256` (hex
SHA-256 of the raw body), `webhook_url` (where Gong posted) and `exp`. Each rule has its own
key, shown in Gong as bare base64 DER; we accept several. Proxies that re-sign use an
HMAC-SHA256 of the raw body in a configurable header instead. Gong's other option, "URL
includes key", puts a secret in the URL (`?key=...`), compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.errors import PayloadInvalid, SignatureInvalid

# call ids become S3 keys and run parameters; use fullmatch (`$` also matches before a "\n")
SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class CallMetaData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1)
    url: str | None = None
    title: str | None = None
    started: str | None = None
    duration: float | None = None
    primaryUserId: str | None = None


class CallData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    metaData: CallMetaData
    parties: list[dict[str, Any]] = Field(default_factory=list)


class WebhookPayload(BaseModel):
    """Gong's automation-rule payload; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")
    callData: CallData
    isTest: bool = False

    @property
    def call_id(self) -> str:
        return self.callData.metaData.id

    @property
    def idempotency_key(self) -> str:
        """The Gong call id: deliveries carry no event id. Test deliveries are kept apart."""
        return f"test:{self.call_id}" if self.isTest else self.call_id


def load_public_key(text: str) -> RSAPublicKey:
    """A Gong rule's public key: bare base64 DER as Gong shows it, or PEM."""
    text = text.strip()
    key = (
        load_pem_public_key(text.encode())
        if text.startswith("-----BEGIN")
        else load_der_public_key(base64.b64decode(text))
    )
    if not isinstance(key, RSAPublicKey):
        raise ValueError("Gong webhook keys are RSA public keys")
    return key


@dataclass(frozen=True)
class DeliveryVerifier:
    """Checks a delivery's JWT or HMAC against the configured keys and secret."""

    modes: frozenset[str]
    public_keys: tuple[RSAPublicKey, ...] = ()
    webhook_url: str = ""
    hmac_secret: bytes | None = None
    hmac_header: str = "X-Signature-SHA256"
    url_key: bytes | None = None
    leeway_s: float = 30.0
    max_lifetime_s: float = 86_400.0  # a JWT valid for more than a day is not Gong's

    def verify(self, body: bytes, headers: dict[str, str], query_key: str | None = None) -> str:
        """Return the mode that accepted the delivery, or raise SignatureInvalid."""
        reasons: list[str] = []
        if "url_key" in self.modes and query_key is not None:
            if self.url_key and hmac.compare_digest(query_key.encode(), self.url_key):
                return "url_key"
            reasons.append("URL key does not match")
        if "hmac" in self.modes and headers.get(self.hmac_header.lower()):
            try:
                self._verify_hmac(body, headers[self.hmac_header.lower()])
                return "hmac"
            except SignatureInvalid as exc:
                reasons.append(str(exc))
        if "jwt" in self.modes and headers.get("authorization"):
            try:
                self._verify_jwt(body, headers["authorization"])
                return "jwt"
            except SignatureInvalid as exc:
                reasons.append(str(exc))
        raise SignatureInvalid("; ".join(reasons) or "missing signature")

    def _verify_hmac(self, body: bytes, given: str) -> None:
        if not self.hmac_secret:
            raise SignatureInvalid("hmac mode has no secret configured")
        expected = hmac.new(self.hmac_secret, body, hashlib.sha256).hexdigest()
        given = given.strip().removeprefix("sha256=")
        if not given.isascii() or not hmac.compare_digest(expected, given.lower()):
            raise SignatureInvalid("HMAC does not match the body")

    def _verify_jwt(self, body: bytes, header: str) -> None:
        token = header.strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        claims = self._decode(token)
        if float(claims["exp"]) > time.time() + self.max_lifetime_s + self.leeway_s:
            raise SignatureInvalid("JWT exp is more than a day ahead")
        body_hash = hashlib.sha256(body).hexdigest()
        if not hmac.compare_digest(str(claims.get("body_sha256", "")).lower(), body_hash):
            raise SignatureInvalid("JWT body_sha256 does not match the body")
        if self.webhook_url and claims.get("webhook_url") != self.webhook_url:
            raise SignatureInvalid("JWT webhook_url is not this endpoint")

    def _decode(self, token: str) -> dict[str, Any]:
        if not self.public_keys:
            raise SignatureInvalid("jwt mode has no public key configured")
        error = "JWT signature invalid"
        for key in self.public_keys:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key=key,
                    algorithms=["RS256"],
                    options={"require": ["exp", "body_sha256"], "verify_aud": False},
                    leeway=self.leeway_s,
                )
                return claims
            except jwt.ExpiredSignatureError:
                raise SignatureInvalid("JWT expired") from None
            except jwt.MissingRequiredClaimError as exc:
                raise SignatureInvalid(f"JWT {exc}") from None
            except jwt.InvalidTokenError as exc:
                error = f"JWT invalid: {exc}"
        raise SignatureInvalid(error)


MAX_DEPTH = 64  # Gong's payloads nest about 6 deep; json.loads recurses, and fails near 1,000
MAX_NUMBER_DIGITS = 40  # ids and durations; Python refuses int() of over 4,300 digits
_ESCAPE = re.compile(r"\\.", re.DOTALL)
_STRING = re.compile(r'"[^"]*"')  # once escapes are gone: nothing to backtrack over
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_constant(name: str) -> Any:
    raise PayloadInvalid(f"body has {name}, which is not JSON")


def _finite(text: str) -> float:
    if len(text) > 2 * MAX_NUMBER_DIGITS:
        raise PayloadInvalid("body has a number too long to be Gong's")
    value = float(text)
    if not math.isfinite(value):
        raise PayloadInvalid("body has a number out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise PayloadInvalid("body has a number too long to be Gong's")
    return int(text)


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest, counted without recursion (strings skipped), in
    time linear in the text: escapes (a backslash and the character after it) are dropped
    first, so a string is a quote, no quotes, a quote. Matching strings with their escapes in
    one pattern retried from every quote of an unterminated run (`\\"\\"\\"...`) was
    quadratic: 48 KiB of signed non-JSON held the server for 10 s."""
    depth = deepest = 0
    for bracket in _NOT_BRACKET.sub("", _STRING.sub("", _ESCAPE.sub("", text))):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def clean_strings(value: Any) -> Any:
    """The JSON value with every string (keys too) made storable in Postgres: NUL removed and
    a lone UTF-16 surrogate replaced by U+FFFD. Iterative: depth is bounded before parsing,
    but this never recurses anyway."""

    def clean(s: str) -> str:
        return _SURROGATE.sub("\ufffd", s.replace("\x00", ""))

    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        item = parent[key]
        if isinstance(item, str):
            parent[key] = clean(item)
        elif isinstance(item, list):
            stack.extend((item, i) for i in range(len(item)))
        elif isinstance(item, dict):
            cleaned = {clean(k): v for k, v in item.items()}
            item.clear()
            item.update(cleaned)
            stack.extend((item, k) for k in item)
    return root[0]


def parse_body(body: bytes) -> dict[str, Any]:
    """The delivery's JSON object, refusing what Python or Postgres cannot hold (NaN,
    Infinity, numbers out of range or of absurd length, nesting deeper than MAX_DEPTH) with
    PayloadInvalid, and with every string cleaned by `clean_strings`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadInvalid("body is not UTF-8") from None
    if nesting_depth(text) > MAX_DEPTH:
        raise PayloadInvalid(f"body nests deeper than {MAX_DEPTH} levels")
    try:
        data = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite,
            parse_int=_bounded_int,
        )
    except (json.JSONDecodeError, RecursionError, ValueError):
        raise PayloadInvalid("body is not JSON") from None
    if not isinstance(data, dict):
        raise PayloadInvalid("body is not a JSON object")
    cleaned: dict[str, Any] = clean_strings(data)
    return cleaned


def parse_payload(body: bytes | dict[str, Any]) -> WebhookPayload:
    """Parse a delivery (raw body or parsed object); PayloadInvalid says what is wrong."""
    data = parse_body(body) if isinstance(body, bytes) else body
    call_data = data.get("callData")
    meta = call_data.get("metaData") if isinstance(call_data, dict) else None
    if isinstance(meta, dict) and type(meta.get("id")) is int:  # not bool: True is no call id
        meta["id"] = str(meta["id"])
    try:
        payload = WebhookPayload.model_validate(data)
    except ValidationError:
        raise PayloadInvalid("payload has no callData.metaData.id (the Gong call id)") from None
    if not SAFE_ID.fullmatch(payload.call_id):
        raise PayloadInvalid("callData.metaData.id is not a safe id ([A-Za-z0-9_-], 1-64)")
    return payload
