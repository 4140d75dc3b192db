"""PostgreSQL's binary COPY format, encoded from typed Arrow columns with numpy, and the
COPY of such rows into a table (the ingestion writer's, the synthetic loan book's and
the nightly credit scores').

The format is the one described in the PostgreSQL manual, COPY, "Binary Format": an
11-byte signature, a flags field and a header-extension length, then per row a 16-bit
field count and, per field, a 32-bit length (-1 for NULL) followed by the value in the
type's binary send format (network byte order); a 16-bit -1 ends the data.

Every row is laid out with whole-column numpy operations (no Python loop over rows), so a
100,000-row chunk is encoded in milliseconds, and the server skips text parsing of dates,
timestamps and integers, which is most of the cost of a text COPY.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Table,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

from finance.core.types import UTCDateTime

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
# PostgreSQL counts dates and timestamps from 2000-01-01 (UTC), Arrow from 1970-01-01.
_EPOCH_DAYS = 10_957
_EPOCH_MICROSECONDS = _EPOCH_DAYS * 86_400 * 1_000_000
_NUMERIC_BASE = 10_000  # NUMERIC's digits are base 10,000, four decimal digits each
_NUMERIC_NEGATIVE = 0x4000

Int64Array = npt.NDArray[np.int64]


class PgType(enum.Enum):
    """The column types the encoder writes."""

    TEXT = "text"  # text, varchar, json (json's binary form is its text; jsonb's is not)
    INT8 = "int8"  # bigint
    INT4 = "int4"  # integer
    DATE = "date"  # days since 2000-01-01
    TIMESTAMPTZ = "timestamptz"  # microseconds since 2000-01-01 00:00 UTC
    BOOL = "bool"
    FLOAT8 = "float8"  # double precision: IEEE 754 binary64
    NUMERIC = "numeric"  # from an Arrow decimal128 column: base-10,000 digits, see _numeric


_WIDTHS = {
    PgType.INT8: 8,
    PgType.INT4: 4,
    PgType.DATE: 4,
    PgType.TIMESTAMPTZ: 8,
    PgType.BOOL: 1,
    PgType.FLOAT8: 8,
}


def pg_type(sql_type: TypeEngine[Any]) -> PgType:
    """The binary form a column of this SQLAlchemy type is written in; ValueError for a
    type the encoder does not write."""
    if isinstance(sql_type, UTCDateTime) or (isinstance(sql_type, DateTime) and sql_type.timezone):
        return PgType.TIMESTAMPTZ
    if isinstance(sql_type, BigInteger):
        return PgType.INT8
    if isinstance(sql_type, SmallInteger):
        raise ValueError("smallint (int2) columns are not written")
    if isinstance(sql_type, Integer):
        return PgType.INT4
    if isinstance(sql_type, Boolean):
        return PgType.BOOL
    if isinstance(sql_type, Date):
        return PgType.DATE
    if isinstance(sql_type, Float):  # before Numeric: Float is one
        if sql_type.precision is not None and sql_type.precision <= 24:
            raise ValueError("real (float4) columns are not written")
        return PgType.FLOAT8
    if isinstance(sql_type, Numeric):
        return PgType.NUMERIC
    if isinstance(sql_type, String) or (
        isinstance(sql_type, JSON) and not isinstance(sql_type, JSONB)
    ):
        return PgType.TEXT
    raise ValueError(f"no binary COPY encoding for {sql_type!r}")


def _plain(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


def _fixed_values(column: pa.Array, kind: PgType) -> npt.NDArray[np.uint8]:
    """Big-endian bytes of a fixed-width column, one row per line (NULLs as zeros)."""
    if kind is PgType.NUMERIC:
        return _numeric(column)
    if kind is PgType.BOOL:
        truth = pc.fill_null(column.cast(pa.bool_()), False).to_numpy(zero_copy_only=False)
        flags: npt.NDArray[np.uint8] = np.asarray(truth, dtype=np.uint8).reshape(-1, 1)
        return flags
    if kind is PgType.DATE:
        days = pc.fill_null(column.cast(pa.date32()), 0).cast(pa.int32()).to_numpy()
        encoded: npt.NDArray[np.generic] = (days - _EPOCH_DAYS).astype(">i4")
    elif kind is PgType.TIMESTAMPTZ:
        micros = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        encoded = (pc.fill_null(micros, 0).to_numpy() - _EPOCH_MICROSECONDS).astype(">i8")
    elif kind is PgType.INT4:
        encoded = pc.fill_null(column.cast(pa.int32()), 0).to_numpy().astype(">i4")
    elif kind is PgType.FLOAT8:
        encoded = pc.fill_null(column.cast(pa.float64()), 0.0).to_numpy().astype(">f8")
    else:
        encoded = pc.fill_null(column.cast(pa.int64()), 0).to_numpy().astype(">i8")
    return np.ascontiguousarray(encoded).view(np.uint8).reshape(-1, _WIDTHS[kind])


def _numeric(column: pa.Array) -> npt.NDArray[np.uint8]:
    """NUMERIC's binary form of a decimal128 column: digit count, weight (the power of
    10,000 of the first digit), sign and display scale as 16-bit integers, then the
    base-10,000 digits. Every value gets as many digits as the largest needs; the server
    strips leading and trailing zero digits (and fits the value to the column's scale,
    as it does with text). NULLs as zeros. Unscaled values must fit in 64 bits."""
    if not pa.types.is_decimal128(column.type) or column.type.scale < 0:
        raise TypeError(f"NUMERIC is written from decimal128 columns, not {column.type}")
    scale: int = column.type.scale
    count = len(column)
    words = np.frombuffer(column.buffers()[1], dtype="<i8").reshape(-1, 2)
    low, high = (words[column.offset : column.offset + count, i] for i in (0, 1))
    valid = ~column.is_null().to_numpy(zero_copy_only=False)
    fraction_digits = -(-scale // 4)
    shift = 10 ** (4 * fraction_digits - scale)  # to a whole number of fraction digits
    limit = (2**63 - 1) // shift
    unscaled = np.where(valid, low, 0)
    if np.any(valid & (high != (low >> 63))) or np.any(np.abs(unscaled) > limit):
        raise ValueError("NUMERIC values of more than 18 digits are not written")
    magnitude = np.abs(unscaled) * shift
    integer_digits = 1
    largest = int(magnitude.max()) if count else 0
    while largest >= _NUMERIC_BASE ** (fraction_digits + integer_digits):
        integer_digits += 1
    digits = integer_digits + fraction_digits
    fields = np.empty((count, 4 + digits), dtype=np.int64)
    fields[:, 0] = digits
    fields[:, 1] = integer_digits - 1
    fields[:, 2] = np.where(unscaled < 0, _NUMERIC_NEGATIVE, 0)
    fields[:, 3] = scale
    for position in range(3 + digits, 3, -1):
        fields[:, position] = magnitude % _NUMERIC_BASE
        magnitude //= _NUMERIC_BASE
    return np.ascontiguousarray(fields.astype(">i2")).view(np.uint8).reshape(count, -1)


def _text_matrix(column: pa.Array) -> tuple[Int64Array, npt.NDArray[np.uint8]]:
    """Byte length of each value (0 for NULL) and the values' UTF-8 bytes left-aligned in
    a matrix as wide as the longest one."""
    strings = column.cast(pa.large_string())
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int64)
    offsets = offsets[strings.offset : strings.offset + len(strings) + 1]
    lengths = np.diff(offsets)
    if strings.null_count:
        lengths = np.where(strings.is_null().to_numpy(zero_copy_only=False), 0, lengths)
    widest = int(lengths.max()) if len(lengths) else 0
    matrix = np.zeros((len(strings), widest), dtype=np.uint8)
    if widest:
        data = np.frombuffer(strings.buffers()[2], dtype=np.uint8)
        if strings.null_count:
            keep = np.repeat(lengths > 0, np.diff(offsets))
            data = data[offsets[0] : offsets[-1]][keep]
        else:
            data = data[offsets[0] : offsets[-1]]
        matrix[np.arange(widest) < lengths[:, None]] = data
    return lengths.astype(np.int64), matrix


def encode(table: pa.Table, types: Sequence[PgType], rows_per_block: int = 16_384) -> bytes:
    """The whole binary COPY stream (signature to trailer) for ``table``'s rows."""
    return b"".join(encode_blocks(table, types, rows_per_block))


