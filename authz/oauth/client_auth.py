"""Client authentication with ``private_key_jwt`` (RFC 7523 §2.2 and §3; OpenID Connect
Core §9): a JWT signed with a key from the client's registered JWKS.

Refused: an ``aud`` other than this issuer or its token/PAR endpoints (§3 item 3), a
missing or passed ``exp`` (item 4) beyond the 60 s skew allowance, an ``iat`` or ``nbf``
more than ``FUTURE_LEEWAY`` (10 s, FAPI 2.0 §5.3.2.1 item 14) in the future, an assertion
living longer than ``MAX_LIFETIME``, a ``jti`` seen before (item 7), ``iss``/``sub`` not
the client id (items 1-2), an algorithm outside FAPI 2.0's ES256/PS256.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from authz.oauth.dpop import FUTURE_LEEWAY, remember_jti

SKEW = dt.timedelta(seconds=60)
MAX_LIFETIME = dt.timedelta(minutes=60)
ALGORITHMS = ("ES256", "PS256")


class PrivateKeyJWTAuthentication(JWTBearerClientAssertion):  # type: ignore[misc]
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, session: Session, audiences: list[str], now: dt.datetime) -> None:
        super().__init__(validate_jti=True, leeway=int(SKEW.total_seconds()))
        self._session = session
        self._audiences = audiences
        self._now = now

    def get_audiences(self) -> list[str]:
        return self._audiences

    def resolve_client_public_key(self, client: Any) -> KeySet:
        jwks = client.row.jwks
        if not jwks:
            raise InvalidClientError(description="The client has no registered JWKS.")
        return KeySet.import_key_set(jwks)

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=list(ALGORITHMS))
        except JoseError as exc:
            raise InvalidClientError(
                description="The client assertion's signature does not verify."
            ) from exc
        self.verify_claims(token.claims)
        claims: dict[str, Any] = token.claims
        return claims

    def verify_claims(self, claims: dict[str, Any]) -> None:
        now = self._now.timestamp()
        skew = SKEW.total_seconds()
        if claims.get("iss") != claims.get("sub"):
            raise InvalidClientError(description="Issuer and Subject MUST match.")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if not any(a in self._audiences for a in audiences):
            raise InvalidClientError(description="The client assertion's aud is not this server.")
        exp = claims.get("exp")
        if not isinstance(exp, int | float):
            raise InvalidClientError(description="The client assertion has no exp.")
        if exp + skew <= now:
            raise InvalidClientError(description="The client assertion has expired.")
        ahead = FUTURE_LEEWAY.total_seconds()
        iat = claims.get("iat", now)
        if not isinstance(iat, int | float) or iat > now + ahead:
            raise InvalidClientError(
                description=f"The client assertion's iat is more than {ahead:g} s in the future."
            )
        nbf = claims.get("nbf", now)
        if not isinstance(nbf, int | float) or nbf > now + ahead:
            raise InvalidClientError(
                description=f"The client assertion's nbf is more than {ahead:g} s in the future."
            )
        if exp - min(iat, now) > MAX_LIFETIME.total_seconds() + skew:
            raise InvalidClientError(description="The client assertion lives too long.")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise InvalidClientError(description="Missing JWT ID.")
        expires = dt.datetime.fromtimestamp(exp, dt.UTC) + SKEW
        if not remember_jti(self._session, f"client-assertion:{claims['sub']}", jti, expires):
            raise InvalidClientError(description="The client assertion's jti was used before.")
