"""The demand market's rules: posting, push rounds, the claim (first one wins), contact
and outcome, the enterprise's withdrawal, and the overdue sweep.

Every change of a demand's status goes through ``_apply``: one table of legal steps
(``STEPS``), one conditional UPDATE (``WHERE status = <the status it was read in>``) so
that of two steps taken at the same moment exactly one lands, whatever the database; the
other gets a 409 naming what happened. Each step is recorded as a ``DemandEvent``. A
withdrawal overtaken by a bank's step is taken again from the status the demand now has.

Scoping is done here, once per kind of caller (``for_enterprise``, ``for_bank``,
``for_ops``); a demand outside the caller's reach is "not found".
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from authz.models import ClientStatus, OAuthClient, User
from authz.webhooks.service import record_client_event
from finance.core.db import retry_once
from finance.core.errors import Conflict, Invalid, NotFound
from finance.core.settings import Settings
from finance.core.workdays import working_deadline
from finance.demands.fit import fitting_banks
from finance.demands.models import (
    DeclineReason,
    DemandEvent,
    DemandEventKind,
    DemandPush,
    DemandStatus,
    FinancingDemand,
)
from finance.demands.schemas import DemandIn
from finance.enterprises.models import Enterprise
from finance.lending.models import LoanApplication

PLATFORM = "platform"
DEMAND_CHANGED = "concurrent_demand_change"  # the 409 of a step overtaken by another


@dataclass(frozen=True, slots=True)
class MarketRules:
    """How many banks a push round reaches; how many working days a round lasts."""

    banks_per_round: int = 3
    working_days: int = 2

    @classmethod
    def from_settings(cls, settings: Settings) -> MarketRules:
        return cls(settings.demand_push_banks, settings.demand_claim_working_days)


class Side(enum.StrEnum):
    """Who may take a step: the enterprise that posted the demand, or a pushed bank."""

    ENTERPRISE = "enterprise"
    BANK = "bank"


@dataclass(frozen=True, slots=True)
class ActingBank:
    """The bank taking a step, and how records name it ("user:12", "client:abc")."""

    bank_id: int
    ref: str


@dataclass(frozen=True, slots=True)
class ActingEnterprise:
    """The enterprise taking a step, as records name its user ("user:12")."""

    ref: str


Acting = ActingBank | ActingEnterprise
_BEFORE_OUTCOME = (DemandStatus.OPEN, DemandStatus.CLAIMED, DemandStatus.CONTACTED)

# (status, step) -> (status, who may take it)
STEPS: dict[tuple[DemandStatus, str], tuple[DemandStatus, Side]] = {
    (DemandStatus.OPEN, "claim"): (DemandStatus.CLAIMED, Side.BANK),
    (DemandStatus.CLAIMED, "contact"): (DemandStatus.CONTACTED, Side.BANK),
    (DemandStatus.CLAIMED, "decline"): (DemandStatus.DECLINED, Side.BANK),
    (DemandStatus.CONTACTED, "loan"): (DemandStatus.LOAN, Side.BANK),
    (DemandStatus.CONTACTED, "decline"): (DemandStatus.DECLINED, Side.BANK),
    **{
        (status, "withdraw"): (DemandStatus.WITHDRAWN, Side.ENTERPRISE)
        for status in _BEFORE_OUTCOME
    },
}
_EVENT_OF_STEP = {
    "claim": DemandEventKind.CLAIMED,
    "contact": DemandEventKind.CONTACTED,
    "loan": DemandEventKind.LOAN,
    "decline": DemandEventKind.DECLINED,
    "withdraw": DemandEventKind.WITHDRAWN,
}


def _side(actor: Acting) -> Side:
    return Side.BANK if isinstance(actor, ActingBank) else Side.ENTERPRISE


def allowed_steps(status: str, side: Side) -> list[str]:
    """The steps ``side`` may take from ``status``."""
    return sorted(
        step for (source, step), (_, who) in STEPS.items() if source.value == status and who == side
    )


# ---------------------------------------------------------------------------- scoping


def for_enterprise(uscc: str) -> Select[FinancingDemand]:
    return select(FinancingDemand).where(FinancingDemand.uscc == uscc)


def for_bank(bank_id: int) -> Select[FinancingDemand]:
    """Demands pushed to ``bank_id`` (whoever claimed them)."""
    return select(FinancingDemand).where(
        FinancingDemand.id.in_(select(DemandPush.demand_id).where(DemandPush.bank_id == bank_id))
    )


def bank_queue(bank_id: int, view: str) -> Select[FinancingDemand]:
    """A bank's queue: ``open`` (claimable now), ``mine`` (claimed by this bank) or
    ``all`` pushed to it."""
    scope = for_bank(bank_id)
    if view == "open":
        return scope.where(FinancingDemand.status == DemandStatus.OPEN.value)
    if view == "mine":
        return scope.where(FinancingDemand.claimed_bank_id == bank_id)
    return scope


def for_ops(city_code: str | None) -> Select[FinancingDemand]:
    """Every demand; a city branch those of enterprises registered in its city."""
    query = select(FinancingDemand)
    if city_code is not None:
        query = query.where(
            FinancingDemand.uscc.in_(
                select(Enterprise.uscc).where(Enterprise.city_code == city_code)
            )
        )
    return query


def get_scoped(session: Session, scope: Select[FinancingDemand], demand_id: int) -> FinancingDemand:
    demand = session.scalar(scope.where(FinancingDemand.id == demand_id))
    if demand is None:
        raise NotFound("no such financing demand", demand_id=demand_id)
    return demand


def page(
    session: Session,
    scope: Select[FinancingDemand],
    *,
    before: int | None,
    limit: int,
    status: DemandStatus | None = None,
    overdue: bool | None = None,
) -> tuple[list[FinancingDemand], int | None]:
    """Newest first; ``before`` is the last id of the previous page."""
    query = scope
    if before is not None:
        query = query.where(FinancingDemand.id < before)
    if status is not None:
        query = query.where(FinancingDemand.status == status.value)
    if overdue is not None:
        query = query.where(
            FinancingDemand.overdue_count > 0 if overdue else FinancingDemand.overdue_count == 0
        )
    rows = list(session.scalars(query.order_by(FinancingDemand.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].id if more and rows else None


def pushes_of(session: Session, demand_ids: list[int]) -> dict[int, list[DemandPush]]:
    """The pushes of several demands in one query, by demand, in round and rank order."""
    out: dict[int, list[DemandPush]] = {demand_id: [] for demand_id in demand_ids}
    for push in session.scalars(
        select(DemandPush)
        .where(DemandPush.demand_id.in_(demand_ids))
        .order_by(DemandPush.round, DemandPush.rank)
    ):
        out[push.demand_id].append(push)
    return out


def events_of(session: Session, demand_ids: list[int]) -> dict[int, list[DemandEvent]]:
    """The histories of several demands in one query, by demand, oldest first."""
    out: dict[int, list[DemandEvent]] = {demand_id: [] for demand_id in demand_ids}
    for event in session.scalars(
        select(DemandEvent).where(DemandEvent.demand_id.in_(demand_ids)).order_by(DemandEvent.id)
    ):
        out[event.demand_id].append(event)
    return out


# ---------------------------------------------------------------------------- posting


def post(
    session: Session,
    user: User,
    terms: DemandIn,
    now: dt.datetime,
    rules: MarketRules,
) -> FinancingDemand:
    """An enterprise user posts a demand; it is pushed to the first round of banks."""
    if user.uscc is None:
        raise NotFound("no enterprise is bound to this user")
    if user.authenticated_at is None:
        raise Conflict(
            "the enterprise must be authenticated (认证) before it posts a financing demand",
            error="enterprise_not_authenticated",
        )
    enterprise = session.get(Enterprise, user.uscc)
    if enterprise is None:
        raise NotFound("the enterprise is not in the registry", uscc=user.uscc)
    return open_demand(
        session, enterprise, terms, now, rules, actor=f"user:{user.id}", posted_by=user.id
    )


def open_demand(
    session: Session,
    enterprise: Enterprise,
    terms: DemandIn,
    now: dt.datetime,
    rules: MarketRules,
    *,
    actor: str,
    posted_by: int | None = None,
    synthetic: bool = False,
) -> FinancingDemand:
    """Record a demand of ``enterprise`` and push it to the first round of banks."""
    demand = FinancingDemand(
        uscc=enterprise.uscc,
        posted_by=posted_by,
        amount_fen=terms.amount_fen,
        term_months=terms.term_months,
        purpose=terms.purpose,
        guarantee=terms.guarantee.value,
        urgency=terms.urgency.value,
        contact_channel=terms.contact_channel.value,
        contact_name=terms.contact_name,
        contact_phone=terms.contact_phone,
        contact_note=terms.contact_note,
        status=DemandStatus.OPEN.value,
        posted_at=now,
        push_round=0,
        overdue_count=0,
        synthetic=synthetic,
    )
    session.add(demand)
    session.flush()
    _record(session, demand, DemandEventKind.POSTED, actor, now)
    push_round(session, demand, enterprise, now, rules)
    return demand


def push_round(
    session: Session,
    demand: FinancingDemand,
    enterprise: Enterprise,
    now: dt.datetime,
    rules: MarketRules,
) -> list[DemandPush]:
    """Push ``demand`` to the next best-fitting banks it has not been pushed to, and
    start a round that runs out ``rules.working_days`` working days from now. A round
    that finds no bank is recorded too: ops see it when the round runs out."""
    already = set(
        session.scalars(select(DemandPush.bank_id).where(DemandPush.demand_id == demand.id))
    )
    fits = fitting_banks(
        session,
        enterprise=enterprise,
        amount_fen=demand.amount_fen,
        term_months=demand.term_months,
        guarantee=demand.guarantee,
        exclude_banks=already,
        limit=rules.banks_per_round,
    )
    demand.push_round += 1
    demand.due_at = working_deadline(now, rules.working_days)
    added = [
        DemandPush(
            demand_id=demand.id,
            bank_id=fit.bank_id,
            product_id=fit.product_id,
            round=demand.push_round,
            rank=rank,
            fit=fit.fit,
            pushed_at=now,
        )
        for rank, fit in enumerate(fits, start=1)
    ]
    session.add_all(added)
    _record(
        session,
        demand,
        DemandEventKind.PUSHED,
        PLATFORM,
        now,
        round=demand.push_round,
        banks=[push.bank_id for push in added],
        due_at=demand.due_at.isoformat(),
    )
    payloads = {push.bank_id: _pushed_payload(demand, push) for push in added}
    _notify_banks(session, payloads, "demand.pushed", now)
    session.flush()
    return added


def _pushed_payload(demand: FinancingDemand, push: DemandPush) -> dict[str, Any]:
    assert demand.due_at is not None
    return {
        "demand_id": demand.id,
        "uscc": demand.uscc,
        "amount_fen": demand.amount_fen,
        "term_months": demand.term_months,
        "guarantee": demand.guarantee,
        "urgency": demand.urgency,
        "product_id": push.product_id,
        "round": push.round,
        "rank": push.rank,
        "pushed_at": push.pushed_at.isoformat(),
        "claim_by": demand.due_at.isoformat(),
    }


def _notify_banks(
    session: Session, payloads: dict[int, dict[str, Any]], event_type: str, now: dt.datetime
) -> None:
    """An event for every active OAuth client of each bank in ``payloads`` (its log and
    its webhook), with that bank's payload."""
    if not payloads:
        return
    clients = session.scalars(
        select(OAuthClient)
        .where(
            OAuthClient.bank_id.in_(list(payloads)),
            OAuthClient.status == ClientStatus.ACTIVE.value,
        )
        .order_by(OAuthClient.id)
    )
    for client in clients:
        record_client_event(
            session,
            client_id=client.client_id,
            webhook=bool(client.webhook_url),
            event_type=event_type,
            payload=payloads[client.bank_id],
            now=now,
        )


