"""The engine's JSON text and the binary-results execution option (``finance.core.db``)."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Engine, literal, select

from finance.core.db import BINARY_RESULTS, json_text

VALUES = select(
    literal(b"\x00\x01\xff"),
    literal(1.5),
    literal(7),
    literal(dt.date(2026, 2, 28)),
    literal("企业"),
    literal(None),
)


def test_binary_results_give_the_same_values_as_text(engine: Engine) -> None:
    """The option changes how PostgreSQL sends the rows, never what the driver returns;
    SQLite ignores it."""
    with engine.connect() as connection:
        plain = connection.execute(VALUES)
        plain_rows, plain_format = plain.cursor.fetchall(), getattr(plain.cursor, "format", None)
        plain.close()
        binary = connection.execute(VALUES, execution_options={BINARY_RESULTS: True})
        binary_rows, binary_format = (
            binary.cursor.fetchall(),
            getattr(binary.cursor, "format", None),
        )
        binary.close()
    assert binary_rows == plain_rows
    assert [type(v) for v in binary_rows[0]] == [type(v) for v in plain_rows[0]]
    if engine.dialect.name == "postgresql":
        assert int(plain_format) == 0  # text
        assert int(binary_format) == 1  # binary
        assert binary_rows[0][0] == b"\x00\x01\xff"


def test_json_text_is_compact_utf8_and_reads_back_equal() -> None:
    value = {"zh": "企业成立时间短", "value": None, "contribution": 0.1194, "n": [1, 2.5]}
    stored = json_text(value)
    assert stored == '{"zh":"企业成立时间短","value":null,"contribution":0.1194,"n":[1,2.5]}'
    assert json.loads(stored) == value
