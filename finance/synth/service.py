"""Generating, writing and loading a synthetic province.

``generate`` draws everything for a configuration (deterministic for its seed);
``write`` puts the department files, the malformed-row manifest and the lending files in a
directory; ``load`` sends the department files through the ingestion path (registration
first, since it creates the enterprises) and bulk-inserts banks, products, applications,
loans and their true default probabilities.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, Engine, Table, insert, select

from finance.core import migrate
from finance.core.dates import add_months
from finance.core.db import Base
from finance.govdata.categories import CATEGORIES, REGISTRY
from finance.ingestion.service import IngestResult, ingest_file
from finance.institutions.models import Bank
from finance.lending.models import Loan, LoanApplication, SyntheticLoanTruth
from finance.synth import identity
from finance.synth.demands import DemandSummary, load_demands
from finance.synth.departments import observe
from finance.synth.files import department_tables, write_table
from finance.synth.lending import LoanBook, loan_book
from finance.synth.malformed import Fault, MalformedRows, malformed_rows
from finance.synth.products import synthetic_terms
from finance.synth.province import Province, SynthConfig, generate_province
from products.models import LoanProduct
from products.service import publish_synthetic_versions

INSERT_BATCH = 5_000
INGESTED_BY = "finance synth"
MANIFEST = "malformed.csv"
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SyntheticProvince:
    config: SynthConfig
    province: Province
    tables: dict[str, pa.Table]  # valid rows per category
    malformed: dict[str, MalformedRows]
    book: LoanBook

    @property
    def rows(self) -> dict[str, int]:
        return {
            name: t.num_rows + self.malformed[name].table.num_rows
            for name, t in self.tables.items()
        }

    @property
    def malformed_rows(self) -> dict[str, int]:
        return {name: m.table.num_rows for name, m in self.malformed.items()}

    def fault_counts(self) -> dict[str, int]:
        counts = {fault.value: 0 for fault in Fault}
        for rows in self.malformed.values():
            for fault in rows.faults:
                counts[fault.value] += 1
        return counts


def generate(config: SynthConfig) -> SyntheticProvince:
    province = generate_province(config)
    observed = observe(province)
    tables = department_tables(province, observed)
    rng = config.rng(5)
    unregistered = identity.usccs(
        rng, np.full(64, "410100"), exclude=set(province.enterprises.uscc.tolist())
    ).tolist()
    before_window = [add_months(config.start, -k).strftime("%Y-%m") for k in range(1, 13)]
    malformed = {
        name: malformed_rows(
            rng, REGISTRY[name], table, config.malformed_rate, unregistered, before_window
        )
        for name, table in tables.items()
    }
    return SyntheticProvince(config, province, tables, malformed, loan_book(province, observed))


def _dates_text(values: pd.Series) -> pd.Series:
    text: pd.Series = values.dt.strftime("%Y-%m-%d").fillna("")
    return text


def write(
    synthetic: SyntheticProvince, out: Path, on_progress: Progress | None = None
) -> dict[str, Path]:
    """Write every file; returns category (or lending file) name -> path."""
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    manifest = []
    for number, (name, table) in enumerate(synthetic.tables.items(), start=1):
        path = out / f"{name}.csv"
        extra = synthetic.malformed[name]
        write_table(path, table, extra.table)
        first_line = table.num_rows + 2  # line 1 is the header
        manifest += [
            {"file": path.name, "line": first_line + i, "fault": fault.value, "column": column}
            for i, (fault, column) in enumerate(zip(extra.faults, extra.columns, strict=True))
        ]
        paths[name] = path
        if on_progress is not None:
            on_progress("write", number, len(synthetic.tables))
    pd.DataFrame(manifest, columns=["file", "line", "fault", "column"]).to_csv(
        out / MANIFEST, index=False
    )
    paths["malformed"] = out / MANIFEST
    book = synthetic.book
    for name, frame in (
        ("banks", book.banks.drop(columns="weight")),
        ("loan_products", book.products),
        ("loan_applications", book.applications),
        ("loans", book.loans),
        ("loan_truth", book.truth),
    ):
        frame = frame.copy()
        for column in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[column]):
                if column.endswith("_at"):
                    frame[column] = frame[column].dt.strftime("%Y-%m-%dT%H:%M:%SZ").fillna("")
                else:
                    frame[column] = _dates_text(frame[column])
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False, float_format="%.6g" if name == "loan_truth" else None)
        paths[name] = path
    return paths


@dataclass
class LoadSummary:
    ingested: dict[str, IngestResult] = field(default_factory=dict)
    banks: int = 0
    products: int = 0
    applications: int = 0
    loans: int = 0
    truths: int = 0
    demands: DemandSummary = field(default_factory=DemandSummary)

    @property
    def rows_rejected(self) -> int:
        return sum(r.rows_rejected for r in self.ingested.values())


def load(
    engine: Engine,
    synthetic: SyntheticProvince,
    paths: dict[str, Path],
    on_progress: Progress | None = None,
) -> LoadSummary:
    """Migrate if needed, ingest the department files, then insert the loan book."""
    if not migrate.at_head(engine):
        migrate.upgrade(engine)
    summary = LoadSummary()
    as_of = synthetic.config.end_date
    ordered = sorted(CATEGORIES, key=lambda c: not c.creates_enterprises)
    for category in ordered:

        def report(done: int, expected: int, name: str = category.name) -> None:
            if on_progress is not None:
                on_progress(f"ingest {name}", done, max(done, expected))

        summary.ingested[category.name] = ingest_file(
            engine,
            category.name,
            paths[category.name],
            as_of=as_of,
            ingested_by=INGESTED_BY,
            on_progress=report,
        )
    with engine.begin() as connection:
        _insert_book(connection, synthetic, summary)
        summary.demands = load_demands(connection, synthetic.province)
    return summary


def _table_of(model: type[Base]) -> Table:
    return Base.metadata.tables[model.__tablename__]


def _batches(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), INSERT_BATCH):
        yield rows[start : start + INSERT_BATCH]


def _insert_returning_ids(
    connection: Connection, table: Table, rows: list[dict[str, Any]]
) -> list[int]:
    ids: list[int] = []
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    for batch in _batches(rows):
        ids += [int(i) for i in connection.execute(statement, batch).scalars()]
    return ids


def _existing(connection: Connection, table: Table, codes: Iterable[str]) -> dict[str, int]:
    wanted = list(codes)
    rows = connection.execute(select(table.c.code, table.c.id).where(table.c.code.in_(wanted)))
    return {str(code): int(row_id) for code, row_id in rows}


def _utc(values: pd.Series) -> list[dt.datetime | None]:
    return [None if pd.isna(v) else v.to_pydatetime().replace(tzinfo=dt.UTC) for v in values]


def _day(values: pd.Series) -> list[dt.date | None]:
    return [None if pd.isna(v) else v.date() for v in pd.to_datetime(values)]


def _insert_book(
    connection: Connection, synthetic: SyntheticProvince, summary: LoadSummary
) -> None:
    """Banks and products are reused by code; applications, loans and truths are inserted
    unless this seed's loans are already there (a re-load changes nothing)."""
    book = synthetic.book
    seed = synthetic.config.seed
    banks_table = _table_of(Bank)
    products_table = _table_of(LoanProduct)
    bank_ids = _existing(connection, banks_table, book.banks["code"])
    new_banks = book.banks[~book.banks["code"].isin(bank_ids)]
    if len(new_banks):
        rows = [
            {
                "code": b.code,
                "name": b.name,
                "name_en": b.name_en,
                "kind": b.kind,
                "synthetic": True,
            }
            for b in new_banks.itertuples()
        ]
        bank_ids.update(
            zip(
                new_banks["code"], _insert_returning_ids(connection, banks_table, rows), strict=True
            )
        )
        summary.banks = len(rows)
    product_ids = _existing(connection, products_table, book.products["code"])
    new_products = book.products[~book.products["code"].isin(product_ids)]
    if len(new_products):
        records = new_products.to_dict("records")
        identities = [
            {"bank_id": bank_ids[p["bank_code"]], "code": p["code"], "synthetic": True}
            for p in records
        ]
        new_ids = _insert_returning_ids(connection, products_table, identities)
        product_ids.update(zip(new_products["code"], new_ids, strict=True))
        publish_synthetic_versions(
            connection,
            [
                (product_id, bank_ids[p["bank_code"]], synthetic_terms(p))
                for product_id, p in zip(new_ids, records, strict=True)
            ],
            at=dt.datetime.combine(synthetic.config.start, dt.time(), dt.UTC),
        )
        summary.products = len(identities)
    truth_table = _table_of(SyntheticLoanTruth)
    already = connection.execute(
        select(truth_table.c.loan_id).where(truth_table.c.seed == seed).limit(1)
    ).first()
    if already is not None or book.applications.empty:
        return
    applications = book.applications
    application_rows = [
        {
            "uscc": uscc,
            "product_id": product_ids[product],
            "bank_id": bank_ids[bank],
            "amount_fen": int(amount),
            "term_months": int(term),
            "applied_at": applied,
            "status": status,
            "decided_at": decided,
            "channel": "online",
            "synthetic": True,
        }
        for uscc, product, bank, amount, term, applied, status, decided in zip(
            applications["uscc"],
            applications["product_code"],
            applications["bank_code"],
            applications["amount_fen"],
            applications["term_months"],
            _utc(applications["applied_at"]),
            applications["status"],
            _utc(applications["decided_at"]),
            strict=True,
        )
    ]
    applications_table = _table_of(LoanApplication)
    loans_table = _table_of(Loan)
    application_ids = dict(
        zip(
            applications["ref"],
            _insert_returning_ids(connection, applications_table, application_rows),
            strict=True,
        )
    )
    loans = book.loans.assign(
        application_id=book.loans["application_ref"].map(application_ids),
        bank_id=book.loans["bank_code"].map(bank_ids),
        product_id=book.loans["product_code"].map(product_ids),
    )
    dates = {
        name: _day(loans[name])
        for name in ("disbursed_on", "maturity_on", "defaulted_on", "settled_on")
    }
    loan_rows = [
        {
            "application_id": int(loan["application_id"]),
            "uscc": loan["uscc"],
            "bank_id": int(loan["bank_id"]),
            "product_id": int(loan["product_id"]),
            "amount_fen": int(loan["amount_fen"]),
            "term_months": int(loan["term_months"]),
            "rate_pct": Decimal(f"{loan['rate_pct']:.2f}"),
            "guarantee": loan["guarantee"],
            **{name: values[index] for name, values in dates.items()},
            "status": loan["status"],
            "max_days_past_due": int(loan["max_days_past_due"]),
            "synthetic": True,
        }
        for index, loan in enumerate(loans.to_dict("records"))
    ]
    loan_ids = _insert_returning_ids(connection, loans_table, loan_rows)
    truth_rows = [
        {"loan_id": loan_id, "true_pd": float(pd_value), "seed": seed}
        for loan_id, pd_value in zip(loan_ids, book.truth["true_pd"], strict=True)
    ]
    for batch in _batches(truth_rows):
        connection.execute(insert(truth_table), batch)
    summary.applications = len(application_rows)
    summary.loans = len(loan_rows)
    summary.truths = len(truth_rows)
