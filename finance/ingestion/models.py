"""Ingestion batches: one per file loaded, with its counts and outcome."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, Date, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from finance.core.db import Base
from finance.core.types import BigIntPK, UTCDateTime, utcnow


class BatchStatus(enum.StrEnum):
    RUNNING = "running"
    LOADED = "loaded"  # every row accepted
    PARTIAL = "partial"  # some rows refused, the rest loaded
    UNREADABLE = "unreadable"  # the file could not be read; nothing loaded
    FAILED = "failed"  # an unexpected error; nothing loaded


class IngestBatch(Base):
    __tablename__ = "ingest_batches"
    __table_args__ = (Index("ix_ingest_batches_category_started", "category", "started_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    category: Mapped[str] = mapped_column(String(32))
    source_department: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    file_bytes: Mapped[int] = mapped_column(BigInteger)
    file_format: Mapped[str] = mapped_column(String(16))
    encoding: Mapped[str | None] = mapped_column(String(16))
    as_of_date: Mapped[dt.date] = mapped_column(Date)
    ingested_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=BatchStatus.RUNNING.value)
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_accepted: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_written: Mapped[int] = mapped_column(BigInteger, default=0)
    report_path: Mapped[str | None] = mapped_column(String(1000))
    error: Mapped[str | None] = mapped_column(Text)