def encode_blocks(
    table: pa.Table, types: Sequence[PgType], rows_per_block: int = 16_384
) -> Iterator[bytes]:
    """The binary COPY stream for ``table``'s rows in pieces: the signature, a block of
    rows at a time, the trailer (encoded while the server reads the previous block)."""
    if len(types) != table.num_columns:
        raise ValueError("one PostgreSQL type per column")
    yield SIGNATURE
    for start in range(0, table.num_rows, rows_per_block):
        yield _rows(table.slice(start, rows_per_block), types)
    yield TRAILER


def copy_statement(table: str, columns: Sequence[str]) -> str:
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT binary)"


def copy_rows(connection: Connection, table: Table, rows: pa.Table) -> None:
    """COPY ``rows`` (Arrow columns named after columns of ``table``) into ``table``, in
    the connection's transaction; each column is written in its SQL type's binary form
    (``pg_type``). Columns left out take their defaults (a serial id its next value)."""
    types = [pg_type(table.c[name].type) for name in rows.column_names]
    raw: Any = connection.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(copy_statement(table.name, rows.column_names)) as copy:
        for block in encode_blocks(rows, types):
            copy.write(block)


def _rows(table: pa.Table, types: Sequence[PgType]) -> bytes:
    """The rows of ``table`` without signature or trailer.

    Each row is first laid out in a fixed-width matrix (every field given the widest
    value's room) with a mask of the bytes in use; compressing the matrix by the mask,
    row after row, gives the variable-width rows of the format.
    """
    count = table.num_rows
    parts: list[tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_] | None]] = []
    header = np.frombuffer(np.array(len(types), dtype=">i2").tobytes(), dtype=np.uint8)
    parts.append((np.broadcast_to(header, (count, 2)), None))
    for i, kind in enumerate(types):
        column = _plain(table.column(i))
        nulls = (
            column.is_null().to_numpy(zero_copy_only=False)
            if column.null_count
            else np.zeros(count, dtype=bool)
        )
        used: npt.NDArray[np.bool_] | None = None  # None: every byte is in use
        if kind is PgType.TEXT:
            lengths, values = _text_matrix(column)
            if count and int(lengths.min()) < values.shape[1]:
                used = np.arange(values.shape[1]) < lengths[:, None]
        else:
            values = _fixed_values(column, kind)
            lengths = np.full(count, values.shape[1], dtype=np.int64)
            if column.null_count:
                used = np.broadcast_to(~nulls[:, None], values.shape)
        length = np.where(nulls, -1, lengths).astype(">i4").view(np.uint8).reshape(-1, 4)
        parts.append((length, None))
        parts.append((values, used))
    matrix = np.concatenate([values for values, _ in parts], axis=1)
    if all(mask is None for _, mask in parts):
        return matrix.tobytes()
    used_bytes = np.concatenate(
        [np.ones(values.shape, dtype=bool) if mask is None else mask for values, mask in parts],
        axis=1,
    )
    compressed: npt.NDArray[np.uint8] = matrix[used_bytes]
    return compressed.tobytes()
