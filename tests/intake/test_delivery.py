"""Delivery verification and payload parsing (no server needed)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization

from common.errors import PayloadInvalid, SignatureInvalid
from common.intake.delivery import (
    MAX_DEPTH,
    DeliveryVerifier,
    load_public_key,
    nesting_depth,
    parse_body,
    parse_payload,
)
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


ADVERSARIAL = '\\"'  # an escaped quote, repeated: a run of strings that never ends


def _cpu_s(texts: list[str]) -> float:
    """The least CPU time, of three tries, to check every text's nesting."""
    tries = []
    for _ in range(3):
        started = time.process_time()
        for text in texts:
            nesting_depth(text)
        tries.append(time.process_time() - started)
    return min(tries)


def test_the_nesting_check_grows_linearly_on_adversarial_text() -> None:
    """The same bytes checked as 100 pieces of 2 KiB or 10 of 20 KiB: linear work costs the
    same either way; the quadratic check cost ten times more for the larger pieces (48 KiB
    held the webhook for 10 s). A ratio of the two, not a wall-clock bound."""
    small = [ADVERSARIAL * 1024] * 100
    large = [ADVERSARIAL * 10 * 1024] * 10
    ratio = _cpu_s(large) / max(_cpu_s(small), 1e-6)
    assert ratio < 4, f"10x larger pieces cost {ratio:.1f}x as much"


def test_a_large_adversarial_body_is_refused_and_deep_nesting_still_is() -> None:
    with pytest.raises(PayloadInvalid, match="not JSON"):
        parse_body(b'{"a": "' + ADVERSARIAL.encode() * 512 * 1024)  # 1 MiB, unterminated
    escaped = '{"k": "' + ADVERSARIAL * 100 + '", "deep": ' + "[" * 65 + "]" * 65 + "}"
    assert nesting_depth(escaped) == 66  # the object, then 65 arrays
    with pytest.raises(PayloadInvalid, match="deeper than 64"):
        parse_body(escaped.encode())
    brackets_in_strings = json.dumps({"s": '[[[[{{{{\\"[[[[', "t": ["]]]}}"]})
    assert nesting_depth(brackets_in_strings) == 2
    at_limit = parse_body(('{"a": ' + "[" * 63 + "]" * 63 + "}").encode())  # 64 deep
    assert nesting_depth(json.dumps(at_limit)) == MAX_DEPTH
