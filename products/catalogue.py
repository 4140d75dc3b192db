"""The public catalogue's search: one page of online versions, filtered
(``products.service.online_versions``), in one of a few orders, continued by keyset
cursors, with each version's product code and bank names read in the same query."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

from finance.core.errors import Invalid, NotFound
from finance.institutions.models import Bank
from products.models import LoanProduct, ProductVersion
from products.schemas import CatalogueItem, CataloguePage, SortKey
from products.service import CatalogueFilters, online_versions, terms_from

# sort key -> (column, descending); ties broken by version id in the same direction.
SORTS: dict[str, tuple[Any, bool]] = {
    "rate": (ProductVersion.rate_min_pct, False),
    "-rate": (ProductVersion.rate_min_pct, True),
    "amount": (ProductVersion.max_amount_fen, False),
    "-amount": (ProductVersion.max_amount_fen, True),
    "term": (ProductVersion.max_term_months, False),
    "-term": (ProductVersion.max_term_months, True),
    "newest": (ProductVersion.online_at, True),
    "name": (ProductVersion.name, False),
}


def _cursor_value(sort: str, version: ProductVersion) -> str:
    column, _ = SORTS[sort]
    value = getattr(version, column.key)
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


def _encode_cursor(sort: str, version: ProductVersion) -> str:
    payload = {"s": sort, "v": _cursor_value(sort, version), "i": version.id}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _decode_cursor(sort: str, cursor: str) -> tuple[Any, int]:
    bad = Invalid("the cursor is not one this catalogue gave out", errors=[{"pointer": "/cursor"}])
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        value, version_id, cursor_sort = payload["v"], int(payload["i"]), payload["s"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise bad from exc
    if cursor_sort != sort or not isinstance(value, str):
        raise Invalid("the cursor belongs to another sort order", errors=[{"pointer": "/cursor"}])
    try:
        typed: Any
        if sort in ("rate", "-rate"):
            typed = Decimal(value)
            if not typed.is_finite():
                raise bad
        elif sort in ("amount", "-amount", "term", "-term"):
            typed = int(value)
        elif sort == "newest":
            typed = dt.datetime.fromisoformat(value)
            if typed.tzinfo is None:
                raise bad
        else:
            typed = value
    except (ValueError, InvalidOperation, OverflowError) as exc:
        raise bad from exc
    return typed, version_id


def _with_names(statement: Select[ProductVersion]) -> Select[Any]:
    """The versions with their product's code and their bank's names (one query)."""
    return (
        statement.join(LoanProduct, LoanProduct.id == ProductVersion.product_id)
        .join(Bank, Bank.id == ProductVersion.bank_id)
        .add_columns(LoanProduct.code, Bank.name, Bank.name_en)
    )


def search(
    session: Session,
    filters: CatalogueFilters,
    sort: SortKey = "rate",
    cursor: str | None = None,
    limit: int = 20,
) -> CataloguePage:
    """One page of the catalogue, ordered by ``sort`` (keyset pagination: a page's cursor
    continues right after its last item, whatever was published meanwhile)."""
    column, descending = SORTS[sort]
    pv = ProductVersion
    statement = online_versions(filters)
    if cursor is not None:
        value, last_id = _decode_cursor(sort, cursor)
        if descending:
            after = or_(column < value, and_(column == value, pv.id < last_id))
        else:
            after = or_(column > value, and_(column == value, pv.id > last_id))
        statement = statement.where(after)
    order = (column.desc(), pv.id.desc()) if descending else (column.asc(), pv.id.asc())
    rows = session.execute(_with_names(statement).order_by(*order).limit(limit + 1)).all()
    page, more = rows[:limit], len(rows) > limit
    return CataloguePage(
        items=[_catalogue_item(*row) for row in page],
        next_cursor=_encode_cursor(sort, page[-1][0]) if more else None,
    )


def _catalogue_item(
    version: ProductVersion, product_code: str, bank_name: str, bank_name_en: str
) -> CatalogueItem:
    return CatalogueItem(
        product_id=version.product_id,
        product_code=product_code,
        version=version.number,
        bank_id=version.bank_id,
        bank_name=bank_name,
        bank_name_en=bank_name_en,
        terms=terms_from(version),
        online_at=version.online_at,
        synthetic=version.synthetic,
    )


def online_item(session: Session, product_id: int) -> CatalogueItem:
    """The online version of a product, as the catalogue shows it (404 if none)."""
    row = session.execute(
        _with_names(online_versions().where(ProductVersion.product_id == product_id))
    ).first()
    if row is None:
        raise NotFound(f"product {product_id} has no online version")
    return _catalogue_item(*row)