def _record(
    session: Session,
    demand: FinancingDemand,
    kind: DemandEventKind,
    actor: str,
    now: dt.datetime,
    bank_id: int | None = None,
    **detail: Any,
) -> None:
    session.add(
        DemandEvent(
            demand_id=demand.id,
            kind=kind.value,
            at=now,
            actor=actor,
            bank_id=bank_id,
            detail=detail,
        )
    )


# ---------------------------------------------------------------------------- steps


def _apply(
    session: Session,
    demand: FinancingDemand,
    step: str,
    actor: Acting,
    now: dt.datetime,
    values: dict[str, Any],
    **detail: Any,
) -> FinancingDemand:
    """Take ``step`` if the demand's status allows it to ``actor``'s side, atomically."""
    read_as = demand.status
    rule = STEPS.get((DemandStatus(read_as), step))
    if rule is None or rule[1] != _side(actor):
        raise _refused(demand, step, actor)
    target = rule[0]
    landed = session.execute(
        update(FinancingDemand)
        .where(FinancingDemand.id == demand.id, FinancingDemand.status == read_as)
        .values(status=target.value, **values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(demand)
    if landed.rowcount != 1:  # type: ignore[attr-defined]
        if step in allowed_steps(demand.status, _side(actor)):
            # Overtaken by another step, yet still legal from where that one left it.
            raise Conflict(
                f"the financing demand became {demand.status} at the same moment; "
                f"nothing was done: '{step}' is still allowed, try again",
                error=DEMAND_CHANGED,
                demand_status=demand.status,
                allowed=allowed_steps(demand.status, _side(actor)),
            )
        raise _refused(demand, step, actor)
    bank_id = actor.bank_id if isinstance(actor, ActingBank) else None
    _record(session, demand, _EVENT_OF_STEP[step], actor.ref, now, bank_id, **detail)
    session.flush()
    return demand


def _refused(demand: FinancingDemand, step: str, actor: Acting) -> Conflict:
    """Why ``actor`` may not take ``step`` now, with the steps it may take (``allowed``)."""
    if isinstance(actor, ActingBank):
        if demand.status == DemandStatus.WITHDRAWN.value:
            return Conflict(
                "the enterprise has withdrawn this financing demand",
                error="demand_withdrawn",
                demand_status=demand.status,
                allowed=[],
            )
        if demand.claimed_bank_id is not None and demand.claimed_bank_id != actor.bank_id:
            return Conflict(
                "another bank has claimed this financing demand",
                error="demand_taken",
                demand_status="taken",
                allowed=[],
            )
    allowed = allowed_steps(demand.status, _side(actor))
    if (
        step == "claim"
        and isinstance(actor, ActingBank)
        and demand.claimed_bank_id == actor.bank_id
    ):
        return Conflict(
            "your bank has already claimed this financing demand",
            error="demand_already_claimed",
            demand_status=demand.status,
            allowed=allowed,
        )
    return Conflict(
        f"a {demand.status} financing demand cannot take the step '{step}'"
        + (f"; allowed: {', '.join(allowed)}" if allowed else "; it is closed"),
        error="step_not_allowed",
        demand_status=demand.status,
        allowed=allowed,
    )


# ---------------------------------------------------------------------------- bank steps


def _own_claim(demand: FinancingDemand, step: str, bank: ActingBank) -> None:
    """Steps after the claim are the claiming bank's alone."""
    if demand.claimed_bank_id != bank.bank_id:
        raise _refused(demand, step, bank)


def claim(session: Session, demand_id: int, bank: ActingBank, now: dt.datetime) -> FinancingDemand:
    """The first pushed bank to claim wins; every other claim is a 409 (``demand_taken``).
    Banks the demand was not pushed to get 404."""
    demand = get_scoped(session, for_bank(bank.bank_id), demand_id)
    claimed = _apply(
        session,
        demand,
        "claim",
        bank,
        now,
        {
            "claimed_bank_id": bank.bank_id,
            "claimed_by": bank.ref,
            "claimed_at": now,
            "due_at": None,
        },
    )
    taken = {"demand_id": demand.id, "status": "taken", "at": now.isoformat()}
    others = {p.bank_id for p in pushes_of(session, [demand.id])[demand.id]} - {bank.bank_id}
    _notify_banks(session, dict.fromkeys(others, taken), "demand.taken", now)
    return claimed


def record_contact(
    session: Session, demand_id: int, bank: ActingBank, now: dt.datetime, note: str | None
) -> FinancingDemand:
    demand = get_scoped(session, for_bank(bank.bank_id), demand_id)
    _own_claim(demand, "contact", bank)
    return _apply(session, demand, "contact", bank, now, {"contacted_at": now}, note=note)


def record_loan(
    session: Session,
    demand_id: int,
    bank: ActingBank,
    now: dt.datetime,
    application_id: int | None,
    note: str | None,
) -> FinancingDemand:
    """The demand led to a loan; ``application_id``, when given, must be an application
    of this enterprise to this bank."""
    demand = get_scoped(session, for_bank(bank.bank_id), demand_id)
    _own_claim(demand, "loan", bank)
    if application_id is not None:
        application = session.get(LoanApplication, application_id)
        if (
            application is None
            or application.uscc != demand.uscc
            or application.bank_id != bank.bank_id
        ):
            raise Invalid(
                "application_id names no application of this enterprise to your bank",
                errors=[{"pointer": "/application_id", "detail": "no such application"}],
            )
    return _apply(
        session,
        demand,
        "loan",
        bank,
        now,
        {"outcome_at": now, "application_id": application_id},
        application_id=application_id,
        note=note,
    )


def record_decline(
    session: Session,
    demand_id: int,
    bank: ActingBank,
    now: dt.datetime,
    reason: DeclineReason,
    note: str | None,
) -> FinancingDemand:
    demand = get_scoped(session, for_bank(bank.bank_id), demand_id)
    _own_claim(demand, "decline", bank)
    return _apply(
        session,
        demand,
        "decline",
        bank,
        now,
        {"outcome_at": now, "decline_reason": reason.value},
        reason=reason.value,
        note=note,
    )


# ---------------------------------------------------------------------------- enterprise steps


def withdraw(
    session: Session, user: User, demand_id: int, now: dt.datetime, reason: str | None
) -> FinancingDemand:
    """The enterprise takes its demand back before an outcome (it found the money
    elsewhere, or posted it by mistake). Every pushed bank, the claiming one included,
    is told; the demand leaves their open queues and no bank step is legal any more.
    Another enterprise's demand is "not found"; as for posting, the user must be
    authenticated. A bank's step landing between the withdrawal's read and its write
    (a claim of the demand it read open) leaves the withdrawal legal: it is taken once
    more from the status the demand now has."""
    return retry_once(
        session,
        lambda: _withdraw(session, user, demand_id, now, reason),
        on={DEMAND_CHANGED},
    )


def _withdraw(
    session: Session, user: User, demand_id: int, now: dt.datetime, reason: str | None
) -> FinancingDemand:
    demand = get_scoped(session, for_enterprise(user.uscc or ""), demand_id)
    if user.authenticated_at is None:
        raise Conflict(
            "the enterprise must be authenticated (认证) before it withdraws a financing demand",
            error="enterprise_not_authenticated",
        )
    actor = ActingEnterprise(ref=f"user:{user.id}")
    withdrawn = _apply(session, demand, "withdraw", actor, now, {"due_at": None}, reason=reason)
    notice = {"demand_id": demand.id, "status": "withdrawn", "at": now.isoformat()}
    pushed = {p.bank_id for p in pushes_of(session, [demand.id])[demand.id]}
    _notify_banks(session, dict.fromkeys(pushed, notice), "demand.withdrawn", now)
    return withdrawn


# ---------------------------------------------------------------------------- overdue


@dataclass(frozen=True, slots=True)
class SweepResult:
    flagged: list[int]  # demand ids flagged overdue in this sweep
    pushed: int  # banks reached by the new rounds


def sweep_overdue(
    session: Session, now: dt.datetime, rules: MarketRules, *, limit: int = 500
) -> SweepResult:
    """Flag every open demand whose round ran out unclaimed, and push it to the next
    banks. Idempotent: a flagged demand gets a new round (a new ``due_at``), so a second
    sweep at the same moment finds nothing."""
    due = list(
        session.scalars(
            select(FinancingDemand)
            .where(
                FinancingDemand.status == DemandStatus.OPEN.value,
                FinancingDemand.due_at <= now,
            )
            .order_by(FinancingDemand.due_at, FinancingDemand.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    flagged: list[int] = []
    reached = 0
    for demand in due:
        banks = flag_overdue(session, demand, now, rules)
        if banks is not None:
            flagged.append(demand.id)
            reached += banks
    session.flush()
    return SweepResult(flagged=flagged, pushed=reached)


def flag_overdue(
    session: Session, demand: FinancingDemand, now: dt.datetime, rules: MarketRules
) -> int | None:
    """Flag ``demand`` overdue if it is still open past its round's deadline and push it
    to the next banks; returns how many banks the new round reached, or None when it was
    not overdue (claimed meanwhile, or not due yet)."""
    # Conditional, so a claim that lands between the read and here wins cleanly.
    landed = session.execute(
        update(FinancingDemand)
        .where(
            FinancingDemand.id == demand.id,
            FinancingDemand.status == DemandStatus.OPEN.value,
            FinancingDemand.due_at <= now,
        )
        .values(overdue_count=FinancingDemand.overdue_count + 1, last_overdue_at=now)
        .execution_options(synchronize_session=False)
    )
    if landed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    session.refresh(demand)
    if demand.first_overdue_at is None:
        demand.first_overdue_at = now
    _record(
        session,
        demand,
        DemandEventKind.OVERDUE,
        PLATFORM,
        now,
        round=demand.push_round,
        working_days=rules.working_days,
    )
    enterprise = session.get(Enterprise, demand.uscc)
    assert enterprise is not None  # a foreign key
    return len(push_round(session, demand, enterprise, now, rules))
