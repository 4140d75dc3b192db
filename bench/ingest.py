"""Ingestion throughput: a 1,000,000-row tax file validated and loaded into SQLite and
PostgreSQL through ``finance.ingestion.service.ingest_file``.

Baselines in the same process, on the same file: pandas reading the file alone (the parse
floor) and a bare bulk load of the same rows into an unindexed, unvalidated copy of the
table (executemany on SQLite, COPY on PostgreSQL). The bare load's time includes reading
the file and, on PostgreSQL, pandas writing it out as CSV text for COPY; the COPY alone is
printed beside it. Printed: seconds, rows/s, the client's CPU seconds (the database
server's are not counted) and the ratio of full ingestion to each baseline. With
``--repeat N`` each backend loads into N fresh databases and medians are printed. The
data are SYNTHETIC (random, seeded).

    python bench/ingest.py [--rows 1000000] [--repeat 1] [--no-pg]
                           [--pg postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from stdnum.cn import ric

from finance.core import db, migrate
from finance.enterprises.uscc import with_check_character
from finance.govdata.categories import get_category
from finance.ingestion.service import ingest_file

MONTHS = 24
AS_OF = dt.date(2025, 1, 31)
LEGAL_REP_ID = "41010019800101123" + ric.calc_check_digit("41010019800101123" + "0")


def make_files(rows: int, folder: Path, seed: int = 7) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    enterprises = rows // MONTHS
    codes = [with_check_character(f"91410100MA{i:07d}") for i in range(enterprises)]
    registration = pd.DataFrame(
        {
            "uscc": codes,
            "event_date": "2020-01-01",
            "event_type": "establishment",
            "name": [f"郑州基准测试{i}有限公司" for i in range(enterprises)],
            "legal_rep_name": "王芳",
            "legal_rep_id_number": LEGAL_REP_ID,
            "founded_on": "2018-05-01",
            "registered_capital": "1000000",
            "status": "存续",
            "division_code": "410100",
            "industry_division": "13",
            "employees": rng.integers(1, 300, enterprises),
            "revenue": rng.integers(10_000, 50_000_000, enterprises),
            "total_assets": rng.integers(10_000, 50_000_000, enterprises),
        }
    ).reindex(columns=get_category("registration").file_columns, fill_value="")
    periods = [f"{2023 + m // 12}-{m % 12 + 1:02d}" for m in range(MONTHS)]
    n = enterprises * MONTHS
    tax = pd.DataFrame(
        {
            "uscc": np.repeat(codes, MONTHS),
            "period": np.tile(periods, enterprises),
            "vat_paid": (rng.gamma(2.0, 5000.0, n)).round(2),
            "cit_paid": (rng.gamma(1.5, 2000.0, n)).round(2),
            "iit_withheld": (rng.gamma(1.5, 300.0, n)).round(2),
            "other_paid": (rng.gamma(1.0, 100.0, n)).round(2),
            "arrears": np.where(rng.random(n) < 0.03, rng.integers(100, 100_000, n), 0),
            "credit_rating": rng.choice(list("ABMCD"), n, p=[0.3, 0.4, 0.2, 0.07, 0.03]),
        }
    )
    registration_path, tax_path = folder / "registration.csv", folder / "tax.csv"
    registration.to_csv(registration_path, index=False)
    tax.to_csv(tax_path, index=False)
    return registration_path, tax_path


def bare_load(url: str, tax_path: Path) -> tuple[float, float]:
    """Read the file and bulk-insert it untouched into an unindexed scratch table; returns
    (all seconds, seconds of the insert or COPY alone)."""
    engine = db.make_engine(url)
    started = time.perf_counter()
    frame = pd.read_csv(tax_path, dtype=str, keep_default_na=False)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS bench_bare"))
        columns = ", ".join(f"{c} TEXT" for c in frame.columns)
        connection.execute(text(f"CREATE TABLE bench_bare ({columns})"))
        raw: Any = connection.connection.driver_connection
        if engine.dialect.name == "postgresql":
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, header=False)
            payload = buffer.getvalue()
            copying = time.perf_counter()
            with (
                raw.cursor() as cursor,
                cursor.copy("COPY bench_bare FROM STDIN WITH (FORMAT csv)") as copy,
            ):
                copy.write(payload)
        else:
            rows = list(frame.itertuples(index=False))
            copying = time.perf_counter()
            marks = ", ".join("?" for _ in frame.columns)
            raw.executemany(f"INSERT INTO bench_bare VALUES ({marks})", rows)
        inserted = time.perf_counter() - copying
        connection.execute(text("DROP TABLE bench_bare"))
    engine.dispose()
    return time.perf_counter() - started, inserted


def run_backend(
    name: str,
    fresh_database: Callable[[], tuple[str, Callable[[], None]]],
    registration: Path,
    tax: Path,
    rows: int,
    repeat: int,
) -> None:
    first_seconds, first_cpu, rerun_seconds = [], [], []
    for _ in range(repeat):
        url, drop = fresh_database()
        try:
            engine = db.make_engine(url)
            migrate.upgrade(engine)
            reg = ingest_file(engine, "registration", registration, as_of=AS_OF)
            assert reg.exit_code == 0, reg.as_dict()
            cpu = time.process_time()
            first = ingest_file(engine, "tax", tax, as_of=AS_OF)
            first_cpu.append(time.process_time() - cpu)
            assert first.exit_code == 0, first.as_dict()
            assert first.rows_written == rows, first.as_dict()
            again = ingest_file(engine, "tax", tax, as_of=AS_OF)
            assert again.rows_written == 0, again.as_dict()
            engine.dispose()
            first_seconds.append(first.seconds)
            rerun_seconds.append(again.seconds)
            bare, bare_insert = bare_load(url, tax)
        finally:
            drop()
    loaded = statistics.median(first_seconds)
    rerun = statistics.median(rerun_seconds)
    insert_name = "COPY" if name == "PostgreSQL" else "executemany"
    print(
        f"{name:<11} first load {loaded:6.1f} s = {rows / loaded:>9,.0f} rows/s "
        f"(client CPU {statistics.median(first_cpu):5.1f} s) | "
        f"idempotent re-run {rerun:6.1f} s = {rows / rerun:>9,.0f} rows/s | "
        f"bare load {bare:5.1f} s = {rows / bare:>9,.0f} rows/s "
        f"({insert_name} alone {bare_insert:4.1f} s = {rows / bare_insert:>9,.0f} rows/s) | "
        f"ingest/bare time ratio {loaded / bare:4.2f}"
        + (f" | medians of {repeat}" if repeat > 1 else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    rows = args.rows - args.rows % MONTHS
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        started = time.perf_counter()
        registration, tax = make_files(rows, folder)
        print(
            f"generated {rows:,} tax rows for {rows // MONTHS:,} enterprises "
            f"({tax.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s"
        )
        parse = []
        for _ in range(3):
            t0 = time.perf_counter()
            pd.read_csv(tax, dtype=str, keep_default_na=False)
            parse.append(time.perf_counter() - t0)
        floor = statistics.median(parse)
        print(f"pandas parse only (median of 3): {floor:.2f} s = {rows / floor:,.0f} rows/s")

        def sqlite_database() -> tuple[str, Callable[[], None]]:
            path = folder / f"bench-{uuid.uuid4().hex[:8]}.db"

            def drop() -> None:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)

            return f"sqlite:///{path}", drop

        run_backend("SQLite", sqlite_database, registration, tax, rows, args.repeat)
        if not args.no_pg:
            admin_url = make_url(args.pg.replace("postgresql://", "postgresql+psycopg://", 1))
            admin = create_engine(admin_url.set(database="postgres"), isolation_level="AUTOCOMMIT")

            def postgresql_database() -> tuple[str, Callable[[], None]]:
                name = f"finance_bench_{uuid.uuid4().hex[:8]}"
                with admin.connect() as connection:
                    connection.execute(text(f'CREATE DATABASE "{name}"'))

                def drop() -> None:
                    with admin.connect() as connection:
                        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

                return admin_url.set(database=name).render_as_string(hide_password=False), drop

            try:
                run_backend("PostgreSQL", postgresql_database, registration, tax, rows, args.repeat)
            finally:
                admin.dispose()


if __name__ == "__main__":
    main()
