"""The consents API: banks create, read and end consents with a client-credentials
token; enterprise users list theirs, see each one's calls and revoke (JSON and pages)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from authz.accounts.web_session import COOKIE
from authz.clock import NowDep
from authz.consents import service
from authz.consents.schemas import ConsentChangeOut, ConsentIn, ConsentOut, ConsentPage
from authz.deps import BankClient, CurrentEnterprise, RuntimeDep
from authz.errors import AccessRefused
from authz.ledger import service as ledger
from authz.models import Consent, LedgerEntry, OAuthClient
from authz.oauth.endpoints import FormDep
from authz.web.i18n import language, remember, translator
from finance.core.deps import SessionDep
from finance.core.logging import request_id_var
from finance.govdata.categories import REGISTRY
from finance.institutions.models import Bank

bank_router = APIRouter(prefix="/api/v1/consents", tags=["consents (banks)"])
enterprise_router = APIRouter(tags=["consents (enterprises)"])


def to_out(session: Session, consent: Consent, *, with_changes: bool = True) -> ConsentOut:
    return ConsentOut(
        id=consent.id,
        client_id=consent.client_id,
        uscc=consent.uscc,
        categories=consent.category_list,
        scopes=[f"data:{c}" for c in consent.category_list],
        data_from=consent.data_from,
        data_to=consent.data_to,
        purpose=consent.purpose,
        application_id=consent.application_id,
        expires_at=consent.expires_at,
        max_calls_per_day=consent.max_calls_per_day,
        origin=consent.origin,
        status=consent.status,
        created_at=consent.created_at,
        status_changed_at=consent.status_changed_at,
        status_changed_by=consent.status_changed_by,
        changes=[ConsentChangeOut.model_validate(c) for c in service.changes(session, consent.id)]
        if with_changes
        else [],
    )


@bank_router.post("", status_code=201, response_model=ConsentOut)
def create_consent(
    body: ConsentIn, session: SessionDep, client: BankClient, now: NowDep
) -> ConsentOut:
    consent = service.create(
        session,
        client=client,
        uscc=body.uscc,
        categories=body.categories,
        data_from=body.data_from,
        data_to=body.data_to,
        purpose=body.purpose,
        application_id=body.application_id,
        expires_at=body.expires_at,
        max_calls_per_day=body.max_calls_per_day,
        now=now,
        request_id=request_id_var.get(),
    )
    return to_out(session, consent)


@bank_router.get("/{consent_id}", response_model=ConsentOut)
def get_consent(
    consent_id: str, session: SessionDep, client: BankClient, now: NowDep
) -> ConsentOut:
    consent = service.get_scoped(session, service.for_client(client.client_id), consent_id)
    return to_out(session, service.observe(session, consent, now))


@bank_router.delete("/{consent_id}", status_code=204)
def end_consent(consent_id: str, session: SessionDep, client: BankClient, now: NowDep) -> Response:
    consent = service.get_scoped(session, service.for_client(client.client_id), consent_id)
    service.revoke(session, consent, f"client:{client.client_id}", now, request_id_var.get())
    return Response(status_code=204)


@enterprise_router.get("/api/v1/my/consents", response_model=ConsentPage)
def my_consents(session: SessionDep, user: CurrentEnterprise, now: NowDep) -> ConsentPage:
    assert user.uscc is not None
    rows = list(session.scalars(service.for_enterprise(user.uscc)))
    return ConsentPage(
        items=[to_out(session, service.observe(session, c, now), with_changes=False) for c in rows]
    )


@enterprise_router.get("/api/v1/my/consents/{consent_id}", response_model=ConsentOut)
def my_consent(
    consent_id: str, session: SessionDep, user: CurrentEnterprise, now: NowDep
) -> ConsentOut:
    assert user.uscc is not None
    consent = service.get_scoped(session, service.for_enterprise(user.uscc), consent_id)
    return to_out(session, service.observe(session, consent, now))


@enterprise_router.get("/api/v1/my/consents/{consent_id}/calls")
def my_consent_calls(
    consent_id: str, session: SessionDep, user: CurrentEnterprise
) -> list[dict[str, Any]]:
    assert user.uscc is not None
    consent = service.get_scoped(session, service.for_enterprise(user.uscc), consent_id)
    query = ledger.search(
        select(LedgerEntry).order_by(LedgerEntry.seq.desc()).limit(500),
        uscc=user.uscc,
        consent_id=consent.id,
        action="data_call",
    )
    return [
        {
            "at": e.at,
            "client_id": e.client_id,
            "categories": e.categories.split(),
            "date_from": e.date_from,
            "date_to": e.date_to,
            "outcome": e.outcome,
            "reason": e.reason,
            "rows_returned": e.rows_returned,
        }
        for e in session.scalars(query)
    ]


@enterprise_router.post("/api/v1/my/consents/{consent_id}/revoke", response_model=ConsentOut)
def my_consent_revoke(
    consent_id: str, session: SessionDep, user: CurrentEnterprise, now: NowDep
) -> ConsentOut:
    assert user.uscc is not None
    consent = service.get_scoped(session, service.for_enterprise(user.uscc), consent_id)
    service.revoke(session, consent, f"user:{user.id}", now, request_id_var.get())
    return to_out(session, consent)


def _bank_names(session: Session, client_ids: set[str], lang: str) -> dict[str, str]:
    rows = session.execute(
        select(OAuthClient.client_id, Bank.name, Bank.name_en)
        .join(Bank, Bank.id == OAuthClient.bank_id)
        .where(OAuthClient.client_id.in_(client_ids))
    ).all()
    return {cid: (zh if lang == "zh" else en) for cid, zh, en in rows}


@enterprise_router.get("/my/consents", response_class=HTMLResponse)
def my_consents_page(
    request: Request, session: SessionDep, runtime: RuntimeDep, user: CurrentEnterprise
) -> Response:
    assert user.uscc is not None
    lang = language(request)
    consents = list(session.scalars(service.for_enterprise(user.uscc)))
    names = _bank_names(session, {c.client_id for c in consents}, lang)
    rows = [
        {
            "consent": c,
            "bank_name": names.get(c.client_id, c.client_id),
            "categories": [
                REGISTRY[n].zh if lang == "zh" else REGISTRY[n].en for n in c.category_list
            ],
            "expires": c.expires_at.astimezone(service.SHANGHAI).strftime("%Y-%m-%d"),
            "calls": ledger.allowed_calls_since(session, c.id, c.created_at),
        }
        for c in consents
    ]
    web = runtime.codec.read(request.cookies.get(COOKIE))
    assert web is not None
    response = runtime.templates.TemplateResponse(
        request,
        "my_consents.html",
        {
            "lang": lang,
            "t": translator(lang),
            "rows": rows,
            "csrf_token": runtime.codec.csrf_token(web),
        },
    )
    remember(request, response)
    return response


@enterprise_router.post("/my/consents/{consent_id}/revoke")
def my_consent_revoke_form(
    consent_id: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    user: CurrentEnterprise,
    now: NowDep,
    form: FormDep,
) -> Response:
    web = runtime.codec.read(request.cookies.get(COOKIE))
    if web is None or not runtime.codec.check_csrf(web, dict(form).get("csrf_token")):
        raise AccessRefused(403, "csrf_failed", "the form is not from this session")
    assert user.uscc is not None
    consent = service.get_scoped(session, service.for_enterprise(user.uscc), consent_id)
    service.revoke(session, consent, f"user:{user.id}", now, request_id_var.get())
    return RedirectResponse("/my/consents", status_code=303)
