"""Shapes of ingestion batches and data-quality figures."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict


class BatchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    category: str
    source_department: str
    file_name: str
    file_sha256: str
    file_bytes: int
    file_format: str
    encoding: str | None
    as_of_date: dt.date
    ingested_by: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    status: str
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    rows_written: int
    report_path: str | None
    error: str | None


class BatchPage(BaseModel):
    items: list[BatchOut]
    next_cursor: int | None


class CategoryQuality(BaseModel):
    category: str
    records: int
    enterprises_covered: int
    coverage: float | None  # share of registered enterprises with at least one record
    completeness: float | None  # share of non-empty values over all data columns
    column_completeness: dict[str, float]
    batches: int
    unreadable_batches: int
    rows_read: int
    rows_rejected: int
    rejection_rate: float | None
    latest_data_date: dt.date | None
    latest_as_of_date: dt.date | None
    last_loaded_at: dt.datetime | None
    freshness_days: int | None  # days from the latest data date to today
