"""Benchmark of the synthetic province: enterprises per second generated (and written as
department files) and loaded through ingestion into fresh SQLite and PostgreSQL databases.

    python bench/synth.py                                # 100,000 enterprises x 24 months
    python bench/synth.py --enterprises 5000 --months 18 --repeat 3 --backend sqlite

Generation and loading are timed separately; with --repeat N the medians are printed.
The last run's load is also broken down by category (ingestion seconds and rows/s), then
the loan book's insert and the demand market's simulation.
The PostgreSQL database is created fresh on the server given by --pg-url and dropped after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from finance.core import migrate
from finance.core.db import make_engine
from finance.core.settings import Settings
from finance.synth.province import SynthConfig
from finance.synth.service import generate, load, write


@contextmanager
def sqlite_database(directory: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{directory / f'bench-{uuid.uuid4().hex[:8]}.db'}")
    migrate.upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def postgresql_database(server_url: str) -> Iterator[Engine]:
    url = make_url(Settings(database_url=server_url).sqlalchemy_url)
    name = f"bench_synth_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(url.set(database=name).render_as_string(hide_password=False))
    try:
        migrate.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--end", default="2026-10", help="last month, YYYY-MM")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--backend", action="append", choices=["sqlite", "postgresql"], help="default: both"
    )
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    backends = args.backend or ["sqlite", "postgresql"]
    end = dt.datetime.strptime(args.end, "%Y-%m").date()
    config = SynthConfig(enterprises=args.enterprises, months=args.months, seed=args.seed, end=end)

    generate_seconds: list[float] = []
    load_seconds: dict[str, list[float]] = {backend: [] for backend in backends}
    breakdown: dict[str, str] = {}
    rows = 0
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="bench-synth-") as scratch:
            directory = Path(scratch)
            clock = time.perf_counter()
            synthetic = generate(config)
            paths = write(synthetic, directory / "files")
            generate_seconds.append(time.perf_counter() - clock)
            rows = sum(synthetic.rows.values())
            for backend in backends:
                database = (
                    sqlite_database(directory)
                    if backend == "sqlite"
                    else postgresql_database(args.pg_url)
                )
                with database as engine:
                    clock = time.perf_counter()
                    summary = load(engine, synthetic, paths)
                    load_seconds[backend].append(time.perf_counter() - clock)
                    ingested = sum(r.seconds for r in summary.ingested.values())
                    parts = [
                        f"{name} {r.seconds:.1f} s ({r.rows_read / r.seconds:,.0f}/s)"
                        for name, r in summary.ingested.items()
                    ]
                    rest = load_seconds[backend][-1] - ingested
                    breakdown[backend] = ", ".join(parts) + (
                        f"; after ingestion {rest:.1f} s: loan book {summary.book_seconds:.1f} s,"
                        f" demands {summary.demands_seconds:.1f} s"
                    )
                    refused = summary.rows_rejected
                    expected = sum(synthetic.malformed_rows.values())
                    if refused != expected:
                        raise SystemExit(f"{backend}: {refused} rows refused, {expected} malformed")

    enterprises = args.enterprises
    print(
        f"synthetic province: {enterprises:,} enterprises x {args.months} months, "
        f"{rows:,} department rows, {len(synthetic.book.loans):,} loans, "
        f"repeat {args.repeat} (medians)"
    )
    generated = statistics.median(generate_seconds)
    print(
        f"generate + write files: {generated:8.1f} s"
        f"  {enterprises / generated:10,.0f} enterprises/s  {rows / generated:12,.0f} rows/s"
    )
    for backend, seconds in load_seconds.items():
        loaded = statistics.median(seconds)
        total = generated + loaded
        print(
            f"load into {backend:<11}:  {loaded:8.1f} s"
            f"  {enterprises / loaded:10,.0f} enterprises/s  {rows / loaded:12,.0f} rows/s"
            f"   end-to-end {total:6.1f} s"
            f"  ({enterprises / total:,.0f} enterprises/s)"
        )
        print(f"  {backend} by category (last run): {breakdown[backend]}")


if __name__ == "__main__":
    main()
