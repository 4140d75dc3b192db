"""Portal login and logout, enterprise authentication (认证), and bank client
registration and approval."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from authz.accounts import service
from authz.accounts.web_session import COOKIE, LOGIN_COOKIE, SessionCodec
from authz.clock import NowDep
from authz.deps import BankAdmin, BankStaff, CurrentEnterprise, CurrentUser, OpsAdmin, RuntimeDep
from authz.errors import AccessRefused
from authz.models import ClientStatus, OAuthClient
from authz.oauth import clients
from authz.oauth.endpoints import FormDep
from authz.web.i18n import language, remember, translator
from finance.core.deps import SessionDep
from finance.core.problems import problem
from finance.core.text import PlainText

router = APIRouter(tags=["accounts"])


def _safe_next(target: str | None) -> str:
    """Only same-site relative targets (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/my/consents"
    parts = urlsplit(target)
    return parts.path + ("?" + parts.query if parts.query else "")


def _login_page(
    request: Request, runtime: RuntimeDep, next_target: str | None, status_code: int = 200
) -> Response:
    """The login form, with a fresh anonymous session whose CSRF token it carries."""
    lang = language(request)
    anonymous = runtime.codec.new_anonymous()
    response = runtime.templates.TemplateResponse(
        request,
        "login.html",
        {
            "lang": lang,
            "t": translator(lang),
            "next": _safe_next(next_target),
            "failed": status_code != 200,
            "csrf_token": runtime.codec.csrf_token(anonymous),
        },
        status_code=status_code,
    )
    runtime.codec.issue_anonymous(response, anonymous)
    remember(request, response)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, runtime: RuntimeDep) -> Response:
    return _login_page(request, runtime, request.query_params.get("next"))


@router.post("/login")
def login(
    request: Request, session: SessionDep, runtime: RuntimeDep, now: NowDep, form: FormDep
) -> Response:
    fields = dict(form)
    anonymous = runtime.codec.read(request.cookies.get(LOGIN_COOKIE))
    if anonymous is None or not runtime.codec.check_csrf(anonymous, fields.get("csrf_token")):
        raise AccessRefused(403, "csrf_failed", "the login form is not from this browser")
    user = service.login(session, fields.get("username", ""), fields.get("password", ""), now)
    if user is None:
        return _login_page(request, runtime, fields.get("next"), status_code=401)
    response = RedirectResponse(_safe_next(fields.get("next")), status_code=303)
    web = runtime.codec.issue(response, user.id, user.session_epoch)
    response.headers["X-CSRF-Token"] = runtime.codec.csrf_token(web)
    return response


@router.post("/logout")
def logout(user: CurrentUser) -> Response:
    """Ends every portal session of this user, not only this browser's."""
    user.session_epoch += 1
    response = RedirectResponse("/login", status_code=303)
    SessionCodec.clear(response)
    return response


@router.get("/api/v1/me")
def me(request: Request, user: CurrentUser, runtime: RuntimeDep) -> dict[str, Any]:
    web = runtime.codec.read(request.cookies.get(COOKIE))
    assert web is not None
    return {
        "id": user.id,
        "username": user.username,
        "kind": user.kind,
        "roles": sorted(user.role_set),
        "uscc": user.uscc,
        "bank_id": user.bank_id,
        "city_code": user.city_code,
        "authenticated_at": user.authenticated_at,
        "csrf_token": runtime.codec.csrf_token(web),
    }


class EnterpriseAuthIn(BaseModel):
    legal_rep_name: PlainText = Field(min_length=1, max_length=64)
    id_number: str = Field(min_length=15, max_length=18)


@router.post("/api/v1/my/authenticate", response_model=None)
def authenticate(
    body: EnterpriseAuthIn, session: SessionDep, user: CurrentEnterprise, now: NowDep
) -> Response | dict[str, Any]:
    enterprise = service.authenticate_enterprise(
        session, user, body.legal_rep_name, body.id_number, now
    )
    if enterprise is None:
        # Not raised: the failed attempt must be committed to count toward the limit.
        return problem(
            422,
            "the legal representative's name or ID number does not match the registry",
            type_slug="authentication-failed",
            error="authentication_failed",
        )
    return {"uscc": enterprise.uscc, "authenticated_at": user.authenticated_at}


