"""DPoP proofs (RFC 9449): sender-constraining access tokens to a client-held key.

A proof is a JWT with ``typ: dpop+jwt`` (§4.2), signed by the private half of the public
JWK in its header, naming the HTTP method (``htm``) and URI without query and fragment
(``htu``, §4.3 check 9-10), issued within ``MAX_AGE`` before now and at most
``FUTURE_LEEWAY`` after it (``iat``, check 11; FAPI 2.0 §5.3.2.1 item 14), with a
unique ``jti`` (check 12, §11.1) and, at a resource, the hash of the access token
(``ath``, §4.3 check 12 / §7). The token carries the key's RFC 7638 thumbprint in
``cnf.jkt`` (§6.1).

Used ``jti``s are remembered (§11.1) in the caller's transaction (``verify_proof``,
the token endpoint) or, for data calls, by the rate limiter's store in the same trip as
the rate limit (``authz.ratelimit``: Redis when configured, else the database).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy.orm import Session

from authz.models import UsedJti
from authz.sql import insert_if_absent
from finance.core.db import survive_rollback

ALGORITHMS = ("ES256", "PS256")
MAX_AGE = dt.timedelta(seconds=60)
# FAPI 2.0 Security Profile §5.3.2.1 item 14: a JWT the server receives (a DPoP proof, a
# client assertion) whose iat is 0 to 10 s ahead of the server's clock is accepted, for
# clients whose clocks run a little fast; one further ahead is refused.
FUTURE_LEEWAY = dt.timedelta(seconds=10)


class DPoPError(Exception):
    """The proof is refused; ``error`` is ``invalid_dpop_proof`` (RFC 9449 §5, §7.1)."""

    error = "invalid_dpop_proof"


@dataclass(frozen=True)
class DPoPProof:
    jkt: str
    jti: str


def access_token_hash(access_token: str) -> str:
    """``ath``: base64url SHA-256 of the ASCII access token (§4.2)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def normalise_htu(uri: str) -> str:
    """The URI without query and fragment, scheme and host lower-cased (§4.3 check 9)."""
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", ""))


def jti_digest(scope: str, jti: str) -> str:
    return hashlib.sha256(f"{scope}:{jti}".encode()).hexdigest()


def remember_jti(session: Session, scope: str, jti: str, expires_at: dt.datetime) -> bool:
    """Record a one-time identifier in the caller's transaction, kept even if that
    transaction rolls back (``survive_rollback``: the request it came with failed, but
    it was used); False if it was seen before (replay)."""
    table: Any = UsedJti.__table__
    row = {"digest": jti_digest(scope, jti), "expires_at": expires_at}
    if not insert_if_absent(session, table, row):
        return False
    survive_rollback(session, lambda again: insert_if_absent(again, table, row))
    return True


_KEY_CACHE_SIZE = 4096


@dataclass(frozen=True)
class _Header:
    """A proof's protected header, checked, with its key imported: the same for every
    proof a client signs with one key, so parsed and imported once per process."""

    alg: str
    key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey
    jkt: str  # RFC 7638 thumbprint of the key


_headers: dict[str, _Header] = {}
_headers_lock = threading.Lock()


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _header(segment: str) -> _Header:
    cached = _headers.get(segment)
    if cached is not None:
        return cached
    try:
        header = json.loads(_b64decode(segment))
    except (ValueError, UnicodeError) as exc:
        raise DPoPError("the DPoP proof is not a JWS") from exc
    if not isinstance(header, dict):
        raise DPoPError("the DPoP proof is not a JWS")
    if header.get("typ") != "dpop+jwt":
        raise DPoPError("the DPoP proof's typ must be dpop+jwt")
    if "crit" in header:  # RFC 7515 §4.1.11: no extension is understood here
        raise DPoPError("the DPoP proof names critical header parameters")
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise DPoPError(f"the DPoP proof's alg must be one of {', '.join(ALGORITHMS)}")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or "d" in jwk or "p" in jwk:
        raise DPoPError("the DPoP proof must carry a public jwk")
    try:
        imported: ECKey | RSAKey = (
            ECKey.import_key(jwk) if jwk.get("kty") == "EC" else RSAKey.import_key(jwk)
        )
        imported.check_alg(alg)
        public = imported.public_key
    except (JoseError, ValueError, TypeError) as exc:
        raise DPoPError("the DPoP proof's jwk is not a usable key for its alg") from exc
    if alg == "ES256" and not (
        isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    ):
        raise DPoPError("ES256 needs a P-256 key")
    if alg == "PS256" and not isinstance(public, rsa.RSAPublicKey):
        raise DPoPError("PS256 needs an RSA key")
    parsed = _Header(alg, public, imported.thumbprint())
    with _headers_lock:
        if len(_headers) >= _KEY_CACHE_SIZE:
            _headers.clear()
        _headers[segment] = parsed
    return parsed


