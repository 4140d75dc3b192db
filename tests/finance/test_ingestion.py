"""Ingestion of department files: validation reasons and lines, exit statuses, encodings,
formats, idempotency, chunking, batches and data quality."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from finance.cli.main import app
from finance.enterprises.models import Enterprise
from finance.govdata.categories import get_category
from finance.govdata.models import data_table
from finance.ingestion.models import IngestBatch
from finance.ingestion.service import ingest_file
from tests.builders import months, registration_row, tax_row, uscc, write_csv

AS_OF = dt.date(2025, 1, 31)
A, B = uscc(1), uscc(2, city="410400")


def _rejections(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def registered(engine: Engine, tmp_path: Path) -> Engine:
    """Two enterprises registered through the registration category."""
    path = write_csv(
        tmp_path / "registration.csv",
        "registration",
        [registration_row(A), registration_row(B, name="平顶山测试商贸有限公司")],
    )
    result = ingest_file(engine, "registration", path, as_of=AS_OF)
    assert result.exit_code == 0, result.as_dict()
    return engine


def _tax_file(tmp_path: Path, rows: list[dict[str, str]], name: str = "tax.csv") -> Path:
    return write_csv(tmp_path / name, "tax", rows)


def test_registration_creates_the_registry(registered: Engine) -> None:
    with registered.connect() as connection:
        rows = connection.execute(select(Enterprise).order_by(Enterprise.uscc)).all()
    assert [(r.uscc, r.city_code, r.industry_section, r.size_class) for r in rows] == [
        (A, "410100", "C", "small"),
        (B, "410400", "C", "small"),
    ]
    assert rows[0].registered_capital_fen == 100_000_000
    assert rows[0].status == "active"


@pytest.mark.parametrize(
    ("override", "column", "reason"),
    [
        ({"uscc": uscc(1)[:17] + ("0" if uscc(1)[17] != "0" else "1")}, "uscc", "check character"),
        ({"uscc": uscc(99)}, "uscc", "unknown enterprise"),
        ({"uscc": ""}, "uscc", "required value missing"),
        ({"period": "2024-13"}, "period", "not a valid month (YYYY-MM)"),
        ({"period": "2025-06"}, "period", "after the extract's as-of date 2025-01-31"),
        ({"vat_paid": "-5"}, "vat_paid", "must be at least 0"),
        ({"vat_paid": "12.345"}, "vat_paid", "more than 2 decimal places"),
        ({"vat_paid": "twelve"}, "vat_paid", "not an amount in yuan"),
        ({"vat_paid": ""}, "vat_paid", "required value missing"),
        ({"credit_rating": "E"}, "credit_rating", "unknown value; expected one of: A, B, M, C, D"),
    ],
)
def test_each_bad_value_is_refused_with_its_reason_and_line(
    registered: Engine, tmp_path: Path, override: dict[str, str], column: str, reason: str
) -> None:
    rows = [tax_row(A, "2024-01"), {**tax_row(A, "2024-02"), **override}, tax_row(B, "2024-01")]
    result = ingest_file(registered, "tax", _tax_file(tmp_path, rows), as_of=AS_OF)
    assert result.exit_code == 1
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (3, 2, 1)
    assert result.report_path is not None
    report = _rejections(result.report_path)
    assert [(r["line"], r["column"]) for r in report] == [("3", column)]
    assert reason in report[0]["reason"]
    with registered.connect() as connection:
        assert connection.execute(select(data_table("tax").c.uscc)).all() == [(A,), (B,)]


def test_duplicates_inside_the_file_keep_the_first(registered: Engine, tmp_path: Path) -> None:
    rows = [tax_row(A, "2024-01"), tax_row(A, "2024-01", vat_paid="9"), tax_row(A, "2024-01")]
    result = ingest_file(registered, "tax", _tax_file(tmp_path, rows), as_of=AS_OF)
    assert (result.rows_accepted, result.rows_rejected, result.exit_code) == (1, 2, 1)
    assert result.report_path is not None
    reasons = [(r["line"], r["reason"]) for r in _rejections(result.report_path)]
    assert reasons == [
        ("3", "duplicate of line 2 (same uscc, period)"),
        ("4", "duplicate of line 2 (same uscc, period)"),
    ]
    with registered.connect() as connection:
        assert connection.execute(select(data_table("tax").c.vat_paid_fen)).scalar_one() == 120050


def test_a_line_with_extra_fields_is_refused_and_later_lines_keep_their_numbers(
    registered: Engine, tmp_path: Path
) -> None:
    path = _tax_file(tmp_path, [tax_row(A, "2024-01")])
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"{A},2024-02,1,1,1,1,0,B,surplus\n")
        handle.write(f"{A},2024-03,1,1,1,1,0,Q\n")
    result = ingest_file(registered, "tax", path, as_of=AS_OF)
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (3, 1, 2)
    assert result.report_path is not None
    report = _rejections(result.report_path)
    assert [(r["line"], r["column"]) for r in report] == [("3", ""), ("4", "credit_rating")]
    assert "malformed line: expected 8 fields, saw 9" in report[0]["reason"]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (["uscc", "period", "vat_paid"], "missing columns: cit_paid, iit_withheld"),
        (
            [*get_category("tax").file_columns, "bribes_paid"],
            "unexpected columns: bribes_paid",
        ),
        (["USCC", *get_category("tax").file_columns[1:]], "missing columns: uscc"),
    ],
)
def test_a_wrong_header_loads_nothing_and_names_the_columns(
    registered: Engine, tmp_path: Path, header: list[str], message: str
) -> None:
    path = write_csv(tmp_path / "tax.csv", "tax", [tax_row(A, "2024-01")], header=header)
    result = ingest_file(registered, "tax", path, as_of=AS_OF)
    assert result.exit_code == 2
    assert result.error is not None
    assert message in result.error
    assert result.report_path is None
    with registered.connect() as connection:
        assert connection.execute(select(data_table("tax").c.uscc)).all() == []
        batch = connection.execute(select(IngestBatch).order_by(IngestBatch.id.desc())).first()
    assert batch is not None
    assert batch.status == "unreadable"
    assert message in (batch.error or "")


def test_unreadable_files_exit_2(registered: Engine, tmp_path: Path) -> None:
    missing = ingest_file(registered, "tax", tmp_path / "absent.csv", as_of=AS_OF)
    assert (missing.exit_code, missing.error) == (2, f"{tmp_path / 'absent.csv'}: no such file")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"uscc,period\n\xff\xfe\xfa,2024-01\n")
    assert "neither UTF-8 nor GB18030" in (ingest_file(registered, "tax", latin).error or "")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert ingest_file(registered, "tax", empty).exit_code == 2
    odd = tmp_path / "tax.json"
    odd.write_text("{}")
    assert "unsupported file type .json" in (ingest_file(registered, "tax", odd).error or "")


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8-sig"])
def test_gb18030_and_bom_files_load(engine: Engine, tmp_path: Path, encoding: str) -> None:
    path = write_csv(
        tmp_path / "registration.csv",
        "registration",
        [registration_row(A, name="河南省郑州市某某机械制造有限公司", status="在业")],
        encoding=encoding,
    )
    if encoding == "gb18030":
        with pytest.raises(UnicodeDecodeError):
            path.read_text(encoding="utf-8")
    result = ingest_file(engine, "registration", path, as_of=AS_OF)
    assert result.exit_code == 0, result.as_dict()
    with engine.connect() as connection:
        name = connection.execute(select(Enterprise.name)).scalar_one()
    assert name == "河南省郑州市某某机械制造有限公司"


def test_rerunning_the_same_file_changes_nothing(registered: Engine, tmp_path: Path) -> None:
    rows = [tax_row(A, period) for period in months(2024, 1, 12)]
    path = _tax_file(tmp_path, rows)
    first = ingest_file(registered, "tax", path, as_of=AS_OF)
    table = data_table("tax")
    with registered.connect() as connection:
        before = connection.execute(select(table).order_by(table.c.uscc, table.c.period)).all()
    second = ingest_file(registered, "tax", path, as_of=AS_OF)
    with registered.connect() as connection:
        after = connection.execute(select(table).order_by(table.c.uscc, table.c.period)).all()
    assert (first.rows_written, second.rows_written, second.rows_accepted) == (12, 0, 12)
    assert before == after  # lineage included: the first load's batch id stays
    changed = [*rows[:11], tax_row(A, "2024-12", vat_paid="99")]
    third = ingest_file(registered, "tax", _tax_file(tmp_path, changed, "tax2.csv"), as_of=AS_OF)
    assert third.rows_written == 1
    with registered.connect() as connection:
        latest = connection.execute(
            select(table.c.vat_paid_fen, table.c.batch_id).where(
                table.c.period == dt.date(2024, 12, 1)
            )
        ).one()
    assert latest == (9900, third.batch_id)


def test_a_file_bigger_than_one_chunk(registered: Engine, tmp_path: Path) -> None:
    periods = months(2015, 1, 120)
    rows = [tax_row(code, p) for code in (A, B) for p in periods]
    rows[150] = tax_row(B, periods[30], arrears="-1")  # in the third chunk of 64
    rows.append(tax_row(A, periods[0]))  # duplicate of line 2, seen chunks earlier
    result = ingest_file(registered, "tax", _tax_file(tmp_path, rows), as_of=AS_OF, chunk_rows=64)
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (241, 239, 2)
    assert result.report_path is not None
    report = _rejections(result.report_path)
    assert [(r["line"], r["reason"]) for r in report] == [
        ("152", "must be at least 0"),
        ("242", "duplicate of line 2 (same uscc, period)"),
    ]


def test_xlsx_and_parquet_files_load(registered: Engine, tmp_path: Path) -> None:
    rows = [tax_row(A, p) for p in months(2024, 1, 6)]
    frame = pd.DataFrame(rows)
    frame.to_excel(tmp_path / "tax.xlsx", index=False)
    typed = frame.assign(vat_paid=frame["vat_paid"].astype(float), arrears=0)
    typed.to_parquet(tmp_path / "tax.parquet", index=False)
    xlsx = ingest_file(registered, "tax", tmp_path / "tax.xlsx", as_of=AS_OF)
    parquet = ingest_file(registered, "tax", tmp_path / "tax.parquet", as_of=AS_OF)
    assert (xlsx.exit_code, xlsx.rows_accepted, xlsx.rows_written) == (0, 6, 6)
    assert (parquet.exit_code, parquet.rows_accepted, parquet.rows_written) == (0, 6, 0)


def test_registration_keeps_the_registry_current(registered: Engine, tmp_path: Path) -> None:
    later = [
        registration_row(
            A,
            event_date="2024-05-31",
            event_type="annual_report",
            employees="400",
            revenue="30000000",
        ),
        registration_row(
            B,
            event_date="2019-01-01",
            event_type="change",
            name="更早的名称",
            founded_on="2018-06-01",
        ),
    ]
    path = write_csv(tmp_path / "registration2.csv", "registration", later)
    result = ingest_file(registered, "registration", path, as_of=AS_OF)
    assert (result.exit_code, result.enterprises_refreshed) == (0, 2)
    with registered.connect() as connection:
        rows = dict(connection.execute(select(Enterprise.uscc, Enterprise.size_class)).all())
        names = dict(connection.execute(select(Enterprise.uscc, Enterprise.name)).all())
    assert rows[A] == "medium"  # 400 staff and 3,000 万元 revenue reach the medium bounds
    assert names[B] == "平顶山测试商贸有限公司"  # an older event does not overwrite the newer


def test_batches_and_quality_are_recorded(registered: Engine, tmp_path: Path) -> None:
    rows = [tax_row(A, p) for p in months(2024, 1, 12)] + [tax_row(A, "2024-01")]
    path = _tax_file(tmp_path, rows)
    result = ingest_file(registered, "tax", path, as_of=AS_OF, ingested_by="ops-zhang")
    with registered.connect() as connection:
        batch = connection.execute(
            select(IngestBatch).where(IngestBatch.id == result.batch_id)
        ).one()
    assert batch.ingested_by == "ops-zhang"
    assert len(batch.file_sha256) == 64
    assert batch.file_bytes == path.stat().st_size
    assert (batch.rows_read, batch.rows_accepted, batch.rows_rejected) == (13, 12, 1)
    assert batch.status == "partial"
    assert batch.source_department == "tax_bureau"

    runner = CliRunner()
    quality = json.loads(runner.invoke(app, ["quality", "--category", "tax", "--json"]).stdout)
    tax = quality["categories"][0]
    assert tax["records"] == 12
    assert tax["enterprises_covered"] == 1
    assert tax["coverage"] == 0.5
    assert tax["rejection_rate"] == round(1 / 13, 6)
    assert tax["latest_data_date"] == "2024-12-01"
    assert tax["column_completeness"]["credit_rating"] == 1.0
    listed = json.loads(runner.invoke(app, ["batches", "--json"]).stdout)
    assert [b["category"] for b in listed["items"]] == ["tax", "registration"]


def test_cli_exit_statuses_and_json(registered: Engine, tmp_path: Path) -> None:
    runner = CliRunner()
    good = _tax_file(tmp_path, [tax_row(A, "2024-01")], "good.csv")
    some_bad = _tax_file(tmp_path, [tax_row(A, "2024-02"), tax_row(A, "x")], "bad.csv")
    ok = runner.invoke(app, ["ingest", "tax", str(good), "--as-of", "2025-01-31", "--json"])
    assert ok.exit_code == 0
    assert json.loads(ok.stdout)["files"][0]["rows_written"] == 1
    partial = runner.invoke(app, ["ingest", "tax", str(some_bad), "--as-of", "2025-01-31"])
    assert partial.exit_code == 1
    assert (tmp_path / "bad.csv.rejected.csv").exists()
    report = tmp_path / "custom-report.csv"
    runner.invoke(app, ["ingest", "tax", str(some_bad), "--report", str(report)])
    assert _rejections(report)[0]["line"] == "3"
    unreadable = runner.invoke(
        app, ["ingest", "tax", str(good), str(tmp_path / "nope.csv"), "--json"]
    )
    assert unreadable.exit_code == 2
    payload = json.loads(unreadable.stdout)
    assert [f["exit_code"] for f in payload["files"]] == [0, 2]
    unknown = runner.invoke(app, ["ingest", "horoscope", str(good)])
    assert unknown.exit_code == 2
    assert "unknown category" in unknown.output


def test_categories_command_lists_the_file_columns() -> None:
    runner = CliRunner()
    listed = json.loads(runner.invoke(app, ["categories", "--json"]).stdout)
    assert [c["name"] for c in listed["categories"]][:2] == ["registration", "tax"]
    tax = json.loads(runner.invoke(app, ["categories", "tax", "--json"]).stdout)["categories"][0]
    assert tax["scope"] == "data:tax"
    assert [c["name"] for c in tax["columns"]][:2] == ["period", "vat_paid_fen"]
    assert runner.invoke(app, ["categories", "gossip"]).exit_code == 2
