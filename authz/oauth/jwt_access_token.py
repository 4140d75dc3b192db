"""JWT access tokens (RFC 9068): ``typ: at+jwt`` (§2.1), claims ``iss``, ``exp``,
``aud``, ``sub``, ``client_id``, ``iat``, ``jti`` and ``scope`` (§2.2), verified as
§4 says: type, issuer, audience, signature with the platform's published keys, expiry.
Sender-constrained tokens add ``cnf.jkt`` (RFC 9449 §6.1)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from authz.oauth.keys import ALGORITHM, KeyRing

ACCESS_TOKEN_LIFETIME = dt.timedelta(minutes=5)  # at most 10 minutes by policy
VERIFIED_CACHE_SIZE = 10_000


class AccessTokenError(Exception):
    pass


def resource_audience(issuer: str) -> str:
    return issuer.rstrip("/") + "/api"


def issue(
    keyring: KeyRing,
    *,
    issuer: str,
    client_id: str,
    subject: str,
    scope: str,
    now: dt.datetime,
    jkt: str | None,
    consent_id: str | None,
) -> tuple[str, str, dt.datetime]:
    """A signed access token, its ``jti`` and its expiry."""
    snapshot = keyring.snapshot()
    jti = secrets.token_urlsafe(24)
    expires_at = now + ACCESS_TOKEN_LIFETIME
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": resource_audience(issuer),
        "client_id": client_id,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": jti,
        "scope": scope,
    }
    if jkt is not None:
        claims["cnf"] = {"jkt": jkt}
    if consent_id is not None:
        claims["consent_id"] = consent_id
    header = {"alg": ALGORITHM, "typ": "at+jwt", "kid": snapshot.signing.kid}
    return jwt.encode(header, claims, snapshot.signing), jti, expires_at


def verify(
    keyring: KeyRing, token: str, *, issuer: str, now: dt.datetime, check_expiry: bool = True
) -> dict[str, Any]:
    """The claims of a token this platform issued and (unless told not to check) that has
    not expired. A signature verified once against the current key set is not verified
    again for the same token text; every other check runs on every call."""
    snapshot = keyring.snapshot()
    verified = snapshot.verified_tokens.get(token)
    if verified is None:
        try:
            decoded = jwt.decode(token, snapshot.verifying, algorithms=[ALGORITHM])
        except (JoseError, ValueError, TypeError) as exc:
            raise AccessTokenError("the access token does not verify") from exc
        verified = (dict(decoded.header), dict(decoded.claims))
        if len(snapshot.verified_tokens) >= VERIFIED_CACHE_SIZE:
            snapshot.verified_tokens.clear()
        snapshot.verified_tokens[token] = verified
    header, claims = verified[0], dict(verified[1])
    if header.get("typ") != "at+jwt":
        raise AccessTokenError("the access token's typ is not at+jwt")
    if claims.get("iss") != issuer or claims.get("aud") != resource_audience(issuer):
        raise AccessTokenError("the access token was issued for another audience")
    exp = claims.get("exp")
    if not isinstance(exp, int) or (check_expiry and exp <= now.timestamp()):
        raise AccessTokenError("the access token has expired")
    return claims