def _signature_verifies(header: _Header, signing_input: bytes, signature: bytes) -> bool:
    """RFC 7518 §3.4 (ES256: the raw 64-byte R || S) and §3.5 (PS256: salt of the hash's
    length), checked with ``cryptography``."""
    try:
        if isinstance(header.key, ec.EllipticCurvePublicKey):
            if len(signature) != 64:
                return False
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            header.key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
        else:
            header.key.verify(
                signature,
                signing_input,
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                hashes.SHA256(),
            )
    except InvalidSignature:
        return False
    return True


def verify_proof(
    session: Session,
    proof: str | None,
    *,
    method: str,
    uri: str,
    now: dt.datetime,
    access_token: str | None = None,
    expected_jkt: str | None = None,
) -> DPoPProof:
    """Check one DPoP proof per RFC 9449 §4.3 and remember its ``jti`` in the caller's
    transaction."""
    checked = check_proof(
        proof,
        method=method,
        uri=uri,
        now=now,
        access_token=access_token,
        expected_jkt=expected_jkt,
    )
    if not remember_jti(session, "dpop", f"{checked.jkt}:{checked.jti}", replay_horizon(now)):
        raise DPoPError("the DPoP proof was used before (replay)")
    return checked


def replay_horizon(now: dt.datetime) -> dt.datetime:
    """How long a proof's ``jti`` is remembered: past the end of its ``iat`` window."""
    return now + MAX_AGE + MAX_AGE


def check_proof(
    proof: str | None,
    *,
    method: str,
    uri: str,
    now: dt.datetime,
    access_token: str | None = None,
    expected_jkt: str | None = None,
) -> DPoPProof:
    """Every check of RFC 9449 §4.3 but the replay check (12), which the caller makes
    (``verify_proof``, or the data-call guard through its rate limiter)."""
    if not proof:
        raise DPoPError("a DPoP proof is required")
    if "," in proof:
        raise DPoPError("exactly one DPoP header is allowed")
    segments = proof.split(".")
    if len(segments) != 3 or not proof.isascii():
        raise DPoPError("the DPoP proof is not a JWS")
    header = _header(segments[0])
    jkt = header.jkt
    try:
        signature = _b64decode(segments[2])
        verified = _signature_verifies(
            header, f"{segments[0]}.{segments[1]}".encode("ascii"), signature
        )
        body: dict[str, Any] = json.loads(_b64decode(segments[1])) if verified else {}
    except (ValueError, UnicodeError) as exc:
        raise DPoPError("the DPoP proof's signature does not verify") from exc
    if not verified:
        raise DPoPError("the DPoP proof's signature does not verify")
    if not isinstance(body, dict):
        raise DPoPError("the DPoP proof's payload is not an object")
    if body.get("htm") != method:
        raise DPoPError("the DPoP proof's htm does not match the request method")
    if not isinstance(body.get("htu"), str) or normalise_htu(body["htu"]) != normalise_htu(uri):
        raise DPoPError("the DPoP proof's htu does not match the request URI")
    iat = body.get("iat")
    if not isinstance(iat, int | float):
        raise DPoPError("the DPoP proof has no iat")
    issued = dt.datetime.fromtimestamp(iat, dt.UTC)
    if issued < now - MAX_AGE:
        raise DPoPError(f"the DPoP proof's iat is more than {MAX_AGE.seconds} s old")
    if issued > now + FUTURE_LEEWAY:
        raise DPoPError(
            f"the DPoP proof's iat is more than {FUTURE_LEEWAY.seconds} s in the future"
        )
    jti = body.get("jti")
    if not isinstance(jti, str) or not 8 <= len(jti) <= 256:
        raise DPoPError("the DPoP proof has no usable jti")
    if access_token is not None:
        if body.get("ath") != access_token_hash(access_token):
            raise DPoPError("the DPoP proof's ath does not match the access token")
    if expected_jkt is not None and jkt != expected_jkt:
        raise DPoPError("the DPoP proof is signed with a key the token is not bound to")
    return DPoPProof(jkt=jkt, jti=jti)
