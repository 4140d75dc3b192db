"""Department files: one CSV per category in the forms ingestion accepts (UTF-8, header =
the category's file columns, money in yuan with two decimals, ``YYYY-MM`` months,
``YYYY-MM-DD`` dates, enums as Chinese labels or codes, ``true``/``false``, empty for
missing optional values). Tables are built as Arrow columns and written by Arrow's CSV
writer, which is what makes millions of rows cheap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from finance.govdata.categories import REGISTRY, Category
from finance.synth.departments import Observed
from finance.synth.province import BoolArray, Province

MONEY = pa.decimal128(20, 2)
CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="none")


def money(fen: npt.ArrayLike, missing: BoolArray | None = None) -> pa.Array:
    """Integer fen as a two-decimal yuan column, built straight from the unscaled integers."""
    fen = np.ascontiguousarray(fen, dtype=np.int64)
    unscaled = np.empty((len(fen), 2), dtype=np.int64)
    unscaled[:, 0] = fen
    unscaled[:, 1] = fen >> 63  # sign extension to 128 bits (little-endian)
    column = pa.Array.from_buffers(MONEY, len(fen), [None, pa.py_buffer(unscaled)])
    if missing is None:
        return column
    return pa.compute.if_else(pa.array(missing), pa.scalar(None, MONEY), column)


def dates(days: npt.NDArray[np.datetime64]) -> pa.Array:
    text = np.datetime_as_string(days.astype("datetime64[D]"), unit="D")
    return pa.array(text, mask=np.isnat(days))


def text(values: npt.ArrayLike, mapping: dict[str, str] | None = None) -> pa.Array:
    """A string column from many values with few distinct ones (optionally relabelled):
    each distinct value is converted once and the column is gathered by index."""
    codes, uniques = pd.factorize(np.asarray(values).ravel())
    distinct = [str(u) for u in uniques]
    if mapping is not None:
        distinct = [mapping[u] for u in distinct]
    return pa.array(distinct, pa.string()).take(pa.array(codes))


def gather(values: npt.NDArray[np.str_], index: npt.NDArray[np.intp]) -> pa.Array:
    """Per-enterprise strings repeated per row: converted once, gathered by index."""
    return pa.array(values.tolist(), pa.string()).take(pa.array(index))


def labels(category: Category, column: str, codes: npt.ArrayLike) -> pa.Array:
    """Enum codes as their Chinese labels (the form departments write)."""
    return text(codes, {choice.code: choice.zh for choice in category.column(column).choices})


def _table(category: Category, columns: dict[str, pa.Array | npt.ArrayLike]) -> pa.Table:
    if list(columns) != category.file_columns:
        raise ValueError(f"{category.name}: columns {list(columns)} != {category.file_columns}")
    return pa.table(
        {
            name: pa.array(values) if not isinstance(values, pa.Array) else values
            for name, values in columns.items()
        }
    )


def _monthly(
    province: Province, rows: BoolArray, columns: dict[str, pa.Array | npt.ArrayLike]
) -> dict[str, pa.Array | npt.ArrayLike]:
    """uscc and period for every (enterprise, month) of the window, enterprise-major."""
    months = province.months[province.window]
    usccs = pa.array(province.enterprises.uscc[rows].tolist(), pa.string())
    count = len(usccs)
    periods = pa.array(np.datetime_as_string(months, unit="M").tolist(), pa.string())
    return {
        "uscc": usccs.take(pa.array(np.repeat(np.arange(count), len(months)))),
        "period": periods.take(pa.array(np.tile(np.arange(len(months)), count))),
        **columns,
    }


def department_tables(province: Province, observed: Observed) -> dict[str, pa.Table]:
    ent = province.enterprises
    every = np.ones(len(ent), dtype=bool)
    o = observed

    def flat(values: npt.NDArray[np.generic], rows: BoolArray = every) -> npt.NDArray[np.generic]:
        return values[rows].ravel()

    tax = REGISTRY["tax"]
    tables = {
        "registration": _registration(province, observed),
        "tax": _table(
            tax,
            _monthly(
                province,
                every,
                {
                    "vat_paid": money(flat(o.vat)),
                    "cit_paid": money(flat(o.cit)),
                    "iit_withheld": money(flat(o.iit)),
                    "other_paid": money(flat(o.other_tax)),
                    "arrears": money(flat(o.tax_arrears)),
                    "credit_rating": text(flat(o.credit_rating)),
                },
            ),
        ),
        "social_insurance": _table(
            REGISTRY["social_insurance"],
            _monthly(
                province,
                o.insured,
                {
                    "insured_employees": flat(o.insured_employees, o.insured),
                    "contributions_paid": money(flat(o.contributions, o.insured)),
                    "arrears": money(flat(o.social_arrears, o.insured)),
                },
            ),
        ),
        "housing_fund": _table(
            REGISTRY["housing_fund"],
            _monthly(
                province,
                o.housing,
                {
                    "contributors": flat(o.contributors, o.housing),
                    "amount": money(flat(o.housing_amount, o.housing)),
                },
            ),
        ),
        "utilities": _table(
            REGISTRY["utilities"],
            _monthly(
                province,
                every,
                {
                    "electricity_kwh": flat(o.electricity_kwh),
                    "water_m3": flat(o.water_m3),
                    "overdue_bills": money(flat(o.overdue_bills)),
                },
            ),
        ),
        "customs": _table(
            REGISTRY["customs"],
            _monthly(
                province,
                o.trader,
                {
                    "import_value": money(flat(o.import_value, o.trader)),
                    "export_value": money(flat(o.export_value, o.trader)),
                    "customs_credit": labels(
                        REGISTRY["customs"], "customs_credit", flat(o.customs_credit, o.trader)
                    ),
                },
            ),
        ),
        "judicial": _judicial(province, o.judicial),
        "penalties": _penalties(province, o.penalties),
        "ip": _ip(province, o.ip),
        "procurement": _procurement(province, o.procurement),
    }
    return tables


def _uscc(province: Province, events: pd.DataFrame) -> pa.Array:
    return gather(province.enterprises.uscc, events["enterprise"].to_numpy())


def _judicial(province: Province, cases: pd.DataFrame) -> pa.Table:
    category = REGISTRY["judicial"]
    amount = cases["amount"].to_numpy()
    return _table(
        category,
        {
            "uscc": _uscc(province, cases),
            "case_number": cases["case_number"].to_numpy(dtype=object),
            "filed_on": dates(cases["filed_on"].to_numpy()),
            "case_type": labels(category, "case_type", cases["case_type"]),
            "role": labels(category, "role", cases["role"]),
            "cause": cases["cause"].to_numpy(dtype=object),
            "amount": money(np.maximum(amount, 0), amount < 0),
            "status": labels(category, "status", cases["status"]),
            "closed_on": dates(cases["closed_on"].to_numpy()),
            "dishonest_debtor": np.where(cases["dishonest_debtor"], "true", "false"),
        },
    )


def _penalties(province: Province, penalties: pd.DataFrame) -> pa.Table:
    category = REGISTRY["penalties"]
    amount = penalties["amount"].to_numpy()
    repaired = penalties["repaired"].to_numpy(dtype=object)
    return _table(
        category,
        {
            "uscc": _uscc(province, penalties),
            "decision_number": penalties["decision_number"].to_numpy(dtype=object),
            "decided_on": dates(penalties["decided_on"].to_numpy()),
            "authority": penalties["authority"].to_numpy(dtype=object),
            "reason": penalties["reason"].to_numpy(dtype=object),
            "penalty_type": labels(category, "penalty_type", penalties["penalty_type"]),
            "amount": money(np.maximum(amount, 0), amount < 0),
            "repaired": pa.array(repaired, mask=repaired == ""),
        },
    )


def _ip(province: Province, ip: pd.DataFrame) -> pa.Table:
    category = REGISTRY["ip"]
    return _table(
        category,
        {
            "uscc": _uscc(province, ip),
            "registration_number": ip["registration_number"].to_numpy(dtype=object),
            "ip_type": labels(category, "ip_type", ip["ip_type"]),
            "title": ip["title"].to_numpy(dtype=object),
            "granted_on": dates(ip["granted_on"].to_numpy()),
            "status": labels(category, "status", ip["status"]),
        },
    )


def _procurement(province: Province, awards: pd.DataFrame) -> pa.Table:
    return _table(
        REGISTRY["procurement"],
        {
            "uscc": _uscc(province, awards),
            "award_id": awards["award_id"].to_numpy(dtype=object),
            "awarded_on": dates(awards["awarded_on"].to_numpy()),
            "purchaser": awards["purchaser"].to_numpy(dtype=object),
            "project": awards["project"].to_numpy(dtype=object),
            "amount": money(awards["amount"].to_numpy()),
            "contract_months": awards["contract_months"].to_numpy(),
        },
    )


def _registration(province: Province, observed: Observed) -> pa.Table:
    """Snapshots: establishment, each annual report and each change, every one carrying
    the full record as of its date (capital after any earlier change, the figures of the
    latest annual report filed by then)."""
    category = REGISTRY["registration"]
    ent = province.enterprises
    count = len(ent)
    reports = observed.annual_reports
    changes = observed.changes
    events = pd.concat(
        [
            pd.DataFrame(
                {
                    "enterprise": np.arange(count),
                    "event_date": ent.founded_on.astype("datetime64[s]"),
                    "event_type": "establishment",
                    "order": 0,
                }
            ),
            reports.assign(event_type="annual_report", order=1)[
                ["enterprise", "event_date", "event_type", "order"]
            ],
            changes.assign(event_type="change", order=2)[
                [
                    "enterprise",
                    "event_date",
                    "event_type",
                    "order",
                    "change_item",
                    "before_value",
                    "after_value",
                ]
            ],
        ],
        ignore_index=True,
    )
    events["event_date"] = events["event_date"].astype("datetime64[s]")
    events = events.sort_values(["event_date", "enterprise", "order"], kind="stable")
    figures = reports.assign(event_date=reports["event_date"].astype("datetime64[s]"))[
        ["enterprise", "event_date", "employees", "revenue", "assets"]
    ].sort_values(["event_date", "enterprise"], kind="stable")
    events = pd.merge_asof(events, figures, on="event_date", by="enterprise")
    events = events.sort_values(["enterprise", "event_date", "order"], kind="stable")
    enterprise = events["enterprise"].to_numpy()

    capital = ent.registered_capital_yuan[enterprise].copy()
    raises = changes[changes["change_item"] == "注册资本"]
    raised_on = np.full(count, np.datetime64("NaT"), dtype="datetime64[s]")
    raised_on[raises["enterprise"].to_numpy()] = raises["event_date"].to_numpy()
    new_capital = np.zeros(count, dtype=np.int64)
    new_capital[raises["enterprise"].to_numpy()] = raises["new_capital_yuan"].to_numpy()
    after_raise = events["event_date"].to_numpy() >= raised_on[enterprise]
    capital = np.where(after_raise, new_capital[enterprise], capital)

    employees = events["employees"].to_numpy()
    missing = np.isnan(employees)
    change_item = events["change_item"].to_numpy(dtype=object)
    return _table(
        category,
        {
            "uscc": gather(ent.uscc, enterprise),
            "event_date": dates(events["event_date"].to_numpy()),
            "event_type": labels(category, "event_type", events["event_type"]),
            "change_item": pa.array(change_item, mask=pd.isna(change_item)),
            "before_value": pa.array(
                events["before_value"].to_numpy(dtype=object), mask=pd.isna(change_item)
            ),
            "after_value": pa.array(
                events["after_value"].to_numpy(dtype=object), mask=pd.isna(change_item)
            ),
            "name": gather(ent.name, enterprise),
            "legal_rep_name": gather(ent.legal_rep_name, enterprise),
            "legal_rep_id_number": gather(ent.legal_rep_id_number, enterprise),
            "founded_on": dates(ent.founded_on[enterprise]),
            "registered_capital": money(capital * 100),
            "status": labels(category, "status", np.full(len(events), "active")),
            "division_code": gather(ent.city_code, enterprise),
            "industry_division": gather(ent.division, enterprise),
            "industry_class": pa.nulls(len(events), pa.string()),
            "employees": pa.array(np.nan_to_num(employees).astype(np.int64), mask=missing),
            "revenue": money(np.nan_to_num(events["revenue"].to_numpy()).astype(np.int64), missing),
            "total_assets": money(
                np.nan_to_num(events["assets"].to_numpy()).astype(np.int64), missing
            ),
        },
    )


def write_table(path: Path, table: pa.Table, extra: pa.Table | None = None) -> None:
    """Header line, the rows, then any extra (malformed) rows, in one UTF-8 file."""
    with path.open("wb") as sink:
        sink.write((",".join(table.column_names) + "\n").encode())
        pa_csv.write_csv(table, sink, CSV_OPTIONS)
        if extra is not None and extra.num_rows:
            pa_csv.write_csv(extra, sink, CSV_OPTIONS)
