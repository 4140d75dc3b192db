"""Loading a department file into its category table (数据归集).

One file is one batch and one transaction: every valid row is upserted, every refused row
is written to a rejection report with its line, column and reason, and the batch is
recorded with its file hash and counts. A file that cannot be read at all (missing,
wrong type, undecodable, wrong header) loads nothing and is recorded as unreadable.
"""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, Engine, insert, select, update

from credit import industry
from credit.features import series
from credit.models import MonthlySeries
from finance.core.db import refresh_statistics
from finance.core.types import utcnow
from finance.enterprises.models import Enterprise
from finance.enterprises.registry import refresh_from_registration
from finance.govdata.categories import Category, get_category
from finance.govdata.models import data_table
from finance.ingestion.models import BatchStatus, IngestBatch
from finance.ingestion.readers import (
    BadLine,
    FileFacts,
    UnreadableFile,
    inspect_file,
    read_chunks,
    read_header,
)
from finance.ingestion.validation import REJECTION_COLUMNS, known_enterprises, validate_chunk
from finance.ingestion.writer import CategoryWriter

DEFAULT_CHUNK_ROWS = 100_000


class ExitCode:
    ALL_ACCEPTED = 0
    SOME_REFUSED = 1
    UNREADABLE = 2


@dataclass
class IngestResult:
    category: str
    file: Path
    status: BatchStatus
    batch_id: int | None = None
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    rows_written: int = 0
    enterprises_refreshed: int = 0
    # Rows of the industry employment index rewritten (``credit.industry``), None when
    # the load changed none of its inputs.
    industry_index_rows: int | None = None
    report_path: Path | None = None
    error: str | None = None
    seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if self.status in (BatchStatus.UNREADABLE, BatchStatus.FAILED):
            return ExitCode.UNREADABLE
        return ExitCode.SOME_REFUSED if self.rows_rejected else ExitCode.ALL_ACCEPTED

    def as_dict(self) -> dict[str, object]:
        return {
            "category": self.category,
            "file": str(self.file),
            "status": self.status.value,
            "exit_code": self.exit_code,
            "batch_id": self.batch_id,
            "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted,
            "rows_rejected": self.rows_rejected,
            "rows_written": self.rows_written,
            "rows_unchanged": self.rows_accepted - self.rows_written,
            "enterprises_refreshed": self.enterprises_refreshed,
            "industry_index_rows": self.industry_index_rows,
            "report": str(self.report_path) if self.report_path else None,
            "rejection_reasons": self.reasons,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


def default_report_path(path: Path) -> Path:
    return path.with_name(path.name + ".rejected.csv")


def check_header(category: Category, header: list[str], path: Path) -> None:
    """Refuse the whole file when its columns are not the category's."""
    duplicated = sorted({c for c in header if header.count(c) > 1})
    missing = [c for c in category.required_file_columns if c not in header]
    unexpected = [c for c in header if c not in category.file_columns]
    problems = []
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected columns: {', '.join(unexpected)}")
    if duplicated:
        problems.append(f"repeated columns: {', '.join(duplicated)}")
    if problems:
        raise UnreadableFile(
            f"{path}: header does not match category {category.name!r} ("
            + "; ".join(problems)
            + f"). Expected: {', '.join(category.file_columns)}"
        )


def _open_batch(
    connection: Connection,
    category: Category,
    path: Path,
    facts: FileFacts | None,
    *,
    source: str,
    as_of: dt.date,
    ingested_by: str,
    started: dt.datetime,
    **outcome: Any,
) -> int:
    """Record a batch for ``path``; ``outcome`` sets status (and error, finish time)."""
    return int(
        connection.execute(
            insert(IngestBatch).returning(IngestBatch.id),
            {
                "category": category.name,
                "source_department": source,
                "file_name": str(path)[:500],
                "file_sha256": facts.sha256 if facts else "",
                "file_bytes": facts.size if facts else 0,
                "file_format": facts.format if facts else path.suffix.lstrip(".")[:16],
                "encoding": facts.encoding if facts else None,
                "as_of_date": as_of,
                "ingested_by": ingested_by,
                "started_at": started,
                **outcome,
            },
        ).scalar_one()
    )


def _bad_line_rejections(bad_lines: list[BadLine]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "line": [b.line for b in bad_lines],
            "column": "",
            "value": "",
            "reason": [f"malformed line: {b.reason}" for b in bad_lines],
        },
        columns=REJECTION_COLUMNS,
    )


