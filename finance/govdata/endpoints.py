"""Data hub endpoints: the public category registry, and internal record reads."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query

from finance.core.deps import SessionDep
from finance.enterprises.service import get_enterprise
from finance.govdata import service
from finance.govdata.categories import CATEGORIES
from finance.govdata.schemas import CategoryOut, RecordsPage

catalogue_router = APIRouter(prefix="/api/v1/categories", tags=["data categories"])
internal_router = APIRouter(prefix="/api/v1/enterprises", tags=["enterprise data (internal)"])


@catalogue_router.get("", response_model=list[CategoryOut])
def list_categories() -> list[CategoryOut]:
    return [service.describe(c) for c in CATEGORIES]


@catalogue_router.get("/{name}", response_model=CategoryOut)
def get_category(name: str) -> CategoryOut:
    return service.describe(service.category_or_404(name))


@internal_router.get("/{uscc}/profile")
def enterprise_profile(
    session: SessionDep,
    uscc: str,
    as_of: dt.date | None = None,
    categories: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    return service.profile(session, uscc, as_of=as_of, categories=categories)


@internal_router.get("/{uscc}/data/{category}", response_model=RecordsPage)
def enterprise_records(
    session: SessionDep,
    uscc: str,
    category: str,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 100,
) -> RecordsPage:
    service.category_or_404(category)
    get_enterprise(session, uscc)  # an unknown enterprise is a 404
    return service.records_page(
        session.connection(),
        uscc,
        category,
        date_from=date_from,
        date_to=date_to,
        cursor=cursor,
        limit=limit,
    )
