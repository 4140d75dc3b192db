"""Generating, writing and loading a synthetic province.

``generate`` draws everything for a configuration (deterministic for its seed);
``write`` puts the department files, the malformed-row manifest and the lending files in a
directory; ``load`` sends the department files through the ingestion path (registration
first, since it creates the enterprises) and bulk-inserts banks, products, applications,
loans and their true default probabilities.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, Engine, Table, select

from finance.core import migrate
from finance.core.dates import add_months
from finance.core.db import Base
from finance.govdata.categories import CATEGORIES, REGISTRY
from finance.ingestion.service import IngestResult, ingest_file
from finance.institutions.models import Bank
from finance.lending.models import (
    ApplicationDecision,
    ApplicationTransition,
    Instalment,
    Loan,
    LoanApplication,
    Repayment,
    SyntheticLoanTruth,
)
from finance.synth import bulk, identity
from finance.synth.demands import DemandSummary, load_demands
from finance.synth.departments import observe
from finance.synth.files import department_tables, write_table
from finance.synth.lending import LoanBook, loan_book
from finance.synth.malformed import Fault, MalformedRows, malformed_rows
from finance.synth.products import synthetic_terms
from finance.synth.province import Province, SynthConfig, generate_province
from products.models import LoanProduct, ProductVersion, VersionStatus
from products.service import publish_synthetic_versions

_RECORDED = pd.Timedelta(hours=2)  # when a synthetic repayment is recorded (10:00 Beijing)
_APPLICATION_TIMES = (
    "applied_at",
    "decided_at",
    "submitted_at",
    "data_collected_at",
    "accepted_at",
    "disbursed_at",
    "offer_expires_at",
    "status_changed_at",
)
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
    book_seconds: float = 0.0  # banks and products to the true PDs
    demands_seconds: float = 0.0  # the demand market's simulation

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
        clock = time.perf_counter()
        _insert_book(connection, synthetic, summary)
        summary.book_seconds = time.perf_counter() - clock
        summary.demands = load_demands(connection, synthetic.province)
        summary.demands_seconds = time.perf_counter() - clock - summary.book_seconds
    return summary


def _table_of(model: type[Base]) -> Table:
    return Base.metadata.tables[model.__tablename__]


def _existing(connection: Connection, table: Table, codes: Iterable[str]) -> dict[str, int]:
    wanted = list(codes)
    rows = connection.execute(select(table.c.code, table.c.id).where(table.c.code.in_(wanted)))
    return {str(code): int(row_id) for code, row_id in rows}


def _utc(values: pd.Series) -> pd.Series:
    """The generator's naive times are UTC."""
    localized: pd.Series = values.dt.tz_localize(dt.UTC)
    return localized


