"""Signing deliveries the way Gong does (RS256 JWT over the body hash), for the demo and tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


class GongSigner:
    """An RSA key pair standing in for one Gong automation rule."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def public_key_b64_der(self) -> str:
        """The public key as Gong's "Show public key" displays it: bare base64 DER."""
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def jwt(self, body: bytes, url: str, ttl_s: int = 300, **claims: object) -> str:
        payload = {
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "webhook_url": url,
            "exp": int(time.time()) + ttl_s,
            **claims,
        }
        return jwt.encode(payload, self._key, algorithm="RS256")


def hmac_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