@router.get("/my/authenticate", response_class=HTMLResponse)
def authenticate_page(request: Request, runtime: RuntimeDep, user: CurrentEnterprise) -> Response:
    web = runtime.codec.read(request.cookies.get(COOKIE))
    assert web is not None
    lang = language(request)
    return runtime.templates.TemplateResponse(
        request,
        "authenticate.html",
        {
            "lang": lang,
            "t": translator(lang),
            "csrf_token": runtime.codec.csrf_token(web),
            "done": user.authenticated_at is not None,
            "failed": False,
        },
    )


@router.post("/my/authenticate", response_class=HTMLResponse)
def authenticate_form(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    user: CurrentEnterprise,
    now: NowDep,
    form: FormDep,
) -> Response:
    fields = dict(form)
    web = runtime.codec.read(request.cookies.get(COOKIE))
    if web is None or not runtime.codec.check_csrf(web, fields.get("csrf_token")):
        raise AccessRefused(403, "csrf_failed", "the form is not from this session")
    enterprise = service.authenticate_enterprise(
        session, user, fields.get("legal_rep_name", ""), fields.get("id_number", ""), now
    )
    lang = language(request)
    return runtime.templates.TemplateResponse(
        request,
        "authenticate.html",
        {
            "lang": lang,
            "t": translator(lang),
            "csrf_token": runtime.codec.csrf_token(web),
            "done": enterprise is not None,
            "failed": enterprise is None,
        },
        status_code=200 if enterprise is not None else 422,
    )


class ClientIn(BaseModel):
    name: PlainText = Field(min_length=1, max_length=200)
    redirect_uris: list[str] = Field(min_length=1)
    jwks: dict[str, Any] | None = None
    token_endpoint_auth_method: str = "private_key_jwt"
    sandbox: bool = False
    webhook_url: str | None = None


class ClientOut(BaseModel):
    client_id: str
    bank_id: int
    name: str
    redirect_uris: list[str]
    token_endpoint_auth_method: str
    sandbox: bool
    webhook_url: str | None
    status: str
    registered_at: dt.datetime
    approved_at: dt.datetime | None
    client_secret: str | None = None


def _client_out(client: OAuthClient, secret: str | None = None) -> ClientOut:
    return ClientOut(
        client_id=client.client_id,
        bank_id=client.bank_id,
        name=client.name,
        redirect_uris=client.redirect_uris,
        token_endpoint_auth_method=client.token_endpoint_auth_method,
        sandbox=client.sandbox,
        webhook_url=client.webhook_url,
        status=client.status,
        registered_at=client.registered_at,
        approved_at=client.approved_at,
        client_secret=secret,
    )


@router.post("/api/v1/clients", status_code=201, response_model=ClientOut)
def register_client(body: ClientIn, session: SessionDep, user: BankAdmin, now: NowDep) -> ClientOut:
    client, secret = clients.register(
        session,
        user=user,
        name=body.name,
        redirect_uris=body.redirect_uris,
        jwks=body.jwks,
        token_endpoint_auth_method=body.token_endpoint_auth_method,
        sandbox=body.sandbox,
        webhook_url=body.webhook_url,
        now=now,
    )
    return _client_out(client, secret)


@router.get("/api/v1/clients", response_model=list[ClientOut])
def list_clients(session: SessionDep, user: CurrentUser) -> list[ClientOut]:
    return [_client_out(c) for c in session.scalars(clients.visible_to(user))]


@router.get("/api/v1/clients/{client_id}", response_model=ClientOut)
def get_client(client_id: str, session: SessionDep, user: BankStaff) -> ClientOut:
    return _client_out(clients.get_visible(session, user, client_id))


@router.post("/api/v1/clients/{client_id}/approve", response_model=ClientOut)
def approve_client(client_id: str, session: SessionDep, user: OpsAdmin, now: NowDep) -> ClientOut:
    client = clients.get_visible(session, user, client_id)
    return _client_out(clients.set_status(session, client, ClientStatus.ACTIVE, user, now))


@router.post("/api/v1/clients/{client_id}/suspend", response_model=ClientOut)
def suspend_client(client_id: str, session: SessionDep, user: OpsAdmin, now: NowDep) -> ClientOut:
    client = clients.get_visible(session, user, client_id)
    return _client_out(clients.set_status(session, client, ClientStatus.SUSPENDED, user, now))
