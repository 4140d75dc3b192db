"""Authlib's authorization server inside FastAPI.

Authlib ships no Starlette server integration, so this module supplies one: a request
adapter (``StarletteOAuth2Request``) built from an already-read Starlette request, and an
``AuthorizationServer`` subclass bound to one request's synchronous SQLAlchemy session
(the request dependency owns commit and rollback). On top of Authlib's RFC 6749 grants:
PKCE with S256 only (RFC 7636 §4.2, plain refused), single-use 60 s authorization codes
whose reuse revokes every token issued from them (RFC 6749 §4.1.2, §10.5), ``iss`` in the
authorization response (RFC 9207 §2), DPoP-bound tokens (RFC 9449 §5, §10) and rotating
refresh tokens bound to the consent they serve.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from authz.consents import service as consents
from authz.models import (
    AuthorizationCode,
    ClientStatus,
    Consent,
    IssuedToken,
    OAuthClient,
    User,
)
from authz.oauth import jwt_access_token
from authz.oauth.client_auth import PrivateKeyJWTAuthentication
from authz.oauth.jwt_access_token import ACCESS_TOKEN_LIFETIME, AccessTokenError
from authz.oauth.keys import KeyRing
from authz.passwords import verify_password
from finance.core.problems import PROBLEM_TYPE_BASE

CODE_LIFETIME = dt.timedelta(seconds=60)
CONSENTS_SCOPE = "consents"
PRODUCTS_SCOPE = "products"  # a bank's loan products (products/endpoints.py)
# What a bank's client-credentials token may carry without a consent.
CLIENT_SCOPES = frozenset({CONSENTS_SCOPE, PRODUCTS_SCOPE})
CLIENT_AUTH_METHODS = ["private_key_jwt", "client_secret_basic"]
GRANT_TYPES = ("authorization_code", "client_credentials", "refresh_token")
NO_STORE = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class InvalidDPoPProofError(OAuth2Error):  # type: ignore[misc]
    """RFC 9449 §5: the token request's DPoP proof is missing or invalid."""

    error = "invalid_dpop_proof"
    status_code = 400


