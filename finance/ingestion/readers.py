"""Reading department files in chunks: CSV (UTF-8, UTF-8 with BOM, GB18030), XLSX, Parquet.

Every reader yields DataFrames of strings ("" for an empty cell) with a ``line`` column:
the line (CSV), sheet row (XLSX) or row number + 1 (Parquet) of each record, the header
being line 1. Memory use is bounded by the chunk size, never the file size.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FORMATS = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".parquet": "parquet", ".pq": "parquet"}


class UnreadableFile(Exception):
    """The file cannot be read at all; nothing from it is loaded."""


@dataclass(frozen=True, slots=True)
class FileFacts:
    path: Path
    format: str
    sha256: str
    size: int
    encoding: str | None
    rows_estimate: int


@dataclass(frozen=True, slots=True)
class BadLine:
    """A CSV line the parser could not split into the header's fields."""

    line: int
    reason: str


def inspect_file(path: Path) -> FileFacts:
    """Hash the file and, for CSV, settle its encoding in the same single pass."""
    if not path.is_file():
        raise UnreadableFile(f"{path}: no such file")
    file_format = FORMATS.get(path.suffix.lower())
    if file_format is None:
        raise UnreadableFile(
            f"{path}: unsupported file type {path.suffix or '(none)'}; "
            f"expected one of {', '.join(sorted(FORMATS))}"
        )
    digest = hashlib.sha256()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    gb18030 = codecs.getincrementaldecoder("gb18030")()
    utf8_ok = gb_ok = file_format == "csv"
    size = 0
    newlines = 0
    last_byte = b""
    starts_with_bom = False
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            if size == 0:
                starts_with_bom = block.startswith(codecs.BOM_UTF8)
            size += len(block)
            newlines += block.count(b"\n")
            last_byte = block[-1:]
            digest.update(block)
            if utf8_ok:
                try:
                    utf8.decode(block)
                except UnicodeDecodeError:
                    utf8_ok = False
            if gb_ok and not utf8_ok:
                try:
                    gb18030.decode(block)
                except UnicodeDecodeError:
                    gb_ok = False
    if size == 0:
        raise UnreadableFile(f"{path}: the file is empty")
    encoding: str | None = None
    if file_format == "csv":
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8_ok = False
        if utf8_ok:
            encoding = "utf-8-sig" if starts_with_bom else "utf-8"
        elif _decodes_as_gb18030(path):
            encoding = "gb18030"
        else:
            raise UnreadableFile(f"{path}: text is neither UTF-8 nor GB18030")
    return FileFacts(
        path,
        file_format,
        digest.hexdigest(),
        size,
        encoding,
        _estimate_rows(path, file_format, newlines + (last_byte != b"\n")),
    )


def _estimate_rows(path: Path, file_format: str, lines: int) -> int:
    """Data rows expected, for progress display only."""
    if file_format == "csv":
        return max(lines - 1, 0)
    if file_format == "parquet":
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except Exception:  # a damaged file is reported when it is read
            return 0
    try:
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True)
        rows = (workbook.worksheets[0].max_row or 1) - 1
        workbook.close()
        return max(int(rows), 0)
    except Exception:  # a damaged workbook is reported when it is read
        return 0


