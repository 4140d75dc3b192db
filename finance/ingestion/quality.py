"""Ingestion batch history and data-quality figures per category, for ops."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from finance.core.errors import NotFound
from finance.enterprises.models import Enterprise
from finance.govdata.categories import CATEGORIES, Category, get_category
from finance.govdata.models import data_table
from finance.ingestion.models import BatchStatus, IngestBatch
from finance.ingestion.schemas import BatchOut, BatchPage, CategoryQuality

MAX_PAGE = 500


def list_batches(
    session: Session,
    *,
    category: str | None = None,
    status: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> BatchPage:
    """Newest first; ``before`` is the id of the last batch on the previous page."""
    limit = max(1, min(limit, MAX_PAGE))
    query = select(IngestBatch)
    if category is not None:
        query = query.where(IngestBatch.category == category)
    if status is not None:
        query = query.where(IngestBatch.status == status)
    if before is not None:
        query = query.where(IngestBatch.id < before)
    rows = list(session.scalars(query.order_by(IngestBatch.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return BatchPage(
        items=[BatchOut.model_validate(b) for b in rows],
        next_cursor=rows[-1].id if more and rows else None,
    )


def get_batch(session: Session, batch_id: int) -> BatchOut:
    batch = session.get(IngestBatch, batch_id)
    if batch is None:
        raise NotFound(f"no ingestion batch {batch_id}")
    return BatchOut.model_validate(batch)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def category_quality(
    session: Session, category: Category, registered: int, today: dt.date
) -> CategoryQuality:
    table = data_table(category.name)
    columns = [c.db_name for c in category.columns]
    counts = (
        session.execute(
            select(
                func.count().label("records"),
                func.count(func.distinct(table.c.uscc)).label("enterprises"),
                func.max(table.c[category.date_column]).label("latest_data"),
                func.max(table.c.as_of_date).label("latest_as_of"),
                *(func.count(table.c[c]).label(c) for c in columns),
            )
        )
        .mappings()
        .one()
    )
    records = int(counts["records"])
    column_completeness = (
        {c: round(int(counts[c]) / records, 6) for c in columns} if records else {}
    )
    batches = (
        session.execute(
            select(
                func.count().label("batches"),
                func.coalesce(func.sum(IngestBatch.rows_read), 0).label("read"),
                func.coalesce(func.sum(IngestBatch.rows_rejected), 0).label("rejected"),
                func.max(IngestBatch.finished_at).label("last"),
            ).where(IngestBatch.category == category.name)
        )
        .mappings()
        .one()
    )
    unreadable = session.scalar(
        select(func.count()).where(
            IngestBatch.category == category.name,
            IngestBatch.status == BatchStatus.UNREADABLE.value,
        )
    )
    latest: dt.date | None = counts["latest_data"]
    return CategoryQuality(
        category=category.name,
        records=records,
        enterprises_covered=int(counts["enterprises"]),
        coverage=_ratio(int(counts["enterprises"]), registered),
        completeness=(
            round(sum(column_completeness.values()) / len(column_completeness), 6)
            if column_completeness
            else None
        ),
        column_completeness=column_completeness,
        batches=int(batches["batches"]),
        unreadable_batches=int(unreadable or 0),
        rows_read=int(batches["read"]),
        rows_rejected=int(batches["rejected"]),
        rejection_rate=_ratio(int(batches["rejected"]), int(batches["read"])),
        latest_data_date=latest,
        latest_as_of_date=counts["latest_as_of"],
        last_loaded_at=batches["last"],
        freshness_days=(today - latest).days if latest else None,
    )


def quality(session: Session, category: str | None = None) -> list[CategoryQuality]:
    registered = session.scalar(select(func.count()).select_from(Enterprise)) or 0
    today = dt.date.today()
    wanted = [get_category(category)] if category else list(CATEGORIES)
    return [category_quality(session, c, registered, today) for c in wanted]