class StarletteOAuth2Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]
    """An Authlib request from a Starlette request's method, URL, headers, query and
    (already read) form; Authlib is synchronous and cannot await the body itself."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        query: Iterable[tuple[str, str]] = (),
        form: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self._query = list(query)
        self._form = list(form)
        self.payload = StarletteOAuth2Payload(self._query + self._form)

    @property
    def args(self) -> dict[str, str]:
        return dict(self._query)

    @property
    def form(self) -> dict[str, str]:
        return dict(self._form)


class ClientAdapter:
    """Authlib's ClientMixin over an ``OAuthClient`` row."""

    def __init__(self, row: OAuthClient) -> None:
        self.row = row

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.row.redirect_uris[0] if len(self.row.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = [s for s in scope.split() if s in CLIENT_SCOPES or s.startswith("data:")]
        return " ".join(dict.fromkeys(allowed))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self.row.sandbox and verify_password(self.row.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if method == "client_secret_basic" and not self.row.sandbox:
            return False
        return method == self.row.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES


@dataclass
class CodeAdapter:
    row: AuthorizationCode

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    @property
    def code_challenge(self) -> str:
        return self.row.code_challenge

    @property
    def code_challenge_method(self) -> str:
        return self.row.code_challenge_method


@dataclass
class TokenAdapter:
    row: IssuedToken
    now: dt.datetime
    consent_live: bool = True

    def check_client(self, client: ClientAdapter) -> bool:
        return self.row.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int((self.row.expires_at - self.row.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.row.expires_at <= self.now

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None or not self.consent_live


@dataclass
class IssueContext:
    """What the grant established about the token being issued."""

    jkt: str | None = None
    consent: Consent | None = None
    user_id: int | None = None
    code_id: int | None = None
    issued: list[IssuedToken] = field(default_factory=list)


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE (RFC 7636) with S256 required for every client: ``plain`` and a missing
    challenge or verifier are refused (FAPI 2.0 §5.3.2.2)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE is required.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    server: PlatformAuthorizationServer

    def create_authorization_response(self, redirect_uri: str, grant_user: Any) -> Any:
        status, body, headers = super().create_authorization_response(redirect_uri, grant_user)
        return status, body, self.server.with_issuer(headers)

    def save_authorization_code(self, code: str, request: StarletteOAuth2Request) -> None:
        server = self.server
        data = request.payload.data
        consent = server.session.get(Consent, data["consent_id"])
        assert consent is not None  # checked when the request was pushed and approved
        server.session.add(
            AuthorizationCode(
                code_digest=digest(code),
                client_id=request.client.get_client_id(),
                user_id=request.user.id,
                consent_id=consent.id,
                redirect_uri=request.payload.redirect_uri,
                scope=" ".join(f"data:{c}" for c in consent.category_list),
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                dpop_jkt=data.get("dpop_jkt"),
                issued_at=server.now,
                expires_at=server.now + CODE_LIFETIME,
            )
        )
        server.session.flush()

    def query_authorization_code(self, code: str, client: ClientAdapter) -> CodeAdapter | None:
        server = self.server
        row = server.session.scalar(
            select(AuthorizationCode).where(AuthorizationCode.code_digest == digest(code))
        )
        if row is None or row.client_id != client.get_client_id():
            return None
        if row.used_at is not None:
            # A replayed code: whoever holds it may not be the client; end what it bought.
            server.session.execute(
                update(IssuedToken)
                .where(IssuedToken.code_id == row.id, IssuedToken.revoked_at.is_(None))
                .values(revoked_at=server.now)
            )
            raise InvalidGrantError("The authorization code was already used.")
        if row.expires_at <= server.now:
            raise InvalidGrantError("The authorization code has expired.")
        consent = server.session.get(Consent, row.consent_id)
        if consent is None or not consents.is_live(consent, server.now):
            raise InvalidGrantError("The consent behind this code is no longer authorised.")
        if server.context.jkt is None:
            raise InvalidDPoPProofError("A DPoP proof is required for this grant.")
        if row.dpop_jkt is not None and row.dpop_jkt != server.context.jkt:
            raise InvalidDPoPProofError("The DPoP key is not the one named at authorization.")
        server.context.consent = consent
        server.context.code_id = row.id
        server.context.user_id = row.user_id
        return CodeAdapter(row)

    def delete_authorization_code(self, authorization_code: CodeAdapter) -> None:
        authorization_code.row.used_at = self.server.now

    def authenticate_user(self, authorization_code: CodeAdapter) -> User | None:
        return self.server.session.get(User, authorization_code.row.user_id)


class CredentialsGrant(ClientCredentialsGrant):  # type: ignore[misc]
    """Client credentials: scope ``consents`` for the consent API and/or ``products`` for
    the bank's loan products, or, with ``consent_id``, a DPoP-bound data token for a
    platform-initiated consent."""

    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    server: PlatformAuthorizationServer

    def validate_token_request(self) -> None:
        super().validate_token_request()
        server = self.server
        consent_id = self.request.form.get("consent_id")
        if consent_id is None:
            requested = set((self.request.payload.scope or CONSENTS_SCOPE).split())
            if not requested <= CLIENT_SCOPES:
                raise InvalidScopeError(
                    "Without consent_id only the 'consents' and 'products' scopes are granted."
                )
            self._scope = " ".join(sorted(requested))
            return
        consent = server.session.get(Consent, consent_id)
        if (
            consent is None
            or consent.client_id != self.request.client.get_client_id()
            or consent.origin != "platform"
            or not consents.is_live(consent, server.now)
        ):
            raise InvalidGrantError("No live platform-initiated consent with that id.")
        if server.context.jkt is None:
            raise InvalidDPoPProofError("A DPoP proof is required for a data token.")
        server.context.consent = consent
        self._scope = " ".join(f"data:{c}" for c in consent.category_list)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        token = self.generate_token(scope=self._scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class RefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
    """Refresh tokens rotate on every use and die with their consent. A spent (rotated or
    revoked) refresh token presented again ends every token of that client under that
    consent: one of the two holders is not the client (RFC 9700 §4.14.2)."""

    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: PlatformAuthorizationServer

    def authenticate_refresh_token(self, refresh_token: str) -> TokenAdapter | None:
        server = self.server
        row = server.session.scalar(
            select(IssuedToken).where(IssuedToken.refresh_digest == digest(refresh_token))
        )
        if row is None:
            return None
        if row.revoked_at is not None:
            server.session.execute(
                update(IssuedToken)
                .where(
                    IssuedToken.client_id == row.client_id,
                    IssuedToken.consent_id == row.consent_id,
                    IssuedToken.revoked_at.is_(None),
                )
                .values(revoked_at=server.now)
            )
            return None
        if row.refresh_expires_at is None or row.refresh_expires_at <= server.now:
            return None
        consent = server.session.get(Consent, row.consent_id) if row.consent_id else None
        if consent is None or not consents.is_live(consent, server.now):
            return None
        if server.context.jkt is None:
            raise InvalidDPoPProofError("A DPoP proof is required to refresh.")
        if row.dpop_jkt != server.context.jkt:
            raise InvalidDPoPProofError("The refresh token is bound to another DPoP key.")
        server.context.consent = consent
        server.context.user_id = row.user_id
        server.context.code_id = row.code_id
        return TokenAdapter(row, server.now)

    def authenticate_user(self, refresh_token: TokenAdapter) -> User | None:
        user_id = refresh_token.row.user_id
        return self.server.session.get(User, user_id) if user_id is not None else None

    def revoke_old_credential(self, refresh_token: TokenAdapter) -> None:
        refresh_token.row.revoked_at = self.server.now


def _query_token(server: PlatformAuthorizationServer, token: str) -> TokenAdapter | None:
    row = server.session.scalar(
        select(IssuedToken).where(IssuedToken.refresh_digest == digest(token))
    )
    if row is None:
        try:
            claims = jwt_access_token.verify(
                server.keyring, token, issuer=server.issuer, now=server.now, check_expiry=False
            )
        except AccessTokenError:
            return None
        row = server.session.scalar(select(IssuedToken).where(IssuedToken.jti == claims["jti"]))
    if row is None:
        return None
    consent = server.session.get(Consent, row.consent_id) if row.consent_id else None
    live = consent is None or consents.is_live(consent, server.now)
    return TokenAdapter(row, server.now, consent_live=live)


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009: revoking a refresh token or an access token revokes that grant."""

    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS
    server: PlatformAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return _query_token(self.server, token_string)

    def revoke_token(self, token: TokenAdapter, request: Any) -> None:
        token.row.revoked_at = self.server.now


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    """RFC 7662: a client may introspect only tokens issued to it."""

    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS
    server: PlatformAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return _query_token(self.server, token_string)

    def check_permission(self, token: TokenAdapter, client: ClientAdapter, request: Any) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: TokenAdapter) -> dict[str, Any]:
        row = token.row
        payload: dict[str, Any] = {
            "active": True,
            "client_id": row.client_id,
            "scope": row.scope,
            "token_type": "DPoP" if row.dpop_jkt else "Bearer",
            "exp": int(row.expires_at.timestamp()),
            "iat": int(row.issued_at.timestamp()),
            "jti": row.jti,
            "iss": self.server.issuer,
            "sub": f"user:{row.user_id}" if row.user_id else row.client_id,
        }
        if row.dpop_jkt:
            payload["cnf"] = {"jkt": row.dpop_jkt}
        if row.consent_id:
            payload["consent_id"] = row.consent_id
        return payload


class PlatformAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """One request's authorization server: Authlib's endpoint logic over this request's
    session, the platform's key ring and the injected clock."""

    def __init__(
        self,
        session: Session,
        *,
        issuer: str,
        keyring: KeyRing,
        now: dt.datetime,
        dpop_jkt: str | None = None,
    ) -> None:
        super().__init__(scopes_supported=None)
        self.session = session
        self.issuer = issuer.rstrip("/")
        self.keyring = keyring
        self.now = now
        self.context = IssueContext(jkt=dpop_jkt)
        self.register_client_auth_method(
            "private_key_jwt",
            PrivateKeyJWTAuthentication(session, self.assertion_audiences, now),
        )
        self.register_grant(CodeGrant, [S256CodeChallenge(required=True)])
        self.register_grant(CredentialsGrant)
        self.register_grant(RefreshGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)
        self.register_token_generator("default", self._generate_token)

    @property
    def assertion_audiences(self) -> list[str]:
        return [
            self.issuer,
            self.issuer + "/oauth2/token",
            self.issuer + "/oauth2/par",
            self.issuer + "/oauth2/revoke",
            self.issuer + "/oauth2/introspect",
        ]

    def query_client(self, client_id: str) -> ClientAdapter | None:
        row = self.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
        if row is None or row.status != ClientStatus.ACTIVE.value:
            return None
        return ClientAdapter(row)

    def _generate_token(
        self,
        grant_type: str,
        client: ClientAdapter,
        user: User | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        context = self.context
        consent = context.consent
        access_token, jti, expires_at = jwt_access_token.issue(
            self.keyring,
            issuer=self.issuer,
            client_id=client.get_client_id(),
            subject=f"user:{user.id}" if user is not None else client.get_client_id(),
            scope=scope or "",
            now=self.now,
            jkt=context.jkt,
            consent_id=consent.id if consent is not None else None,
        )
        token: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "DPoP" if context.jkt else "Bearer",
            "expires_in": int(ACCESS_TOKEN_LIFETIME.total_seconds()),
            "scope": scope or "",
        }
        refresh = secrets.token_urlsafe(32) if include_refresh_token and consent else None
        if refresh is not None:
            token["refresh_token"] = refresh
        context.issued.append(
            IssuedToken(
                jti=jti,
                client_id=client.get_client_id(),
                user_id=user.id if user is not None else None,
                consent_id=consent.id if consent is not None else None,
                code_id=context.code_id,
                grant_type=grant_type,
                scope=scope or "",
                dpop_jkt=context.jkt,
                issued_at=self.now,
                expires_at=expires_at,
                refresh_digest=digest(refresh) if refresh else None,
                refresh_expires_at=consent.expires_at if refresh and consent else None,
            )
        )
        return token

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        for row in self.context.issued:
            self.session.add(row)
        self.context.issued.clear()
        self.session.flush()

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        raise TypeError("build a StarletteOAuth2Request from the already-read request")

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def with_issuer(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """RFC 9207 §2: every authorization response names the issuer."""
        return [
            (name, add_params_to_uri(value, {"iss": self.issuer}) if name == "Location" else value)
            for name, value in headers
        ]

    def handle_error_response(self, request: Any, error: OAuth2Error) -> Response:
        status, body, headers = error(self.get_error_uri(request, error))
        if isinstance(body, dict):
            body = {
                **body,
                "type": PROBLEM_TYPE_BASE + str(body.get("error", "oauth")).replace("_", "-"),
                "title": str(body.get("error", "error")),
                "status": status,
                "detail": body.get("error_description", body.get("error", "")),
            }
        elif status in (301, 302, 303):
            headers = self.with_issuer(list(headers))
        return self.handle_response(status, body, headers)

    def handle_response(
        self, status: int, body: Any, headers: Iterable[tuple[str, str]]
    ) -> Response:
        header_map = dict(headers)
        if status in (301, 302, 303):
            return Response(status_code=status, headers=header_map)
        header_map.update(dict(NO_STORE))
        header_map.pop("Content-Type", None)
        return JSONResponse(body, status_code=status, headers=header_map)
