"""The lending API: enterprises apply, withdraw, accept and follow their applications
and loans; a bank (its staff's session or its OAuth client with the ``consents`` scope)
works its queue, decides referred applications, disburses and records repayments
(``authz.deps.CurrentBank``). Another bank's or enterprise's application or loan is a
404."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from sqlalchemy.orm import Session

from authz.clock import NowDep
from authz.deps import BankActor, CurrentBank, CurrentEnterprise
from finance.core.deps import SessionDep
from finance.core.errors import Invalid, NotFound
from finance.lending import accounting, book, service
from finance.lending.models import Instalment, Loan, LoanApplication
from finance.lending.schemas import (
    ApplicationOut,
    ApplicationPage,
    BankServiceLevels,
    DecisionOut,
    DisbursementIn,
    DraftIn,
    LoanOut,
    OfficerDecisionIn,
    RepaymentIn,
    RepaymentOut,
    ServiceLevels,
    SubmitIn,
    TransitionOut,
    WithdrawIn,
)
from finance.lending.states import Actor, ActorKind, allowed_events

enterprise_router = APIRouter(prefix="/api/v1", tags=["310 applications (enterprises)"])
bank_router = APIRouter(prefix="/api/v1/bank", tags=["310 applications (banks)"])


def _actor(bank: BankActor) -> Actor:
    return Actor(ActorKind.BANK, bank.ref)


def _out(
    session: Session,
    application: LoanApplication,
    kind: ActorKind,
    now: dt.datetime,
    *,
    detail: bool = True,
) -> ApplicationOut:
    decision = None
    if detail:
        application, decision = service.with_decision(session, application)
    return ApplicationOut(
        id=application.id,
        uscc=application.uscc,
        bank_id=application.bank_id,
        product_id=application.product_id,
        product_version_id=application.product_version_id,
        amount_fen=application.amount_fen,
        term_months=application.term_months,
        repayment_method=application.repayment_method,
        purpose=application.purpose,
        status=application.status,
        allowed=allowed_events(application.status, kind),
        consent_id=application.consent_id,
        consent=service.consent_terms(session, application, now)
        if application.status == "draft" and kind is ActorKind.ENTERPRISE
        else None,
        opened_at=application.applied_at,
        submitted_at=application.submitted_at,
        data_collected_at=application.data_collected_at,
        decided_at=application.decided_at,
        accepted_at=application.accepted_at,
        disbursed_at=application.disbursed_at,
        offer_expires_at=application.offer_expires_at,
        service_levels=ServiceLevels(**service.service_levels(application)),
        decision=DecisionOut.model_validate(decision) if decision is not None else None,
        timeline=[
            TransitionOut.model_validate(t) for t in service.timeline(session, application.id)
        ]
        if detail
        else [],
    )


def _loan_out(
    loan: Loan, instalments: list[Instalment], day: dt.date, *, detail: bool = True
) -> LoanOut:
    return LoanOut(
        id=loan.id,
        application_id=loan.application_id,
        uscc=loan.uscc,
        bank_id=loan.bank_id,
        contract_no=loan.contract_no,
        amount_fen=loan.amount_fen,
        term_months=loan.term_months,
        rate_pct=loan.rate_pct,
        apr_pct=loan.apr_pct,
        method=loan.method,
        fees_fen=loan.fees_fen,
        disbursed_on=loan.disbursed_on,
        maturity_on=loan.maturity_on,
        status=loan.status,
        days_past_due=loan.days_past_due,
        bucket=book.bucket(loan.days_past_due),
        max_days_past_due=loan.max_days_past_due,
        defaulted_on=loan.defaulted_on,
        settled_on=loan.settled_on,
        owed=accounting.owed(loan, instalments, day) if loan.status != "settled" else {},
        schedule=book.schedule_view(instalments, day) if detail else [],
    )


# ------------------------------------------------------------------ enterprises


@enterprise_router.post("/applications", status_code=201, response_model=ApplicationOut)
def open_application(
    body: DraftIn, session: SessionDep, user: CurrentEnterprise, now: NowDep
) -> ApplicationOut:
    """Open the form: a draft against a product's online version. Its ``consent`` says,
    in plain words, what submitting grants."""
    application = service.open_draft(session, user, service.DraftForm(**body.model_dump()), now)
    return _out(session, application, ActorKind.ENTERPRISE, now)


@enterprise_router.post("/applications/{application_id}/submit", response_model=ApplicationOut)
def submit_application(
    application_id: int,
    body: SubmitIn,
    response: Response,
    session: SessionDep,
    user: CurrentEnterprise,
    now: NowDep,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> ApplicationOut:
    """Submit with the consent granted; 201 the first time, 200 with the same
    application when the same Idempotency-Key and body come again."""
    if idempotency_key is None:
        raise Invalid("the Idempotency-Key header is required", error="idempotency_key_missing")
    application, created = service.submit(
        session,
        user,
        application_id,
        idempotency_key=idempotency_key,
        body=body.model_dump(),
        consent_granted=body.consent,
        now=now,
    )
    response.status_code = 201 if created else 200
    return _out(session, application, ActorKind.ENTERPRISE, now)


@enterprise_router.post("/applications/{application_id}/withdraw", response_model=ApplicationOut)
def withdraw_application(
    application_id: int, body: WithdrawIn, session: SessionDep, user: CurrentEnterprise, now: NowDep
) -> ApplicationOut:
    application = service.withdraw(session, user, application_id, body.reason, now)
    return _out(session, application, ActorKind.ENTERPRISE, now)


@enterprise_router.post("/applications/{application_id}/accept", response_model=ApplicationOut)
def accept_offer(
    application_id: int, session: SessionDep, user: CurrentEnterprise, now: NowDep
) -> ApplicationOut:
    application = service.accept(session, user, application_id, now)
    return _out(session, application, ActorKind.ENTERPRISE, now)


@enterprise_router.get("/applications", response_model=list[ApplicationOut])
def my_applications(
    session: SessionDep, user: CurrentEnterprise, now: NowDep
) -> list[ApplicationOut]:
    assert user.uscc is not None
    query = service.for_enterprise(user.uscc).order_by(LoanApplication.id.desc()).limit(200)
    return [_out(session, a, ActorKind.ENTERPRISE, now) for a in session.scalars(query)]


@enterprise_router.get("/applications/{application_id}", response_model=ApplicationOut)
def my_application(
    application_id: int, session: SessionDep, user: CurrentEnterprise, now: NowDep
) -> ApplicationOut:
    """The application with its timeline, decision and reasons."""
    assert user.uscc is not None
    application = service.get_for_enterprise(session, user.uscc, application_id)
    return _out(session, application, ActorKind.ENTERPRISE, now)


@enterprise_router.get("/loans", response_model=list[LoanOut])
def my_loans(session: SessionDep, user: CurrentEnterprise, now: NowDep) -> list[LoanOut]:
    assert user.uscc is not None
    day = book.local_today(now)
    query = book.loans_for_enterprise(user.uscc).order_by(Loan.id.desc()).limit(200)
    return [
        _loan_out(loan, instalments, day, detail=False)
        for loan, instalments in book.with_instalments(session, query, newest_first=True)
    ]


@enterprise_router.get("/loans/{loan_id}", response_model=LoanOut)
def my_loan(loan_id: int, session: SessionDep, user: CurrentEnterprise, now: NowDep) -> LoanOut:
    """The loan with its schedule: what is due, paid and overdue."""
    assert user.uscc is not None
    loan, instalments = book.get_loan_with_instalments(
        session, book.loans_for_enterprise(user.uscc), loan_id
    )
    return _loan_out(loan, instalments, book.local_today(now))


# ------------------------------------------------------------------ banks


@bank_router.get("/applications", response_model=ApplicationPage)
def bank_queue(
    session: SessionDep,
    bank: CurrentBank,
    now: NowDep,
    status: str | None = None,
    product_id: int | None = None,
    decision: Annotated[str | None, Query(pattern="^(approved|referred|declined)$")] = None,
    submitted_from: dt.datetime | None = None,
    submitted_to: dt.datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ApplicationPage:
    """The bank's queue, newest first; ``next_cursor`` fetches the next page."""
    for name, value in (("submitted_from", submitted_from), ("submitted_to", submitted_to)):
        if value is not None and value.tzinfo is None:
            raise Invalid(f"{name} needs a time zone (e.g. Z or +08:00)")
    rows, next_cursor = service.bank_queue(
        session,
        bank.bank_id,
        service.QueueFilter(status, product_id, decision, submitted_from, submitted_to),
        cursor,
        limit,
    )
    return ApplicationPage(
        items=[_out(session, a, ActorKind.BANK, now, detail=False) for a in rows],
        next_cursor=next_cursor,
    )


