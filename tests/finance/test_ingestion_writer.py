"""The category writer's two ways of writing a chunk: straight into the table when none of
its keys exists yet, or through the upsert. Both must leave the same rows, lineage
included, on SQLite and PostgreSQL; and PostgreSQL's binary COPY encoding must read back
exactly what was encoded."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    DateTime,
    Engine,
    Float,
    Integer,
    Numeric,
    SmallInteger,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from finance.core.pgcopy import PgType, encode, pg_type
from finance.govdata.categories import get_category
from finance.govdata.models import data_table
from finance.ingestion.validation import validate_chunk
from finance.ingestion.writer import CategoryWriter
from tests.builders import months, registration_row, tax_row, uscc

AS_OF = dt.date(2025, 1, 31)
NOW = dt.datetime(2025, 2, 3, 4, 5, 6, 789_000, tzinfo=dt.UTC)
A, B = uscc(1), uscc(2, city="410400")


def _judicial(code: str, number: str, **overrides: str) -> dict[str, str]:
    row = {
        "uscc": code,
        "case_number": number,
        "filed_on": "2023-03-01",
        "case_type": "民事",
        "role": "被告",
        "cause": "买卖合同纠纷",
        "amount": "12000.50",
        "status": "已结案",
        "closed_on": "2023-09-30",
        "dishonest_debtor": "否",
    }
    return {**row, **overrides}


ROWS: dict[str, list[dict[str, str]]] = {
    "tax": [
        tax_row(code, period, credit_rating=rating)
        for code in (A, B)
        for period, rating in zip(months(2023, 1, 24), "ABMCD" * 5 + "", strict=False)
    ]
    + [tax_row(A, "2021-01", credit_rating="")],
    "judicial": [
        _judicial(A, "(2023)豫0105民初1号"),
        _judicial(A, "(2023)豫0105民初2号", amount="", closed_on="", status="审理中"),
        _judicial(B, "(2024)豫0402执3号", case_type="执行", role="被执行人", dishonest_debtor="是"),
    ],
    "registration": [
        registration_row(A),
        registration_row(A, event_date="2023-05-31", event_type="annual_report", employees="40"),
        registration_row(
            B,
            event_type="change",
            change_item="住所",
            before_value="郑州市",
            after_value="平顶山市",
            employees="",
            revenue="",
            total_assets="",
        ),
    ],
}


def _accepted(category: str) -> pd.DataFrame:
    spec = get_category(category)
    rows = ROWS[category]
    frame = pd.DataFrame([[row.get(c, "") for c in spec.file_columns] for row in rows])
    frame.columns = spec.file_columns
    frame.insert(0, "line", range(2, len(rows) + 2))
    checked = validate_chunk(frame, spec, known_usccs=None, seen_keys={}, latest=AS_OF)
    assert checked.rejections.empty, checked.rejections.to_dict("records")
    return checked.accepted


def _contents(connection: Connection, category: str) -> list[tuple[Any, ...]]:
    table = data_table(category)
    key = [column for column in table.c if column.primary_key]
    return [tuple(row) for row in connection.execute(select(table).order_by(*key))]


def _staging_exists(connection: Connection, category: str) -> bool:
    name = f"staging_{data_table(category).name}"
    if connection.dialect.name != "postgresql":
        return False
    found = connection.execute(text("SELECT to_regclass(:name)"), {"name": f"pg_temp.{name}"})
    return found.scalar_one() is not None


@pytest.mark.parametrize("category", ["tax", "judicial", "registration"])
def test_new_rows_and_upserted_rows_leave_the_same_table(engine: Engine, category: str) -> None:
    accepted = _accepted(category)
    lineage: dict[str, Any] = {"source": "dept", "ingested_at": NOW, "as_of": AS_OF}
    with engine.connect() as connection:
        with connection.begin() as transaction:
            writer = CategoryWriter(connection, get_category(category))
            assert writer.write(accepted, batch_id=7, **lineage) == len(accepted)
            assert not _staging_exists(connection, category)  # straight into the table
            direct = _contents(connection, category)
            transaction.rollback()
        with connection.begin() as transaction:
            writer = CategoryWriter(connection, get_category(category))
            # One key is already there with other values, so the chunk has to be upserted.
            stale = accepted.iloc[[0]].assign(uscc=accepted["uscc"].iloc[0])
            money = next(c for c in stale.columns if c.endswith("_fen"))
            stale[money] = 1
            assert writer.write(stale, batch_id=6, **lineage) == 1
            assert writer.write(accepted, batch_id=7, **lineage) == len(accepted)
            assert _staging_exists(connection, category) == (connection.dialect.name != "sqlite")
            upserted = _contents(connection, category)
            assert writer.write(accepted, batch_id=8, **lineage) == 0  # nothing changed
            assert _contents(connection, category) == upserted  # lineage of batch 7 kept
            transaction.rollback()
    assert len(direct) == len(accepted)
    assert upserted == direct


def test_binary_copy_reads_back_what_was_encoded(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's COPY format")
    values = {
        "t": pa.array(["91410100MA0000001X", None, "", "河南省郑州市", "a\tb\n\\N"]),
        "i8": pa.array([0, None, -1, 2**62, -(2**62)], pa.int64()),
        "i4": pa.array([1, -2, None, 2**31 - 1, -(2**31)], pa.int32()),
        "d": pa.array(
            [dt.date(2000, 1, 1), dt.date(1999, 12, 31), None, dt.date(1900, 1, 1), AS_OF],
            pa.date32(),
        ),
        "ts": pa.array([NOW, None, dt.datetime(1970, 1, 1, tzinfo=dt.UTC), NOW, NOW]).cast(
            pa.timestamp("us", tz="UTC")
        ),
        "b": pa.array([True, False, None, True, False]),
    }
    table = pa.table(values)
    types = [PgType.TEXT, PgType.INT8, PgType.INT4, PgType.DATE, PgType.TIMESTAMPTZ, PgType.BOOL]
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TEMP TABLE copied (n serial, t text, i8 bigint, i4 integer, d date, "
                "ts timestamptz, b boolean)"
            )
        )
        raw: Any = connection.connection.driver_connection
        with (
            raw.cursor() as cursor,
            cursor.copy("COPY copied (t, i8, i4, d, ts, b) FROM STDIN (FORMAT binary)") as copy,
        ):
            copy.write(encode(table, types, rows_per_block=2))  # blocks of 2, 2 and 1 rows
        rows = connection.execute(text("SELECT t, i8, i4, d, ts, b FROM copied ORDER BY n")).all()
    assert [tuple(row) for row in rows] == [
        tuple(values[name][i].as_py() for name in values) for i in range(table.num_rows)
    ]


def test_binary_copy_reads_back_floats_numerics_and_json(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's COPY format")
    numbers = ["5.14", "0", "-0.0001", "123.4567", None, "-999.9999"]
    whole = [10**17, -12_345_678_901_234, 0, None, 10_000, 9_999]
    values = {
        "f": pa.array([0.1, -1e300, None, 5e-324, float("inf"), 2.0 / 3]),
        # numeric(7, 4), numeric(18, 0), and an unconstrained numeric that keeps the scale
        "rate": pa.array([None if n is None else Decimal(n) for n in numbers], pa.decimal128(7, 4)),
        "big": pa.array([None if n is None else Decimal(n) for n in whole], pa.decimal128(18, 0)),
        "free": pa.array(
            [
                Decimal("1.50"),
                Decimal("-2"),
                None,
                Decimal("0.001"),
                Decimal("7"),
                Decimal("100000000.5"),
            ],
            pa.decimal128(12, 3),
        ),
        "j": pa.array(['{"zh": "近6个月有欠税记录"}', "[]", None, '[{"n": 1}]', "{}", '"x"']),
    }
    table = pa.table(values)
    types = [PgType.FLOAT8, PgType.NUMERIC, PgType.NUMERIC, PgType.NUMERIC, PgType.TEXT]
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TEMP TABLE copied (n serial, f double precision, rate numeric(7, 4), "
                "big numeric(18, 0), free numeric, j json)"
            )
        )
        raw: Any = connection.connection.driver_connection
        with (
            raw.cursor() as cursor,
            cursor.copy("COPY copied (f, rate, big, free, j) FROM STDIN (FORMAT binary)") as copy,
        ):
            copy.write(encode(table, types, rows_per_block=4))
        rows = connection.execute(
            text("SELECT f, rate, big, free::text, j::text FROM copied ORDER BY n")
        ).all()
    assert [row[0] for row in rows] == values["f"].to_pylist()
    assert [row[1] for row in rows] == [None if n is None else Decimal(n) for n in numbers]
    assert [row[2] for row in rows] == [None if n is None else Decimal(n) for n in whole]
    assert [row[3] for row in rows] == ["1.500", "-2.000", None, "0.001", "7.000", "100000000.500"]
    assert [row[4] for row in rows] == values["j"].to_pylist()  # json keeps its text


def test_the_sql_types_the_encoder_writes() -> None:
    assert pg_type(Numeric(7, 4)) is PgType.NUMERIC
    assert pg_type(Float()) is PgType.FLOAT8
    assert pg_type(JSON()) is PgType.TEXT
    assert pg_type(BigInteger().with_variant(Integer(), "sqlite")) is PgType.INT8
    for unwritten in (JSONB(), SmallInteger(), Float(precision=24), DateTime()):
        with pytest.raises(ValueError, match=r"not written|no binary COPY"):
            pg_type(unwritten)