def _decodes_as_gb18030(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("gb18030")()
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def read_header(facts: FileFacts) -> list[str]:
    if facts.format == "csv":
        import pyarrow as pa

        try:
            names = _csv_reader(facts, None, 1 << 16).schema.names
        except pa.ArrowInvalid as exc:
            raise UnreadableFile(f"{facts.path}: cannot read the header: {exc}") from exc
        return [str(name).strip() for name in names]
    if facts.format == "xlsx":
        sheet_rows = _xlsx_rows(facts.path)
        try:
            header = next(sheet_rows)
        except StopIteration:
            raise UnreadableFile(f"{facts.path}: the first sheet is empty") from None
        finally:
            sheet_rows.close()
        return ["" if v is None else str(v).strip() for v in header]
    import pyarrow.parquet as pq

    try:
        return [str(name) for name in pq.ParquetFile(facts.path).schema_arrow.names]
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise UnreadableFile(f"{facts.path}: not a readable Parquet file: {exc}") from exc


def _with_lines(frame: pd.DataFrame, first_line: int) -> pd.DataFrame:
    frame = frame.copy()
    frame.insert(0, "line", np.arange(first_line, first_line + len(frame), dtype=np.int64))
    return frame


def read_chunks(
    facts: FileFacts, columns: list[str], chunk_rows: int, bad_lines: list[BadLine]
) -> Iterator[pd.DataFrame]:
    """Chunks of the file as strings, with ``line``; unparseable CSV lines are appended to
    ``bad_lines`` (and left out of the chunks) as they are met."""
    if facts.format == "csv":
        yield from _csv_chunks(facts, columns, chunk_rows, bad_lines)
    elif facts.format == "xlsx":
        yield from _xlsx_chunks(facts, columns, chunk_rows)
    else:
        yield from _parquet_chunks(facts, columns, chunk_rows)


def _csv_reader(
    facts: FileFacts,
    columns: list[str] | None,
    block_size: int,
    on_bad_line: Callable[[BadLine], None] | None = None,
) -> Any:
    """A pyarrow streaming CSV reader; with ``columns`` (the header as read) every column
    is read as text, exactly as written."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    def invalid(row: Any) -> str:
        if on_bad_line is not None:
            reason = f"expected {row.expected_columns} fields, saw {row.actual_columns}"
            on_bad_line(BadLine(int(row.number), reason))
        return "skip"

    read = pa_csv.ReadOptions(
        encoding=facts.encoding or "utf-8",
        block_size=block_size,
        use_threads=False,
        column_names=columns,
        skip_rows=1 if columns is not None else 0,
    )
    convert = pa_csv.ConvertOptions(
        column_types={name: pa.string() for name in columns or []}, strings_can_be_null=False
    )
    return pa_csv.open_csv(
        facts.path,
        read_options=read,
        parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=invalid),
        convert_options=convert,
    )


def _csv_chunks(
    facts: FileFacts, columns: list[str], chunk_rows: int, bad_lines: list[BadLine]
) -> Iterator[pd.DataFrame]:
    """Records in chunks of ``chunk_rows``; malformed records are skipped and reported
    with their record number, and the numbers of the records after them stay right."""
    import pyarrow as pa

    bytes_per_row = max(facts.size // max(facts.rows_estimate, 1), 16)
    block_size = min(max(bytes_per_row * chunk_rows, 1 << 16), 1 << 24)
    skipped: list[int] = []
    records_seen = 0
    pending: list[pa.RecordBatch] = []
    pending_rows = 0

    def bad_line(line: BadLine) -> None:
        bad_lines.append(line)
        skipped.append(line.line)

    def emit(batches: list[pa.RecordBatch]) -> pd.DataFrame:
        nonlocal records_seen
        skipped.sort()
        frame: pd.DataFrame = pa.Table.from_batches(batches).to_pandas()
        frame.columns = columns
        lines = np.arange(records_seen + 2, records_seen + 2 + len(frame), dtype=np.int64)
        for line in skipped:
            lines[lines >= line] += 1
        records_seen += len(frame)
        frame.insert(0, "line", lines)
        return frame

    try:
        reader = _csv_reader(facts, columns, block_size, bad_line)
        for batch in reader:
            pending.append(batch)
            pending_rows += batch.num_rows
            while pending_rows >= chunk_rows:
                table = pa.Table.from_batches(pending)
                head, rest = table.slice(0, chunk_rows), table.slice(chunk_rows)
                yield emit(head.to_batches())
                pending, pending_rows = rest.to_batches(), rest.num_rows
        if pending_rows:
            yield emit(pending)
    except pa.ArrowInvalid as exc:
        raise UnreadableFile(f"{facts.path}: cannot parse the file: {exc}") from exc


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        if np.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _xlsx_rows(path: Path) -> Generator[tuple[Any, ...], None, None]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile / XML errors of a damaged workbook
        raise UnreadableFile(f"{path}: not a readable XLSX workbook: {exc}") from exc
    try:
        yield from workbook.worksheets[0].iter_rows(values_only=True)
    finally:
        workbook.close()


def _xlsx_chunks(facts: FileFacts, columns: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    rows = _xlsx_rows(facts.path)
    next(rows)  # header
    width = len(columns)
    batch: list[list[str]] = []
    first_line = 2
    for row in rows:
        cells = [_cell_text(v) for v in row[:width]]
        cells += [""] * (width - len(cells))
        batch.append(cells)
        if len(batch) == chunk_rows:
            yield _with_lines(pd.DataFrame(batch, columns=columns, dtype=str), first_line)
            first_line += len(batch)
            batch = []
    if batch:
        yield _with_lines(pd.DataFrame(batch, columns=columns, dtype=str), first_line)


def _parquet_chunks(
    facts: FileFacts, columns: list[str], chunk_rows: int
) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    first_line = 2
    for batch in pq.ParquetFile(facts.path).iter_batches(batch_size=chunk_rows):
        frame = batch.to_pandas()
        text = pd.DataFrame(
            {name: frame[name].map(_cell_text).astype(str) for name in frame.columns}
        )
        text.columns = columns
        yield _with_lines(text, first_line)
        first_line += len(text)
