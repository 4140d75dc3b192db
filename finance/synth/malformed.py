"""Deliberately malformed extra rows for the department files (about 1% of each file),
so every load exercises the rejection path. Each is a copy of a real row with one fault;
the real rows are never touched. The kinds and the reasons ingestion gives are listed in
``docs/synthetic.md``."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from finance.enterprises.uscc import ALPHABET
from finance.govdata.categories import Category, Kind, Period


class Fault(enum.StrEnum):
    BAD_CHECK_CHARACTER = "bad_check_character"  # USCC with a wrong mod-31 check character
    UNKNOWN_ENTERPRISE = "unknown_enterprise"  # a valid USCC that is not registered
    BAD_DATE = "bad_date"  # 2025-13 as a month, 2025-02-30 as a date
    NEGATIVE_MONEY = "negative_money"  # a negative amount of yuan
    UNKNOWN_ENUM = "unknown_enum"  # an enumeration value outside the registry's choices
    DUPLICATE_ROW = "duplicate_row"  # an exact copy of a real row
    MISSING_REQUIRED = "missing_required"  # a required value left empty


@dataclass(frozen=True, slots=True)
class MalformedRows:
    table: pa.Table  # all-text rows in the category's file columns
    faults: list[Fault]
    columns: list[str]  # the column each fault is in


def faults_for(category: Category) -> list[Fault]:
    """The faults that apply to a category: no unknown enterprise where rows create
    enterprises, no negative money or unknown enum where there is no such column."""
    kinds = [c.kind for c in category.columns]
    faults = list(Fault)
    if category.creates_enterprises:
        faults.remove(Fault.UNKNOWN_ENTERPRISE)
    if Kind.MONEY not in kinds:
        faults.remove(Fault.NEGATIVE_MONEY)
    if Kind.ENUM not in kinds:
        faults.remove(Fault.UNKNOWN_ENUM)
    return faults


def _text(table: pa.Table) -> dict[str, list[str | None]]:
    return {
        name: pc.cast(table.column(name), pa.string()).to_pylist() for name in table.column_names
    }


def malformed_rows(
    rng: np.random.Generator,
    category: Category,
    table: pa.Table,
    rate: float,
    unregistered: list[str],
    before_window: list[str],
) -> MalformedRows:
    """``round(rate * rows)`` (at least one, none for an empty file) faulty copies of
    randomly chosen real rows.
    Copies other than exact duplicates get a natural key no real row has (a month before
    the window, or a suffixed event number) so each is refused for its own fault."""
    count = max(1, round(rate * table.num_rows)) if table.num_rows else 0
    faults = faults_for(category)
    offset = int(rng.integers(0, len(faults)))
    chosen = [faults[(offset + i) % len(faults)] for i in range(count)]
    templates = rng.choice(table.num_rows, size=count, replace=count > table.num_rows)
    rows = _text(table.take(pa.array(templates)))
    money = (
        next(c.name for c in category.columns if c.kind is Kind.MONEY)
        if Fault.NEGATIVE_MONEY in faults
        else ""
    )
    enum_column = next((c.name for c in category.columns if c.kind is Kind.ENUM), "")
    required = next(
        c.name
        for c in category.columns
        if c.required and c.name not in category.key and c.name != category.date_column
    )
    date = category.date_column
    columns: list[str] = []
    for i, fault in enumerate(chosen):
        if fault is not Fault.DUPLICATE_ROW:
            if category.period is Period.MONTHLY:
                rows[date][i] = before_window[i % len(before_window)]
            elif category.creates_enterprises:
                rows["event_type"][i] = "变更"
                rows["change_item"][i] = "住所"
            else:
                key = category.key[0]
                rows[key][i] = f"{rows[key][i]}-{i + 1}"
        uscc = rows["uscc"][i] or ""
        match fault:
            case Fault.BAD_CHECK_CHARACTER:
                wrong = ALPHABET[(ALPHABET.index(uscc[-1]) + 1 + i % 30) % 31]
                rows["uscc"][i] = uscc[:-1] + wrong
                columns.append("uscc")
            case Fault.UNKNOWN_ENTERPRISE:
                rows["uscc"][i] = unregistered[i % len(unregistered)]
                columns.append("uscc")
            case Fault.BAD_DATE:
                year = (rows[date][i] or "2025")[:4]
                rows[date][i] = (
                    f"{year}-13" if category.period is Period.MONTHLY else f"{year}-02-30"
                )
                columns.append(date)
            case Fault.NEGATIVE_MONEY:
                value = rows[money][i]
                rows[money][i] = f"-{value}" if value and value.strip("0.") else "-100.00"
                columns.append(money)
            case Fault.UNKNOWN_ENUM:
                rows[enum_column][i] = "未知"
                columns.append(enum_column)
            case Fault.DUPLICATE_ROW:
                columns.append("uscc")
            case Fault.MISSING_REQUIRED:
                rows[required][i] = None
                columns.append(required)
    order = rng.permutation(count)
    shuffled = {name: [values[j] for j in order] for name, values in rows.items()}
    return MalformedRows(
        table=pa.table(
            {name: pa.array(shuffled[name], pa.string()) for name in table.column_names}
        ),
        faults=[chosen[j] for j in order],
        columns=[columns[j] for j in order],
    )