@bank_router.get("/applications/{application_id}", response_model=ApplicationOut)
def bank_application(
    application_id: int, session: SessionDep, bank: CurrentBank, now: NowDep
) -> ApplicationOut:
    """The application with its decision, reasons and timeline."""
    application = service.get_for_bank(session, bank.bank_id, application_id)
    if application.status == "draft":
        raise NotFound("no such application", application_id=application_id)
    return _out(session, application, ActorKind.BANK, now)


@bank_router.post("/applications/{application_id}/decision", response_model=ApplicationOut)
def decide_referred(
    application_id: int,
    body: OfficerDecisionIn,
    session: SessionDep,
    bank: CurrentBank,
    now: NowDep,
) -> ApplicationOut:
    """Approve or decline a referred application, with a note."""
    application = service.officer_decision(
        session,
        bank.bank_id,
        application_id,
        approve=body.approve,
        note=body.note,
        actor=_actor(bank),
        now=now,
    )
    return _out(session, application, ActorKind.BANK, now)


@bank_router.post(
    "/applications/{application_id}/disburse", status_code=201, response_model=LoanOut
)
def disburse(
    application_id: int, body: DisbursementIn, session: SessionDep, bank: CurrentBank, now: NowDep
) -> LoanOut:
    loan = book.disburse(
        session,
        bank.bank_id,
        application_id,
        book.Disbursement(**body.model_dump()),
        _actor(bank),
        now,
    )
    return _loan_out(loan, book.instalments_of(session, loan.id), book.local_today(now))


