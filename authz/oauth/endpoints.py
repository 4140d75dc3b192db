"""HTTP endpoints of the authorization server. Thin: each builds the Authlib request
from the already-read Starlette request and calls the server or the PAR module."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from authlib.oauth2.rfc6749.errors import InsecureTransportError
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from authz.accounts.web_session import COOKIE
from authz.clock import NowDep
from authz.deps import RuntimeDep
from authz.errors import AccessRefused
from authz.models import OAuthClient, User
from authz.oauth import par
from authz.oauth.dpop import DPoPError, verify_proof
from authz.oauth.metadata import server_metadata
from authz.oauth.server import (
    InvalidDPoPProofError,
    PlatformAuthorizationServer,
    StarletteOAuth2Request,
)
from authz.runtime import AuthzRuntime
from authz.web.i18n import language, translator
from finance.core.deps import SessionDep
from finance.govdata.categories import REGISTRY
from finance.institutions.models import Bank

router = APIRouter(tags=["oauth"])


async def form_pairs(request: Request) -> list[tuple[str, str]]:
    form = await request.form()
    return [(key, value) for key, value in form.multi_items() if isinstance(value, str)]


FormDep = Annotated[list[tuple[str, str]], Depends(form_pairs)]


def _oauth_request(
    request: Request, runtime: AuthzRuntime, form: FormDep
) -> StarletteOAuth2Request:
    try:
        return StarletteOAuth2Request(
            request.method,
            runtime.url(request),
            request.headers,
            request.query_params.multi_items(),
            form,
        )
    except InsecureTransportError as exc:
        raise AccessRefused(400, "invalid_request", "OAuth requests must use https") from exc


def _server(
    session: Any, runtime: AuthzRuntime, now: Any, jkt: str | None = None
) -> PlatformAuthorizationServer:
    # Load (or on first use create) the key set before this request writes anything: a
    # first key is created in its own transaction.
    runtime.keyring.snapshot()
    return PlatformAuthorizationServer(
        session, issuer=runtime.issuer, keyring=runtime.keyring, now=now, dpop_jkt=jkt
    )


@router.get("/.well-known/oauth-authorization-server")
def metadata(runtime: RuntimeDep) -> dict[str, Any]:
    return server_metadata(runtime.issuer)


@router.get("/oauth2/jwks")
def jwks(runtime: RuntimeDep) -> JSONResponse:
    return JSONResponse(
        runtime.keyring.snapshot().public_jwks,
        headers={"Cache-Control": "public, max-age=60"},
        media_type="application/jwk-set+json",
    )


@router.post("/oauth2/par", status_code=201)
def pushed_authorization_request(
    request: Request, session: SessionDep, runtime: RuntimeDep, now: NowDep, form: FormDep
) -> Response:
    return par.push(_server(session, runtime, now), _oauth_request(request, runtime, form))


@router.post("/oauth2/token")
def token(
    request: Request, session: SessionDep, runtime: RuntimeDep, now: NowDep, form: FormDep
) -> Response:
    jkt: str | None = None
    proof = request.headers.get("dpop")
    server = _server(session, runtime, now)
    oauth_request = _oauth_request(request, runtime, form)
    if proof is not None:
        try:
            jkt = verify_proof(session, proof, method="POST", uri=runtime.url(request), now=now).jkt
        except DPoPError as exc:
            return server.handle_error_response(oauth_request, InvalidDPoPProofError(str(exc)))
    server.context.jkt = jkt
    response: Response = server.create_token_response(oauth_request)
    return response


@router.post("/oauth2/revoke")
def revoke(
    request: Request, session: SessionDep, runtime: RuntimeDep, now: NowDep, form: FormDep
) -> Response:
    server = _server(session, runtime, now)
    response: Response = server.create_endpoint_response(
        "revocation", _oauth_request(request, runtime, form)
    )
    return response


@router.post("/oauth2/introspect")
def introspect(
    request: Request, session: SessionDep, runtime: RuntimeDep, now: NowDep, form: FormDep
) -> Response:
    server = _server(session, runtime, now)
    response: Response = server.create_endpoint_response(
        "introspection", _oauth_request(request, runtime, form)
    )
    return response


def _logged_in(request: Request, session: SessionDep, runtime: AuthzRuntime) -> User | None:
    web = runtime.codec.read(request.cookies.get(COOKIE))
    user = session.get(User, web.user_id) if web else None
    if web is None or user is None or not user.active or web.epoch != user.session_epoch:
        return None
    return user


def _error_page(request: Request, runtime: AuthzRuntime, error: str, description: str) -> Response:
    lang = language(request)
    return runtime.templates.TemplateResponse(
        request,
        "error.html",
        {"lang": lang, "t": translator(lang), "error": error, "description": description},
        status_code=400,
    )


@router.get("/oauth2/authorize", response_class=HTMLResponse)
def authorize(request: Request, session: SessionDep, runtime: RuntimeDep, now: NowDep) -> Response:
    """The consent screen for a pushed request (RFC 9126 §4)."""
    user = _logged_in(request, session, runtime)
    if user is None:
        target = request.url.path + "?" + request.url.query
        return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
    server = _server(session, runtime, now)
    try:
        pushed, consent, ticket = par.open_request(
            server,
            request.query_params.get("client_id"),
            request.query_params.get("request_uri"),
            user,
        )
    except par.AuthorizationRequestError as exc:
        return _error_page(request, runtime, exc.error, exc.description)
    client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == pushed.client_id))
    assert client is not None
    bank = session.get(Bank, client.bank_id)
    lang = language(request)
    web = runtime.codec.read(request.cookies.get(COOKIE))
    assert web is not None
    labels = [
        (REGISTRY[name].zh if lang == "zh" else REGISTRY[name].en) for name in consent.category_list
    ]
    return runtime.templates.TemplateResponse(
        request,
        "consent.html",
        {
            "lang": lang,
            "t": translator(lang),
            "consent": consent,
            "bank_name": (bank.name if lang == "zh" else bank.name_en) if bank else client.name,
            "categories": labels,
            "expires": consent.expires_at.astimezone(par.SHANGHAI).strftime("%Y-%m-%d %H:%M"),
            "ticket": ticket,
            "csrf_token": runtime.codec.csrf_token(web),
        },
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )


@router.post("/oauth2/authorize")
def authorize_decision(
    request: Request, session: SessionDep, runtime: RuntimeDep, now: NowDep, form: FormDep
) -> Response:
    fields = dict(form)
    web = runtime.codec.read(request.cookies.get(COOKIE))
    user = _logged_in(request, session, runtime)
    if web is None or user is None:
        return _error_page(request, runtime, "login_required", "log in again")
    if not runtime.codec.check_csrf(web, fields.get("csrf_token")):
        return _error_page(request, runtime, "csrf_failed", "the form is not from this session")
    server = _server(session, runtime, now)
    try:
        return par.decide(
            server, fields.get("ticket", ""), user, approve=fields.get("decision") == "approve"
        )
    except par.AuthorizationRequestError as exc:
        return _error_page(request, runtime, exc.error, exc.description)
