"""Reading the enterprise registry. Writes come from ingestion of the registration category."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from finance.core.errors import NotFound
from finance.core.reference import henan_divisions
from finance.enterprises.models import Enterprise
from finance.enterprises.schemas import EnterpriseOut, EnterprisePage, mask_id_number
from finance.enterprises.uscc import validate_uscc

MAX_PAGE = 500


def get_enterprise(session: Session, uscc: str) -> Enterprise:
    validate_uscc(uscc)
    enterprise = session.get(Enterprise, uscc)
    if enterprise is None:
        raise NotFound(f"no enterprise with USCC {uscc} is registered", uscc=uscc)
    return enterprise


def to_out(enterprise: Enterprise) -> EnterpriseOut:
    city = henan_divisions().get(enterprise.city_code)
    return EnterpriseOut(
        uscc=enterprise.uscc,
        name=enterprise.name,
        legal_rep_name=enterprise.legal_rep_name,
        legal_rep_id_number_masked=mask_id_number(enterprise.legal_rep_id_number),
        founded_on=enterprise.founded_on,
        registered_capital_fen=enterprise.registered_capital_fen,
        status=enterprise.status,
        division_code=enterprise.division_code,
        city_code=enterprise.city_code,
        city_name=city.name if city else None,
        industry_section=enterprise.industry_section,
        industry_division=enterprise.industry_division,
        industry_class=enterprise.industry_class,
        employees=enterprise.employees,
        revenue_fen=enterprise.revenue_fen,
        total_assets_fen=enterprise.total_assets_fen,
        size_class=enterprise.size_class,
        record_date=enterprise.record_date,
    )


def list_enterprises(
    session: Session,
    *,
    city_code: str | None = None,
    industry_section: str | None = None,
    size_class: str | None = None,
    status: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> EnterprisePage:
    """A page of enterprises ordered by USCC; ``after`` is the last USCC of the previous page."""
    limit = max(1, min(limit, MAX_PAGE))
    query = select(Enterprise)
    for column, value in (
        (Enterprise.city_code, city_code),
        (Enterprise.industry_section, industry_section),
        (Enterprise.size_class, size_class),
        (Enterprise.status, status),
    ):
        if value is not None:
            query = query.where(column == value)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if after is not None:
        query = query.where(Enterprise.uscc > after)
    rows = list(session.scalars(query.order_by(Enterprise.uscc).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return EnterprisePage(
        items=[to_out(e) for e in rows],
        next_cursor=rows[-1].uscc if more and rows else None,
        total=total,
    )
