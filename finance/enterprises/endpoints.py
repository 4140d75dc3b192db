"""Registry read endpoints (internal until the authz layer guards them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from finance.core.deps import SessionDep
from finance.enterprises import service
from finance.enterprises.schemas import EnterpriseOut, EnterprisePage

router = APIRouter(prefix="/api/v1/enterprises", tags=["enterprises"])


@router.get("", response_model=EnterprisePage)
def list_enterprises(
    session: SessionDep,
    city_code: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    industry_section: Annotated[str | None, Query(pattern=r"^[A-T]$")] = None,
    size_class: Annotated[str | None, Query()] = None,
    status: Annotated[str | None, Query()] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
) -> EnterprisePage:
    return service.list_enterprises(
        session,
        city_code=city_code,
        industry_section=industry_section,
        size_class=size_class,
        status=status,
        after=cursor,
        limit=limit,
    )


@router.get("/{uscc}", response_model=EnterpriseOut)
def get_enterprise(session: SessionDep, uscc: str) -> EnterpriseOut:
    return service.to_out(service.get_enterprise(session, uscc))
