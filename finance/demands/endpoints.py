"""The demand market's API: enterprises post, follow and withdraw their demands, pushed banks
(staff session or OAuth client) claim them and record contact and outcome, ops watch the
overdue ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from authz.clock import NowDep
from authz.deps import CurrentBank, CurrentEnterprise, OpsUser
from finance.core.deps import SessionDep
from finance.demands import service
from finance.demands.models import DemandStatus, FinancingDemand
from finance.demands.schemas import (
    MAX_ID,
    BankDemandOut,
    BankDemandPage,
    ContactIn,
    DemandIn,
    DemandOut,
    DemandPage,
    EnterpriseSummary,
    EventOut,
    LoanOutcomeIn,
    OutcomeIn,
    PushOut,
    WithdrawIn,
)
from finance.enterprises.models import Enterprise
from finance.institutions.models import Bank

router = APIRouter(tags=["financing demands"])
DemandId = Annotated[int, Path(ge=1, le=MAX_ID)]
Before = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=200)]


def market_rules(request: Request) -> service.MarketRules:
    return service.MarketRules.from_settings(request.app.state.settings)


RulesDep = Annotated[service.MarketRules, Depends(market_rules)]


def _outs(session: Session, demands: Sequence[FinancingDemand]) -> list[DemandOut]:
    ids = [d.id for d in demands]
    pushes = service.pushes_of(session, ids)
    events = service.events_of(session, ids)
    bank_ids = {p.bank_id for rows in pushes.values() for p in rows}
    banks = {b.id: b for b in session.scalars(select(Bank).where(Bank.id.in_(bank_ids)))}
    return [
        DemandOut(
            id=d.id,
            uscc=d.uscc,
            amount_fen=d.amount_fen,
            term_months=d.term_months,
            purpose=d.purpose,
            guarantee=d.guarantee,
            urgency=d.urgency,
            contact_channel=d.contact_channel,
            contact_name=d.contact_name,
            contact_phone=d.contact_phone,
            contact_note=d.contact_note,
            status=DemandStatus(d.status),
            posted_at=d.posted_at,
            push_round=d.push_round,
            due_at=d.due_at,
            overdue_count=d.overdue_count,
            first_overdue_at=d.first_overdue_at,
            last_overdue_at=d.last_overdue_at,
            claimed_bank_id=d.claimed_bank_id,
            claimed_at=d.claimed_at,
            contacted_at=d.contacted_at,
            outcome_at=d.outcome_at,
            decline_reason=d.decline_reason,
            application_id=d.application_id,
            synthetic=d.synthetic,
            pushes=[
                PushOut(
                    bank_id=p.bank_id,
                    bank_name=banks[p.bank_id].name,
                    bank_name_en=banks[p.bank_id].name_en,
                    product_id=p.product_id,
                    round=p.round,
                    rank=p.rank,
                    fit=p.fit,
                    pushed_at=p.pushed_at,
                )
                for p in pushes[d.id]
            ],
            events=[
                EventOut(kind=e.kind, at=e.at, actor=e.actor, bank_id=e.bank_id, detail=e.detail)
                for e in events[d.id]
            ],
        )
        for d in demands
    ]


def _bank_outs(
    session: Session, demands: Sequence[FinancingDemand], bank_id: int
) -> list[BankDemandOut]:
    ids = [d.id for d in demands]
    own = {
        d_id: next(p for p in rows if p.bank_id == bank_id)
        for d_id, rows in service.pushes_of(session, ids).items()
    }
    usccs = {d.uscc for d in demands}
    enterprises = {
        e.uscc: e for e in session.scalars(select(Enterprise).where(Enterprise.uscc.in_(usccs)))
    }
    out = []
    for d in demands:
        mine = d.claimed_bank_id == bank_id
        withdrawn = d.status == DemandStatus.WITHDRAWN.value
        taken = d.claimed_bank_id is not None and not mine and not withdrawn
        enterprise = enterprises[d.uscc]
        push = own[d.id]
        out.append(
            BankDemandOut(
                id=d.id,
                enterprise=EnterpriseSummary(
                    uscc=enterprise.uscc,
                    name=enterprise.name,
                    city_code=enterprise.city_code,
                    industry_section=enterprise.industry_section,
                    size_class=enterprise.size_class,
                ),
                amount_fen=d.amount_fen,
                term_months=d.term_months,
                purpose=d.purpose,
                guarantee=d.guarantee,
                urgency=d.urgency,
                contact_channel=d.contact_channel,
                contact_name=d.contact_name if mine else None,
                contact_phone=d.contact_phone if mine else None,
                contact_note=d.contact_note if mine else None,
                status="taken" if taken else d.status,
                claimed_by_you=mine,
                posted_at=d.posted_at,
                pushed_at=push.pushed_at,
                round=push.round,
                rank=push.rank,
                product_id=push.product_id,
                due_at=d.due_at,
                claimed_at=d.claimed_at,
                contacted_at=d.contacted_at if mine else None,
                outcome_at=d.outcome_at if mine else None,
                decline_reason=d.decline_reason if mine else None,
                application_id=d.application_id if mine else None,
            )
        )
    return out


def _acting(bank: CurrentBank) -> service.ActingBank:
    return service.ActingBank(bank_id=bank.bank_id, ref=bank.ref)


# ---------------------------------------------------------------------------- enterprises


@router.post("/api/v1/my/demands", status_code=201, response_model=DemandOut)
def post_demand(
    body: DemandIn, session: SessionDep, user: CurrentEnterprise, now: NowDep, rules: RulesDep
) -> DemandOut:
    """Post a financing demand; it is pushed at once to the best-fitting banks."""
    demand = service.post(session, user, body, now, rules)
    return _outs(session, [demand])[0]


@router.get("/api/v1/my/demands", response_model=DemandPage)
def my_demands(
    session: SessionDep,
    user: CurrentEnterprise,
    before: Before = None,
    limit: Limit = 50,
) -> DemandPage:
    rows, next_before = service.page(
        session, service.for_enterprise(user.uscc or ""), before=before, limit=limit
    )
    return DemandPage(items=_outs(session, rows), next_before=next_before)


@router.get("/api/v1/my/demands/{demand_id}", response_model=DemandOut)
def my_demand(demand_id: DemandId, session: SessionDep, user: CurrentEnterprise) -> DemandOut:
    """One of the enterprise's demands with every step so far (another's is a 404)."""
    demand = service.get_scoped(session, service.for_enterprise(user.uscc or ""), demand_id)
    return _outs(session, [demand])[0]


@router.post("/api/v1/my/demands/{demand_id}/withdraw", response_model=DemandOut)
def withdraw_demand(
    demand_id: DemandId,
    session: SessionDep,
    user: CurrentEnterprise,
    now: NowDep,
    body: Annotated[WithdrawIn | None, Body()] = None,
) -> DemandOut:
    """Take the demand back before an outcome (open, claimed or contacted; otherwise 409
    naming what is allowed); the pushed banks are told (``demand.withdrawn``). A bank's
    claim landing at the same moment does not stop it."""
    reason = body.reason if body is not None else None
    demand = service.withdraw(session, user, demand_id, now, reason)
    return _outs(session, [demand])[0]


# ---------------------------------------------------------------------------- banks


@router.get("/api/v1/bank/demands", response_model=BankDemandPage)
def bank_demands(
    session: SessionDep,
    bank: CurrentBank,
    view: Literal["open", "mine", "all"] = "all",
    before: Before = None,
    limit: Limit = 50,
) -> BankDemandPage:
    """The bank's queue: demands pushed to it, newest first."""
    rows, next_before = service.page(
        session, service.bank_queue(bank.bank_id, view), before=before, limit=limit
    )
    return BankDemandPage(items=_bank_outs(session, rows, bank.bank_id), next_before=next_before)


