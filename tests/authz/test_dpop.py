"""The DPoP proof check (RFC 9449 §4.3) on proofs signed by an independent JOSE library
(joserfc): both algorithms the platform accepts verify, and each way a proof can be
forged or malformed is refused. The data-call suites cover the same checks over HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from authz.oauth.dpop import DPoPError, access_token_hash, check_proof

NOW = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC)
URL = "https://platform.example/api/v1/data/enterprises/X/tax"
TOKEN = "header.payload.signature"
EC_KEY = ECKey.generate_key("P-256", private=True)
RSA_KEY = RSAKey.generate_key(2048, private=True)


def _claims(**extra: Any) -> dict[str, Any]:
    return {
        "jti": secrets.token_urlsafe(16),
        "htm": "GET",
        "htu": URL,
        "iat": int(NOW.timestamp()),
        "ath": access_token_hash(TOKEN),
        **extra,
    }


def _proof(key: ECKey | RSAKey, alg: str, header: dict[str, Any] | None = None) -> str:
    protected = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)}
    return jwt.encode(protected | (header or {}), _claims(), key, algorithms=[alg])


def _check(proof: str) -> str:
    return check_proof(proof, method="GET", uri=URL, now=NOW, access_token=TOKEN).jkt


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize(("key", "alg"), [(EC_KEY, "ES256"), (RSA_KEY, "PS256")])
def test_both_algorithms_verify_and_bind_the_key_thumbprint(key: ECKey | RSAKey, alg: str) -> None:
    assert _check(_proof(key, alg)) == key.thumbprint()
    assert _check(_proof(key, alg)) == key.thumbprint()  # the cached header, a new proof


def test_a_tampered_payload_is_refused() -> None:
    header, _, signature = _proof(EC_KEY, "ES256").split(".")
    forged = _b64(json.dumps(_claims(htm="GET", jti="x" * 16)).encode())
    with pytest.raises(DPoPError, match="signature"):
        _check(f"{header}.{forged}.{signature}")


def test_a_signature_by_another_key_is_refused() -> None:
    header = _proof(EC_KEY, "ES256").split(".")[0]
    _, payload, signature = _proof(ECKey.generate_key("P-256", private=True), "ES256").split(".")
    with pytest.raises(DPoPError, match="signature"):
        _check(f"{header}.{payload}.{signature}")


def test_a_signature_of_the_wrong_length_is_refused() -> None:
    header, payload, signature = _proof(EC_KEY, "ES256").split(".")
    with pytest.raises(DPoPError, match="signature"):
        _check(f"{header}.{payload}.{signature[:-4]}")


@pytest.mark.parametrize(
    ("protected", "message"),
    [
        ({"typ": "JWT"}, "typ"),
        ({"alg": "HS256"}, "alg"),
        ({"alg": "none"}, "alg"),
        ({"alg": "PS256"}, "usable key|RSA"),  # an EC key named for PS256
        ({"crit": ["exp"]}, "critical"),
        ({"jwk": EC_KEY.as_dict(private=True)}, "public jwk"),
        ({"jwk": "not an object"}, "public jwk"),
    ],
)
def test_a_malformed_header_is_refused(protected: dict[str, Any], message: str) -> None:
    base = {"typ": "dpop+jwt", "alg": "ES256", "jwk": EC_KEY.as_dict(private=False)}
    header = _b64(json.dumps(base | protected).encode())
    _, payload, signature = _proof(EC_KEY, "ES256").split(".")
    with pytest.raises(DPoPError, match=message):
        _check(f"{header}.{payload}.{signature}")


@pytest.mark.parametrize("proof", ["", "a.b", "a.b.c.d", "нет.b.c", "!!!.b.c", "a.b.c,d.e.f"])
def test_what_is_not_a_compact_jws_is_refused(proof: str) -> None:
    with pytest.raises(DPoPError):
        _check(proof)


@pytest.mark.parametrize(
    ("seconds", "refusal"),
    [(-60, None), (-61, "old"), (0, None), (8, None), (10, None), (11, "future"), (15, "future")],
)
def test_iat_may_be_up_to_ten_seconds_ahead(seconds: int, refusal: str | None) -> None:
    """FAPI 2.0 §5.3.2.1 item 14: 0 to 10 s ahead of the server's clock is accepted."""
    claims = _claims(iat=int(NOW.timestamp()) + seconds)
    protected = {"typ": "dpop+jwt", "alg": "ES256", "jwk": EC_KEY.as_dict(private=False)}
    proof = jwt.encode(protected, claims, EC_KEY, algorithms=["ES256"])
    if refusal is None:
        assert _check(proof) == EC_KEY.thumbprint()
    else:
        with pytest.raises(DPoPError, match=refusal):
            _check(proof)