@bank_router.get("/loans", response_model=list[LoanOut])
def bank_loans(
    session: SessionDep,
    bank: CurrentBank,
    now: NowDep,
    status: str | None = None,
    after: int | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[LoanOut]:
    """The bank's loan book (made here), by id; ``after`` pages on."""
    query = book.loans_for_bank(bank.bank_id)
    if status is not None:
        query = query.where(Loan.status == status)
    if after is not None:
        query = query.where(Loan.id > after)
    day = book.local_today(now)
    return [
        _loan_out(loan, instalments, day, detail=False)
        for loan, instalments in book.with_instalments(
            session, query.order_by(Loan.id).limit(limit)
        )
    ]


@bank_router.get("/loans/{loan_id}", response_model=LoanOut)
def bank_loan(loan_id: int, session: SessionDep, bank: CurrentBank, now: NowDep) -> LoanOut:
    loan, instalments = book.get_loan_with_instalments(
        session, book.loans_for_bank(bank.bank_id), loan_id
    )
    return _loan_out(loan, instalments, book.local_today(now))


@bank_router.post("/loans/{loan_id}/repayments", status_code=201, response_model=RepaymentOut)
def record_repayment(
    loan_id: int, body: RepaymentIn, session: SessionDep, bank: CurrentBank, now: NowDep
) -> RepaymentOut:
    """Money received: allocated to penalty, then interest, then principal. A repayment
    racing another change of the loan is retried once on the loan as it now is; a 409
    ``concurrent_loan_change`` recorded nothing and may be sent again."""
    repayment = book.record_repayment(
        session,
        book.loans_for_bank(bank.bank_id),
        loan_id,
        amount_fen=body.amount_fen,
        paid_on=body.paid_on,
        recorded_by=str(_actor(bank)),
        now=now,
    )
    return RepaymentOut.model_validate(repayment)


@bank_router.get("/service-levels", response_model=BankServiceLevels)
def bank_levels(
    session: SessionDep,
    bank: CurrentBank,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> BankServiceLevels:
    """The bank's 310 figures over applications submitted in [since, until)."""
    return BankServiceLevels(**service.bank_service_levels(session, bank.bank_id, since, until))