@router.get("/api/v1/bank/demands/{demand_id}", response_model=BankDemandOut)
def bank_demand(demand_id: DemandId, session: SessionDep, bank: CurrentBank) -> BankDemandOut:
    demand = service.get_scoped(session, service.for_bank(bank.bank_id), demand_id)
    return _bank_outs(session, [demand], bank.bank_id)[0]


@router.post("/api/v1/bank/demands/{demand_id}/claim", response_model=BankDemandOut)
def claim_demand(
    demand_id: DemandId, session: SessionDep, bank: CurrentBank, now: NowDep
) -> BankDemandOut:
    """Claim a demand pushed to the bank: the first claim wins; later ones get 409
    (``demand_taken``)."""
    demand = service.claim(session, demand_id, _acting(bank), now)
    return _bank_outs(session, [demand], bank.bank_id)[0]


@router.post("/api/v1/bank/demands/{demand_id}/contact", response_model=BankDemandOut)
def contact_demand(
    demand_id: DemandId, body: ContactIn, session: SessionDep, bank: CurrentBank, now: NowDep
) -> BankDemandOut:
    """The claiming bank has reached the enterprise."""
    demand = service.record_contact(session, demand_id, _acting(bank), now, body.note)
    return _bank_outs(session, [demand], bank.bank_id)[0]


@router.post("/api/v1/bank/demands/{demand_id}/outcome", response_model=BankDemandOut)
def demand_outcome(
    demand_id: DemandId, body: OutcomeIn, session: SessionDep, bank: CurrentBank, now: NowDep
) -> BankDemandOut:
    """The outcome: a loan (with the application it led to) or a decline with a reason."""
    acting = _acting(bank)
    if isinstance(body, LoanOutcomeIn):
        demand = service.record_loan(
            session, demand_id, acting, now, body.application_id, body.note
        )
    else:
        demand = service.record_decline(session, demand_id, acting, now, body.reason, body.note)
    return _bank_outs(session, [demand], bank.bank_id)[0]


# ---------------------------------------------------------------------------- ops


@router.get("/api/v1/ops/demands", response_model=DemandPage)
def ops_demands(
    session: SessionDep,
    user: OpsUser,
    status: DemandStatus | None = None,
    overdue: bool | None = None,
    before: Before = None,
    limit: Limit = 50,
) -> DemandPage:
    """Every demand (a city branch: its city's); ``overdue=true`` lists those flagged for
    going unclaimed past their working days."""
    rows, next_before = service.page(
        session,
        service.for_ops(user.city_code),
        before=before,
        limit=limit,
        status=status,
        overdue=overdue,
    )
    return DemandPage(items=_outs(session, rows), next_before=next_before)


@router.get("/api/v1/ops/demands/{demand_id}", response_model=DemandOut)
def ops_demand(demand_id: DemandId, session: SessionDep, user: OpsUser) -> DemandOut:
    demand = service.get_scoped(session, service.for_ops(user.city_code), demand_id)
    return _outs(session, [demand])[0]