def _insert_book(
    connection: Connection, synthetic: SyntheticProvince, summary: LoadSummary
) -> None:
    """Banks and products are reused by code; applications, loans and truths are inserted
    unless this seed's loans are already there (a re-load changes nothing)."""
    book = synthetic.book
    seed = synthetic.config.seed
    banks_table = _table_of(Bank)
    products_table = _table_of(LoanProduct)
    now = dt.datetime.now(dt.UTC)
    bank_ids = _existing(connection, banks_table, book.banks["code"])
    new_banks = book.banks[~book.banks["code"].isin(bank_ids)]
    if len(new_banks):
        bank_rows = new_banks[["code", "name", "name_en", "kind"]].assign(
            synthetic=True, created_at=now
        )
        new_ids = bulk.insert_returning_ids(connection, banks_table, bank_rows)
        bank_ids.update(zip(new_banks["code"], new_ids, strict=True))
        summary.banks = len(bank_rows)
    product_ids = _existing(connection, products_table, book.products["code"])
    new_products = book.products[~book.products["code"].isin(product_ids)]
    if len(new_products):
        product_rows = pd.DataFrame(
            {
                "bank_id": new_products["bank_code"].map(bank_ids),
                "code": new_products["code"],
                "synthetic": True,
                "created_at": now,
            }
        )
        new_ids = bulk.insert_returning_ids(connection, products_table, product_rows)
        product_ids.update(zip(new_products["code"], new_ids, strict=True))
        publish_synthetic_versions(
            connection,
            [
                (product_id, bank_ids[p["bank_code"]], synthetic_terms(p))
                for product_id, p in zip(new_ids, new_products.to_dict("records"), strict=True)
            ],
            at=dt.datetime.combine(synthetic.config.start, dt.time(), dt.UTC),
        )
        summary.products = len(product_rows)
    truth_table = _table_of(SyntheticLoanTruth)
    already = connection.execute(
        select(truth_table.c.loan_id).where(truth_table.c.seed == seed).limit(1)
    ).first()
    if already is not None or book.applications.empty:
        return
    version_ids = _online_versions(connection, product_ids.values())
    applications = book.applications
    product_of = applications["product_code"].map(product_ids)
    application_rows = pd.DataFrame(
        {
            "uscc": applications["uscc"],
            "product_id": product_of,
            "product_version_id": product_of.map(version_ids).astype("Int64"),
            "bank_id": applications["bank_code"].map(bank_ids),
            **{
                name: applications[name]
                for name in ("amount_fen", "term_months", "status", "repayment_method", "version")
            },
            "channel": "online",
            "synthetic": True,
            **{name: _utc(applications[name]) for name in _APPLICATION_TIMES},
        }
    )
    application_ids = dict(
        zip(
            applications["ref"],
            bulk.insert_returning_ids(connection, _table_of(LoanApplication), application_rows),
            strict=True,
        )
    )
    _insert_decisions(connection, book, application_ids)
    loans = book.loans
    loan_rows = loans.drop(
        columns=["ref", "application_ref", "bank_code", "product_code", "rate_pct"]
    ).assign(
        application_id=loans["application_ref"].map(application_ids),
        bank_id=loans["bank_code"].map(bank_ids),
        product_id=loans["product_code"].map(product_ids),
        rate_pct=pd.Series(
            [Decimal(f"{rate:.2f}") for rate in loans["rate_pct"]], loans.index, dtype=object
        ),
        synthetic=True,
        created_at=now,
    )
    loan_ids = bulk.insert_returning_ids(connection, _table_of(Loan), loan_rows)
    _insert_schedules(connection, book, dict(zip(loans["ref"], loan_ids, strict=True)))
    truth_rows = pd.DataFrame(
        {"loan_id": loan_ids, "true_pd": book.truth["true_pd"].to_numpy(), "seed": seed}
    )
    bulk.insert(connection, truth_table, truth_rows)
    summary.applications = len(application_rows)
    summary.loans = len(loan_rows)
    summary.truths = len(truth_rows)


def _online_versions(connection: Connection, product_ids: Iterable[int]) -> dict[int, int]:
    """Product id -> its online version's id (the synthetic products' version 1)."""
    table = _table_of(ProductVersion)
    rows = connection.execute(
        select(table.c.product_id, table.c.id).where(
            table.c.product_id.in_(list(product_ids)),
            table.c.status == VersionStatus.ONLINE.value,
        )
    )
    return {int(product_id): int(version_id) for product_id, version_id in rows}


def _insert_decisions(
    connection: Connection, book: LoanBook, application_ids: dict[str, int]
) -> None:
    """The decision of every decided application and every application's transitions."""
    decisions = book.decisions
    count = len(decisions)
    decision_rows = decisions.drop(columns="application_ref").assign(
        application_id=decisions["application_ref"].map(application_ids),
        decided_at=_utc(decisions["decided_at"]),
        rules=pd.Series([[] for _ in range(count)], decisions.index, dtype=object),
        data_reads=pd.Series([{} for _ in range(count)], decisions.index, dtype=object),
        **{
            name: decisions[name].astype("Int64")
            for name in ("amount_fen", "term_months", "fees_fen")
        },
    )
    bulk.insert(connection, _table_of(ApplicationDecision), decision_rows)
    transitions = book.transitions
    transition_rows = transitions.drop(columns="application_ref").assign(
        application_id=transitions["application_ref"].map(application_ids)
    )
    bulk.insert(connection, _table_of(ApplicationTransition), transition_rows)


def _insert_schedules(connection: Connection, book: LoanBook, loan_ids: dict[str, int]) -> None:
    """Every loan's instalments and repayments."""
    instalments = book.instalments
    bulk.insert(
        connection,
        _table_of(Instalment),
        instalments.drop(columns="loan_ref").assign(loan_id=instalments["loan_ref"].map(loan_ids)),
    )
    repayments = book.repayments
    paid_on = pd.to_datetime(repayments["paid_on"])
    bulk.insert(
        connection,
        _table_of(Repayment),
        repayments.drop(columns="loan_ref").assign(
            loan_id=repayments["loan_ref"].map(loan_ids),
            recorded_by=INGESTED_BY,  # recorded on the day paid
            recorded_at=_utc(paid_on + _RECORDED),
        ),
    )
