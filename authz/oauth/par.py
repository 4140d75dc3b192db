"""Pushed authorization requests (RFC 9126), required for every authorization.

The client POSTs its authorization request to the PAR endpoint, authenticating as at the
token endpoint (§2); the request is validated as the authorization endpoint would
(§2.1: Authlib's code grant with PKCE S256, plus the consent it asks the enterprise to
approve) and stored under a one-time ``request_uri`` that expires in under 60 s (§2.2,
FAPI 2.0 §5.3.2.2). FAPI 2.0 §5.3.2.2 item 6 also makes ``redirect_uri`` required in the
pushed request, even for a client with a single registered URI. The authorization
endpoint then accepts only ``client_id`` and ``request_uri`` (§4), for that client only,
once.
"""

from __future__ import annotations

import datetime as dt
import secrets
from zoneinfo import ZoneInfo

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error
from fastapi.responses import Response
from sqlalchemy import select

from authz.consents import service as consents
from authz.models import Consent, ConsentStatus, PushedAuthorizationRequest, User
from authz.oauth.server import (
    CLIENT_AUTH_METHODS,
    NO_STORE,
    PlatformAuthorizationServer,
    StarletteOAuth2Request,
    digest,
)

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
REQUEST_URI_LIFETIME = dt.timedelta(seconds=55)
CONSENT_SCREEN_LIFETIME = dt.timedelta(minutes=10)
SHANGHAI = ZoneInfo("Asia/Shanghai")
_CLIENT_AUTH_PARAMS = frozenset({"client_assertion", "client_assertion_type", "client_secret"})


class AuthorizationRequestError(Exception):
    """The authorization endpoint cannot trust the request enough to redirect back."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def authorization_request(server: PlatformAuthorizationServer, params: dict[str, str]) -> object:
    """Validate authorization request parameters with Authlib's code grant (client,
    redirect URI, response type, scope, PKCE); returns the grant."""
    request = StarletteOAuth2Request("GET", server.issuer + "/oauth2/authorize", {}, params.items())
    grant = server.get_authorization_grant(request)
    grant.validate_no_multiple_request_parameter(request)
    grant.validate_consent_request()
    return grant


def push(server: PlatformAuthorizationServer, request: StarletteOAuth2Request) -> Response:
    """The PAR endpoint (RFC 9126 §2)."""
    try:
        client = server.authenticate_client(request, CLIENT_AUTH_METHODS, "par")
        form = request.payload.datalist
        if "request_uri" in form:
            raise InvalidRequestError("'request_uri' may not be pushed.")
        if form.get("client_id", [client.get_client_id()]) != [client.get_client_id()]:
            raise InvalidRequestError("'client_id' is not the authenticated client.")
        if not form.get("redirect_uri", [""])[0]:
            raise InvalidRequestError(
                "'redirect_uri' is required in a pushed authorization request "
                "(FAPI 2.0 Security Profile, section 5.3.2.2)."
            )
        params = {
            key: values[0]
            for key, values in form.items()
            if key not in _CLIENT_AUTH_PARAMS and len(values) == 1
        }
        params["client_id"] = client.get_client_id()
        try:
            authorization_request(server, params)
        except OAuth2Error as error:
            error.redirect_uri = None  # PAR answers directly, never by redirect
            raise
        consent = server.session.get(Consent, params.get("consent_id", ""))
        if (
            consent is None
            or consent.client_id != client.get_client_id()
            or consent.status != ConsentStatus.AWAITING.value
            or consent.expires_at <= server.now
        ):
            raise InvalidRequestError("'consent_id' names no consent awaiting authorisation.")
        request_uri = REQUEST_URI_PREFIX + secrets.token_urlsafe(32)
        server.session.add(
            PushedAuthorizationRequest(
                request_uri=request_uri,
                client_id=client.get_client_id(),
                params=params,
                expires_at=server.now + REQUEST_URI_LIFETIME,
            )
        )
        server.session.flush()
    except OAuth2Error as error:
        return server.handle_error_response(request, error)
    body = {"request_uri": request_uri, "expires_in": int(REQUEST_URI_LIFETIME.total_seconds())}
    return server.handle_response(201, body, NO_STORE)


def open_request(
    server: PlatformAuthorizationServer, client_id: str | None, request_uri: str | None, user: User
) -> tuple[PushedAuthorizationRequest, Consent, str]:
    """The authorization endpoint (RFC 9126 §4): consume the pushed request for this
    client and hand the user a one-time ticket for the consent screen."""
    if not client_id or not request_uri:
        raise AuthorizationRequestError(
            "invalid_request", "client_id and a pushed request_uri are required"
        )
    pushed = server.session.get(PushedAuthorizationRequest, request_uri)
    if pushed is None or pushed.client_id != client_id:
        raise AuthorizationRequestError("invalid_request_uri", "unknown request_uri")
    if pushed.used_at is not None:
        raise AuthorizationRequestError("invalid_request_uri", "the request_uri was used")
    if pushed.expires_at <= server.now:
        raise AuthorizationRequestError("invalid_request_uri", "the request_uri has expired")
    pushed.used_at = server.now
    try:
        authorization_request(server, pushed.params)
    except OAuth2Error as error:
        raise AuthorizationRequestError(error.error, error.get_error_description()) from error
    consent = server.session.get(Consent, pushed.params["consent_id"])
    if consent is None or user.uscc != consent.uscc:
        raise AuthorizationRequestError("access_denied", "this consent is not for your enterprise")
    ticket = secrets.token_urlsafe(32)
    pushed.user_id = user.id
    pushed.ticket_digest = digest(ticket)
    server.session.flush()
    return pushed, consent, ticket


def decide(server: PlatformAuthorizationServer, ticket: str, user: User, approve: bool) -> Response:
    """The user's decision on the consent screen: Authorised and a code, or Rejected and
    ``access_denied``; both redirect to the client with ``state`` and ``iss``."""
    pushed = server.session.scalar(
        select(PushedAuthorizationRequest).where(
            PushedAuthorizationRequest.ticket_digest == digest(ticket)
        )
    )
    if (
        pushed is None
        or pushed.user_id != user.id
        or pushed.decided_at is not None
        or pushed.used_at is None
        or pushed.used_at + CONSENT_SCREEN_LIFETIME <= server.now
    ):
        raise AuthorizationRequestError("invalid_request", "this consent screen is no longer valid")
    pushed.decided_at = server.now
    request = StarletteOAuth2Request(
        "POST", server.issuer + "/oauth2/authorize", {}, pushed.params.items()
    )
    consent = server.session.get(Consent, pushed.params["consent_id"])
    assert consent is not None
    grant = server.get_authorization_grant(request)
    try:
        redirect_uri = grant.validate_authorization_request()
    except OAuth2Error as error:
        raise AuthorizationRequestError(error.error, error.get_error_description()) from error
    if approve:
        consents.authorise(server.session, consent, user, server.now)
        return server.handle_response(*grant.create_authorization_response(redirect_uri, user))
    consents.reject(server.session, consent, user, server.now)
    response: Response = server.create_authorization_response(request, grant_user=None, grant=grant)
    return response
