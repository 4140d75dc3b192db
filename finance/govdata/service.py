"""Reading department data: one enterprise's records by category and date range, and a
profile of headline figures across categories."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    Select,
    Table,
    and_,
    bindparam,
    case,
    func,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from finance.core.dates import add_months
from finance.core.errors import Invalid, NotFound
from finance.enterprises import registry
from finance.enterprises.models import Enterprise
from finance.enterprises.schemas import mask_id_number
from finance.enterprises.service import get_enterprise, to_out
from finance.govdata.categories import CATEGORIES, REGISTRY, Category, Kind
from finance.govdata.models import data_table
from finance.govdata.schemas import CategoryOut, ColumnOut, RecordsPage

MAX_PAGE = 1000


def describe(category: Category) -> CategoryOut:
    return CategoryOut(
        name=category.name,
        scope=category.scope,
        zh=category.zh,
        en=category.en,
        department=category.department,
        department_zh=category.department_zh,
        period=category.period.value,
        date_column=category.date_column,
        key=list(category.key),
        sensitivity=category.sensitivity.value,
        description=category.description,
        columns=[
            ColumnOut(
                name=c.db_name,
                kind=c.kind.value,
                zh=c.zh,
                en=c.en,
                required=c.required,
                choices=[choice.code for choice in c.choices] or None,
            )
            for c in category.columns
        ],
    )


def category_or_404(name: str) -> Category:
    category = REGISTRY.get(name)
    if category is None:
        raise NotFound(
            f"unknown data category {name!r}", known_categories=[c.name for c in CATEGORIES]
        )
    return category


def _order_columns(category: Category, table: Table) -> list[Any]:
    """Date first, then the natural key: a total order within one enterprise."""
    names = [category.date_column, *(n for n in category.key if n != category.date_column)]
    return [table.c[category.column(n).db_name] for n in names]


def _encode_cursor(values: list[Any]) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, dt.date) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, columns: list[Any]) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValueError("cursor shape")
        return [
            dt.date.fromisoformat(v) if isinstance(c.type, Date) else str(v)
            for v, c in zip(values, columns, strict=True)
        ]
    except (ValueError, TypeError) as exc:
        raise Invalid("cursor is not one this API issued", cursor=cursor) from exc


@lru_cache(maxsize=64)
def _id_number_columns(category_name: str) -> tuple[str, ...]:
    category = REGISTRY[category_name]
    return tuple(c.db_name for c in category.columns if c.kind is Kind.ID_NUMBER)


def _public_row(category: Category, row: dict[str, Any]) -> dict[str, Any]:
    for name in _id_number_columns(category.name):
        if row.get(name):
            row[name] = mask_id_number(row[name])
    return row


@lru_cache(maxsize=256)
def _records_query(
    category_name: str, with_from: bool, with_to: bool, with_cursor: bool
) -> Select[Any]:
    """The page query of one shape, built once: its values are bound parameters."""
    category = REGISTRY[category_name]
    table = data_table(category.name)
    day = table.c[category.date_column]
    query = select(table).where(table.c.uscc == bindparam("uscc"))
    if with_from:
        query = query.where(day >= bindparam("date_from", type_=day.type))
    if with_to:
        query = query.where(day <= bindparam("date_to", type_=day.type))
    order = _order_columns(category, table)
    if with_cursor:
        after = [bindparam(f"after_{i}", type_=c.type) for i, c in enumerate(order)]
        query = query.where(tuple_(*order) > tuple_(*after))
    return query.order_by(*order).limit(bindparam("limit"))


def records_page(
    connection: Connection,
    uscc: str,
    category_name: str,
    *,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> RecordsPage:
    """Records of one category for one enterprise, oldest first, ``date_from`` and
    ``date_to`` inclusive, in pages linked by an opaque cursor."""
    category = category_or_404(category_name)
    if date_from and date_to and date_from > date_to:
        raise Invalid("date_from is after date_to", date_from=date_from, date_to=date_to)
    limit = max(1, min(limit, MAX_PAGE))
    table = data_table(category.name)
    order = _order_columns(category, table)
    values: dict[str, Any] = {"uscc": uscc, "limit": limit + 1}
    if date_from is not None:
        values["date_from"] = date_from
    if date_to is not None:
        values["date_to"] = date_to
    if cursor is not None:
        for index, value in enumerate(_decode_cursor(cursor, order)):
            values[f"after_{index}"] = value
    query = _records_query(
        category.name, date_from is not None, date_to is not None, cursor is not None
    )
    fetched = connection.execute(query, values).mappings().all()
    more = len(fetched) > limit
    rows = [dict(row) for row in fetched[:limit]]
    items = [_public_row(category, row) for row in rows]
    next_cursor = _encode_cursor([rows[-1][c.name] for c in order]) if more else None
    # Built from values of the declared types already: no validation pass.
    return RecordsPage.model_construct(
        uscc=uscc,
        category=category.name,
        date_from=date_from,
        date_to=date_to,
        items=items,
        next_cursor=next_cursor,
    )


def _window_sums(
    session: Session,
    table: Table,
    uscc: str,
    as_of: dt.date,
    columns: Iterable[str],
    floor: dt.date = dt.date.min,
) -> dict[str, Any]:
    """Sums over the last 12 months and the 12 before them, for monthly categories;
    nothing dated before ``floor`` counts."""
    recent_start, prior_start = add_months(as_of, -11), max(add_months(as_of, -23), floor)
    period = table.c.period
    parts = []
    for name in columns:
        column = table.c[name]
        parts.append(func.sum(case((period >= recent_start, column), else_=0)).label(name))
        parts.append(
            func.sum(case((period < recent_start, column), else_=0)).label(f"{name}_prior_12m")
        )
    row = (
        session.execute(
            select(*parts).where(table.c.uscc == uscc, period >= prior_start, period <= as_of)
        )
        .mappings()
        .one()
    )
    return {
        (key if key.endswith("_prior_12m") else f"{key}_12m"): int(value or 0)
        for key, value in row.items()
    }


def _latest(
    session: Session,
    table: Table,
    uscc: str,
    as_of: dt.date,
    columns: Iterable[str],
    floor: dt.date = dt.date.min,
) -> dict[str, Any]:
    row = (
        session.execute(
            select(table.c.period, *(table.c[c] for c in columns))
            .where(table.c.uscc == uscc, table.c.period <= as_of, table.c.period >= floor)
            .order_by(table.c.period.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return (
        {"latest_period": None}
        if row is None
        else {"latest_period": row["period"], **{f"latest_{c}": row[c] for c in columns}}
    )


def _tax(session: Session, uscc: str, as_of: dt.date, floor: dt.date) -> dict[str, Any]:
    table = data_table("tax")
    sums = _window_sums(
        session, table, uscc, as_of, ["vat_paid_fen", "cit_paid_fen", "iit_withheld_fen"], floor
    )
    latest = _latest(session, table, uscc, as_of, ["arrears_fen", "credit_rating"], floor)
    return {**sums, **latest}


def _social(session: Session, uscc: str, as_of: dt.date, floor: dt.date) -> dict[str, Any]:
    table = data_table("social_insurance")
    latest = _latest(session, table, uscc, as_of, ["insured_employees", "arrears_fen"], floor)
    year_ago = (
        session.scalar(
            select(table.c.insured_employees).where(
                table.c.uscc == uscc, table.c.period == add_months(as_of, -12)
            )
        )
        if add_months(as_of, -12) >= floor
        else None
    )
    return {**latest, "insured_employees_12m_ago": year_ago}


def _housing(session: Session, uscc: str, as_of: dt.date, floor: dt.date) -> dict[str, Any]:
    table = data_table("housing_fund")
    return {
        **_window_sums(session, table, uscc, as_of, ["amount_fen"], floor),
        **_latest(session, table, uscc, as_of, ["contributors"], floor),
    }


def _utilities(session: Session, uscc: str, as_of: dt.date, floor: dt.date) -> dict[str, Any]:
    table = data_table("utilities")
    return {
        **_window_sums(session, table, uscc, as_of, ["electricity_kwh", "water_m3"], floor),
        **_latest(session, table, uscc, as_of, ["overdue_bills_fen"], floor),
    }


def _customs(session: Session, uscc: str, as_of: dt.date, floor: dt.date) -> dict[str, Any]:
    return _window_sums(
        session,
        data_table("customs"),
        uscc,
        as_of,
        ["import_value_fen", "export_value_fen"],
        floor,
    )


def _judicial(session: Session, uscc: str, as_of: dt.date, floor: dt.date) -> dict[str, Any]:
    table = data_table("judicial")
    adverse = table.c.role.in_(("defendant", "respondent"))
    row = (
        session.execute(
            select(
                func.count().label("cases"),
                func.sum(case((adverse, 1), else_=0)).label("cases_as_defendant"),
                func.sum(case((and_(adverse, table.c.status != "closed"), 1), else_=0)).label(
                    "open_cases_as_defendant"
                ),
                func.sum(case((table.c.case_type == "enforcement", 1), else_=0)).label(
                    "enforcement_cases"
                ),
                func.max(case((table.c.dishonest_debtor, 1), else_=0)).label("dishonest_debtor"),
            ).where(table.c.uscc == uscc, table.c.filed_on <= as_of, table.c.filed_on >= floor)
        )
        .mappings()
        .one()
    )
    summary = {key: int(value or 0) for key, value in row.items()}
    summary["dishonest_debtor"] = bool(summary["dishonest_debtor"])
    return summary


def _count_and_sum_24m(
    session: Session,
    uscc: str,
    as_of: dt.date,
    floor: dt.date,
    *,
    category: str,
    labels: tuple[str, str],
) -> dict[str, Any]:
    """How many records of an event category are dated in the 24 months to ``as_of``
    (none before ``floor``), and the sum of their ``amount_fen``."""
    table = data_table(category)
    day = table.c[REGISTRY[category].date_column]
    since = max(add_months(as_of, -23), floor)
    row = (
        session.execute(
            select(
                func.count().label(labels[0]),
                func.coalesce(func.sum(table.c.amount_fen), 0).label(labels[1]),
            ).where(table.c.uscc == uscc, day >= since, day <= as_of)
        )
        .mappings()
        .one()
    )
    return {key: int(value or 0) for key, value in row.items()}


def _penalties(session: Session, uscc: str, as_of: dt.date, floor: dt.date) -> dict[str, Any]:
    labels = ("penalties_24m", "fines_24m_fen")
    return _count_and_sum_24m(session, uscc, as_of, floor, category="penalties", labels=labels)


def _ip(session: Session, uscc: str, as_of: dt.date, floor: dt.date) -> dict[str, Any]:
    table = data_table("ip")
    rows = session.execute(
        select(table.c.ip_type, func.count())
        .where(
            table.c.uscc == uscc,
            table.c.granted_on <= as_of,
            table.c.granted_on >= floor,
            table.c.status != "expired",
        )
        .group_by(table.c.ip_type)
    ).all()
    return {f"{ip_type}_held": count for ip_type, count in rows}


def _procurement(session: Session, uscc: str, as_of: dt.date, floor: dt.date) -> dict[str, Any]:
    labels = ("awards_24m", "awarded_24m_fen")
    return _count_and_sum_24m(session, uscc, as_of, floor, category="procurement", labels=labels)


def _registration(session: Session, uscc: str, as_of: dt.date, floor: dt.date) -> dict[str, Any]:
    """Under a consent's range (``floor`` set): the registry record as the registration
    snapshots dated from ``floor`` to ``as_of`` make it (not the registry's latest row,
    which may be dated after the range); ``record_date`` is ``None`` when no snapshot is
    dated inside. Without a range (the enterprise's own view, which hides nothing of
    what the platform knows): the registry's record."""
    if floor == dt.date.min:
        enterprise = to_out(get_enterprise(session, uscc))
        figures_date = None
    else:
        found = registry.record_within(session.connection(), uscc, floor, as_of)
        if found is None:
            return {"record_date": None}
        record, figures_date = found
        enterprise = to_out(Enterprise(**record))
    age_years = (as_of - enterprise.founded_on).days / 365.25
    return {
        **enterprise.model_dump(),
        "figures_date": figures_date,
        "age_years": round(age_years, 1),
    }


_HEADLINES: dict[str, Callable[[Session, str, dt.date, dt.date], dict[str, Any]]] = {
    "registration": _registration,
    "tax": _tax,
    "social_insurance": _social,
    "housing_fund": _housing,
    "utilities": _utilities,
    "judicial": _judicial,
    "penalties": _penalties,
    "customs": _customs,
    "ip": _ip,
    "procurement": _procurement,
}


def profile(
    session: Session,
    uscc: str,
    *,
    as_of: dt.date | None = None,
    categories: Iterable[str] | None = None,
    data_from: dt.date | None = None,
) -> dict[str, Any]:
    """Headline figures per category as of a date (default today), limited to
    ``categories`` when given (the consented ones, for a bank) and, with ``data_from``,
    to data dated on or after it (a consent's range: nothing outside it is summarised)."""
    floor = data_from or dt.date.min
    get_enterprise(session, uscc)
    as_of = as_of or dt.date.today()
    wanted = list(categories) if categories is not None else list(_HEADLINES)
    for name in wanted:
        category_or_404(name)
    return {
        "uscc": uscc,
        "as_of": as_of,
        "categories": {name: _HEADLINES[name](session, uscc, as_of, floor) for name in wanted},
    }
