"""Delivery verification and payload parsing (no server needed)."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization

from common.errors import PayloadInvalid, SignatureInvalid
from common.intake.delivery import DeliveryVerifier, load_public_key, parse_payload
from local.signing import GongSigner

URL = "https://coach.example.com/webhooks/gong"


def test_pem_and_bare_der_keys_and_several_rules() -> None:
    first, second = GongSigner(), GongSigner()
    der = base64.b64decode(second.public_key_b64_der)
    pem = (
        serialization.load_der_public_key(der)
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    verifier = DeliveryVerifier(
        modes=frozenset({"jwt"}),
        public_keys=(load_public_key(first.public_key_b64_der), load_public_key(pem)),
        webhook_url=URL,
    )
    body = b'{"callData": {"metaData": {"id": "1"}}}'
    assert verifier.verify(body, {"authorization": second.jwt(body, URL)}) == "jwt"
    assert verifier.verify(body, {"authorization": "Bearer " + first.jwt(body, URL)}) == "jwt"


def test_jwt_without_body_hash_claim_is_refused() -> None:
    signer = GongSigner()
    verifier = DeliveryVerifier(
        modes=frozenset({"jwt"}), public_keys=(load_public_key(signer.public_key_b64_der),)
    )
    import jwt as pyjwt

    token = pyjwt.encode({"exp": 9_999_999_999}, signer._key, algorithm="RS256")
    with pytest.raises(SignatureInvalid, match="body_sha256"):
        verifier.verify(b"{}", {"authorization": token})


def test_disabled_mode_is_not_accepted() -> None:
    verifier = DeliveryVerifier(modes=frozenset({"jwt"}), hmac_secret=b"s")
    with pytest.raises(SignatureInvalid, match="missing signature"):
        verifier.verify(b"{}", {"x-signature-sha256": "abc"})


def test_numeric_call_ids_and_test_deliveries() -> None:
    payload = parse_payload(
        json.dumps({"callData": {"metaData": {"id": 123}}, "isTest": True}).encode()
    )
    assert payload.call_id == "123" and payload.idempotency_key == "test:123"
    with pytest.raises(PayloadInvalid, match="call id"):
        parse_payload(b'{"callData": {"metaData": {"id": ""}}}')