def _known_usccs(connection: Connection) -> pa.Array:
    return known_enterprises(connection.execute(select(Enterprise.uscc)).scalars().all())


def ingest_file(
    engine: Engine,
    category_name: str,
    path: Path,
    *,
    as_of: dt.date | None = None,
    source: str | None = None,
    ingested_by: str | None = None,
    report_path: Path | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> IngestResult:
    """Validate and load one file of ``category_name``.

    ``on_progress(rows_done, rows_expected)`` is called after each chunk. Raises KeyError
    for an unknown category; every problem with the file itself is in the result.
    """
    category = get_category(category_name)
    clock = time.perf_counter()
    started = utcnow()
    as_of = as_of or dt.date.today()
    source = source or category.department
    ingested_by = ingested_by or getpass.getuser()
    path = Path(path)
    report = report_path or default_report_path(path)
    result = IngestResult(category=category.name, file=path, status=BatchStatus.RUNNING)
    facts: FileFacts | None = None
    try:
        facts = inspect_file(path)
        header = read_header(facts)
        check_header(category, header, path)
        _FileLoad(
            engine=engine,
            category=category,
            facts=facts,
            header=header,
            result=result,
            report=report,
            as_of=as_of,
            source=source,
            ingested_by=ingested_by,
            started=started,
            on_progress=on_progress,
            chunk_rows=chunk_rows,
        ).run()
    except UnreadableFile as exc:
        result.status = BatchStatus.UNREADABLE
        result.error = str(exc)
        result.rows_accepted = result.rows_written = result.enterprises_refreshed = 0
        result.industry_index_rows = None  # rolled back with the rest
        result.report_path = None
        if report.exists() and report_path is None:
            report.unlink()
        with engine.begin() as connection:
            result.batch_id = _open_batch(
                connection,
                category,
                path,
                facts,
                source=source,
                as_of=as_of,
                ingested_by=ingested_by,
                started=started,
                status=BatchStatus.UNREADABLE.value,
                finished_at=utcnow(),
                error=str(exc),
            )
    result.seconds = time.perf_counter() - clock
    return result


@dataclass
class _FileLoad:
    """One file loaded as one batch in one transaction.

    Chunks are validated on this thread while the previous chunk is written on a writer
    thread: the database (another process) works while Python validates, which nearly
    halves the wall time on a 2-core machine. The rejection report is written to a
    ``.partial`` file and moved into place only when the transaction has committed.
    """

    engine: Engine
    category: Category
    facts: FileFacts
    header: list[str]
    result: IngestResult
    report: Path
    as_of: dt.date
    source: str
    ingested_by: str
    started: dt.datetime
    on_progress: Callable[[int, int], None] | None
    chunk_rows: int
    reasons: dict[str, int] = field(default_factory=dict)
    refused_lines: int = 0

    def run(self) -> None:
        partial = self.report.with_name(self.report.name + ".partial")
        try:
            with partial.open("w", newline="", encoding="utf-8") as out:
                report = csv.writer(out)
                report.writerow(REJECTION_COLUMNS)
                self._transaction(report)
            if self.refused_lines:
                os.replace(partial, self.report)
            elif self.report.exists():
                self.report.unlink()
        finally:
            if partial.exists():
                partial.unlink()

    def _note(self, report: Any, rejections: pd.DataFrame) -> None:
        if rejections.empty:
            return
        self.refused_lines += rejections["line"].nunique()
        report.writerows(rejections.itertuples(index=False, name=None))
        generic = rejections["reason"].str.replace(r"line \d+", "line N", regex=True)
        for reason, count in generic.value_counts().items():
            self.reasons[str(reason)] = self.reasons.get(str(reason), 0) + int(count)

    def _transaction(self, report: Any) -> None:
        result, category = self.result, self.category
        absent = [c for c in category.file_columns if c not in self.header]
        bad_lines: list[BadLine] = []
        seen_keys: dict[str, int] = {}
        with self.engine.begin() as connection, ThreadPoolExecutor(max_workers=1) as pool:
            batch_id = result.batch_id = _open_batch(
                connection,
                category,
                self.facts.path,
                self.facts,
                source=self.source,
                as_of=self.as_of,
                ingested_by=self.ingested_by,
                started=self.started,
                status=BatchStatus.RUNNING.value,
            )
            known = None if category.creates_enterprises else _known_usccs(connection)
            writer = CategoryWriter(connection, category)
            # The credit features read monthly categories through the packed series:
            # the accepted rows are written over them at the end, in this transaction.
            loaded = (
                series.LoadedRows(category.name) if category.name in series.MEASURES_OF else None
            )
            now = utcnow()
            pending: Future[int] | None = None
            for chunk in read_chunks(self.facts, self.header, self.chunk_rows, bad_lines):
                for name in absent:
                    chunk[name] = ""
                checked = validate_chunk(
                    chunk, category, known_usccs=known, seen_keys=seen_keys, latest=self.as_of
                )
                if pending is not None:
                    result.rows_written += pending.result()
                pending = pool.submit(
                    writer.write,
                    checked.accepted,
                    batch_id=batch_id,
                    source=self.source,
                    ingested_at=now,
                    as_of=self.as_of,
                )
                if loaded is not None:
                    loaded.add(checked.accepted)
                result.rows_read += checked.rows_read + len(bad_lines)
                result.rows_accepted += len(checked.accepted)
                rejections = checked.rejections
                if bad_lines:
                    rejections = pd.concat([rejections, _bad_line_rejections(bad_lines)])
                    rejections = rejections.sort_values(["line", "column"], kind="stable")
                    bad_lines.clear()
                self._note(report, rejections)
                if self.on_progress is not None:
                    self.on_progress(result.rows_read, self.facts.rows_estimate)
            if pending is not None:
                result.rows_written += pending.result()
            series_written = 0
            if loaded is not None and result.rows_written:
                series_written = loaded.merge(connection)
            if bad_lines:
                self._note(report, _bad_line_rejections(bad_lines))
                result.rows_read += len(bad_lines)
            result.rows_rejected = self.refused_lines
            if category.creates_enterprises and result.rows_written:
                result.enterprises_refreshed = refresh_from_registration(connection, batch_id, now)
            refresh_statistics(
                connection,
                {
                    data_table(category.name).name: result.rows_written,
                    MonthlySeries.__tablename__: series_written,
                    Enterprise.__tablename__: result.enterprises_refreshed,
                },
            )
            # The industry employment index is derived from the insured employees of
            # the social-insurance series and the enterprises' sections: rewritten here,
            # in this transaction, whenever either changed (scoring reads it as it is).
            if (category.name == industry.SOURCE and series_written) or (
                result.enterprises_refreshed
            ):
                result.industry_index_rows = industry.refresh(connection)
            result.status = BatchStatus.PARTIAL if self.refused_lines else BatchStatus.LOADED
            result.reasons = dict(sorted(self.reasons.items(), key=lambda item: -item[1]))
            result.report_path = self.report if self.refused_lines else None
            connection.execute(
                update(IngestBatch)
                .where(IngestBatch.id == batch_id)
                .values(
                    finished_at=utcnow(),
                    status=result.status.value,
                    rows_read=result.rows_read,
                    rows_accepted=result.rows_accepted,
                    rows_rejected=result.rows_rejected,
                    rows_written=result.rows_written,
                    report_path=str(self.report) if self.refused_lines else None,
                )
            )
