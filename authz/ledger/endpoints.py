"""Reading the audit ledger: an enterprise sees its own entries ("who read my data"),
a bank its own clients' entries, ops everything (a city branch: its city's enterprises)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from authz.deps import BankStaff, CurrentEnterprise, OpsUser
from authz.errors import AccessRefused
from authz.ledger import service
from authz.models import LedgerEntry, OAuthClient, Role
from finance.core.deps import SessionDep
from finance.enterprises.models import Enterprise

router = APIRouter(tags=["audit ledger"])
Limit = Annotated[int, Query(ge=1, le=1000)]


def _out(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at,
        "request_id": entry.request_id,
        "action": entry.action,
        "actor": entry.actor,
        "client_id": entry.client_id,
        "uscc": entry.uscc,
        "consent_id": entry.consent_id,
        "categories": entry.categories.split(),
        "date_from": entry.date_from,
        "date_to": entry.date_to,
        "outcome": entry.outcome,
        "reason": entry.reason,
        "rows_returned": entry.rows_returned,
        "latency_ms": entry.latency_ms,
        "hash": entry.hash,
    }


def _page(
    session: Session, query: Select[LedgerEntry], limit: int, before: int | None
) -> list[dict[str, Any]]:
    if before is not None:
        query = query.where(LedgerEntry.seq < before)
    return [_out(e) for e in session.scalars(query.order_by(LedgerEntry.seq.desc()).limit(limit))]


@router.get("/api/v1/my/ledger")
def my_ledger(
    session: SessionDep,
    user: CurrentEnterprise,
    limit: Limit = 100,
    before: int | None = None,
) -> list[dict[str, Any]]:
    return _page(session, service.search(select(LedgerEntry), uscc=user.uscc), limit, before)


@router.get("/api/v1/bank/ledger")
def bank_ledger(
    session: SessionDep,
    user: BankStaff,
    limit: Limit = 100,
    before: int | None = None,
) -> list[dict[str, Any]]:
    own = select(OAuthClient.client_id).where(OAuthClient.bank_id == user.bank_id)
    query = select(LedgerEntry).where(LedgerEntry.client_id.in_(own))
    return _page(session, query, limit, before)


@router.get("/api/v1/ledger")
def search_ledger(
    session: SessionDep,
    user: OpsUser,
    uscc: str | None = None,
    client_id: str | None = None,
    consent_id: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: Limit = 100,
    before: int | None = None,
) -> list[dict[str, Any]]:
    if Role.OPS_AUDITOR.value not in user.role_set and Role.OPS_ADMIN.value not in user.role_set:
        raise AccessRefused(403, "forbidden", "ledger search needs an ops role")
    query = service.search(
        select(LedgerEntry),
        uscc=uscc,
        client_id=client_id,
        consent_id=consent_id,
        action=action,
        outcome=outcome,
        since=since,
        until=until,
    )
    if user.city_code is not None:
        in_city = select(Enterprise.uscc).where(Enterprise.city_code == user.city_code)
        query = query.where(LedgerEntry.uscc.in_(in_city))
    return _page(session, query, limit, before)
