"""Ops endpoints for ingestion history and data quality (internal until authz guards them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from finance.core.deps import SessionDep
from finance.govdata.service import category_or_404
from finance.ingestion import quality as service
from finance.ingestion.schemas import BatchOut, BatchPage, CategoryQuality

router = APIRouter(prefix="/api/v1/ingest", tags=["ingestion (ops)"])


@router.get("/batches", response_model=BatchPage)
def list_batches(
    session: SessionDep,
    category: str | None = None,
    status: str | None = None,
    cursor: Annotated[int | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
) -> BatchPage:
    if category is not None:
        category_or_404(category)
    return service.list_batches(
        session, category=category, status=status, before=cursor, limit=limit
    )


@router.get("/batches/{batch_id}", response_model=BatchOut)
def get_batch(session: SessionDep, batch_id: int) -> BatchOut:
    return service.get_batch(session, batch_id)


@router.get("/quality", response_model=list[CategoryQuality])
def data_quality(session: SessionDep, category: str | None = None) -> list[CategoryQuality]:
    if category is not None:
        category_or_404(category)
    return service.quality(session, category)
