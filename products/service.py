"""The product catalogue: banks create and edit products (each edit a version), ops
review them (``products.workflow``), everyone searches what is online.

Scoping is done here, once per kind of caller: a bank reaches only its own products
(anything else is "not found"), ops reach every version past draft, a city-branch officer
only those offered in its city. ``online_versions`` is the one query of what is online;
the public search, matching and the demand market all start from it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    and_,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.orm import Session

from finance.core.db import Base
from finance.core.errors import Conflict, Invalid, NotFound
from finance.institutions.models import Bank
from finance.lending.schedule import RepaymentMethod
from products import schemas, workflow
from products.models import (
    ANY_TARGET,
    Guarantee,
    LoanProduct,
    ProductTransition,
    ProductVersion,
    ProductVersionTarget,
    TargetDimension,
    VersionStatus,
)
from products.policy import Fee, ProductTerms, check_against_terms, parse_policy
from products.rules import parse_eligibility
from products.schemas import (
    CatalogueItem,
    CataloguePage,
    FixedFee,
    PercentFee,
    ProductCreate,
    SortKey,
    TransitionOut,
    VersionChanges,
    VersionOut,
    VersionTerms,
)
from products.workflow import Actor, Side

TERM_FIELDS = tuple(VersionTerms.model_fields)
# The version's list-valued terms that the catalogue filters on, by target dimension.
TARGET_FIELDS = {
    TargetDimension.CITY: "cities",
    TargetDimension.INDUSTRY: "industries",
    TargetDimension.SIZE: "sizes",
    TargetDimension.METHOD: "repayment_methods",
}


# ---------------------------------------------------------------------------- terms


def _validated_rules(terms: VersionTerms) -> VersionTerms:
    """The eligibility rules and policy, parsed by the rule language (a bad rule is a 422
    whose ``errors`` point at it; a policy rate outside the product's range too) and
    stored in their canonical JSON form."""
    eligibility = parse_eligibility(terms.eligibility, "/terms/eligibility").to_json()
    policy_json = None
    if terms.policy is not None:
        policy = parse_policy(terms.policy, "/terms/policy")
        check_against_terms(policy, product_terms(terms), "/terms/policy")
        policy_json = policy.to_json()
    return terms.model_copy(update={"eligibility": eligibility, "policy": policy_json})


def product_terms(terms: VersionTerms) -> ProductTerms:
    """What the decision policy needs of a version's terms."""
    return ProductTerms(
        min_amount_fen=terms.min_amount_fen,
        max_amount_fen=terms.max_amount_fen,
        min_term_months=terms.min_term_months,
        max_term_months=terms.max_term_months,
        rate_min_pct=terms.rate_min_pct,
        rate_max_pct=terms.rate_max_pct,
        methods=tuple(RepaymentMethod(m) for m in terms.repayment_methods),
        fees=tuple(
            Fee(kind="fixed", amount_fen=fee.amount_fen, name=fee.name)
            if isinstance(fee, FixedFee)
            else Fee(kind="percent", percent=fee.percent, name=fee.name)
            for fee in terms.fees
        ),
    )


def terms_of(version: ProductVersion) -> ProductTerms:
    """The ``ProductTerms`` of a stored version (for ``products.policy.decide``)."""
    return product_terms(terms_from(version))


def _version_values(terms: VersionTerms) -> dict[str, Any]:
    values = terms.model_dump(mode="python")
    values["fees"] = terms.model_dump(mode="json")["fees"]
    return values


FEES: TypeAdapter[list[FixedFee | PercentFee]] = TypeAdapter(list[schemas.Fee])


def terms_from(version: ProductVersion) -> VersionTerms:
    """A stored version's terms. They were validated when written and a version's terms
    never change unvalidated, so reading them only restores their types (enums, fees):
    re-validating every item of every catalogue page was half of a search's CPU time."""
    values = {name: getattr(version, name) for name in TERM_FIELDS}
    values["guarantee"] = Guarantee(version.guarantee)
    values["repayment_methods"] = [RepaymentMethod(m) for m in version.repayment_methods]
    values["fees"] = FEES.validate_python(version.fees)
    return VersionTerms.model_construct(**values)


def target_rows(version_id: int, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``product_version_targets`` rows of a version's list-valued terms (an empty
    list of cities, industries or sizes is one ``ANY_TARGET`` row: all of them)."""
    return [
        {"version_id": version_id, "dimension": dimension.value, "value": str(value)}
        for dimension, field in TARGET_FIELDS.items()
        for value in values[field] or [ANY_TARGET]
    ]


def _write_targets(session: Session, version: ProductVersion) -> None:
    session.execute(
        delete(ProductVersionTarget).where(ProductVersionTarget.version_id == version.id)
    )
    rows = target_rows(version.id, {f: getattr(version, f) for f in TARGET_FIELDS.values()})
    if rows:
        session.execute(insert(ProductVersionTarget), rows)


def _merged(version: ProductVersion, changes: VersionChanges) -> VersionTerms:
    current = terms_from(version).model_dump(mode="json")
    update = changes.model_dump(mode="json", exclude_unset=True)
    try:
        return VersionTerms.model_validate(current | update)
    except ValidationError as exc:
        errors = [
            {
                "pointer": "/terms" + "".join(f"/{part}" for part in error["loc"]),
                "detail": error["msg"],
            }
            for error in exc.errors()
        ]
        raise Invalid(
            "the edited terms are not valid: " + "; ".join(e["detail"] for e in errors),
            errors=errors,
        ) from exc


# ---------------------------------------------------------------------------- scoping


def _visible(actor: Actor) -> ColumnElement[bool]:
    """What ``actor`` may see of product versions: a bank its own, ops everything past
    draft (a city branch only what is offered in its city)."""
    if actor.side is Side.BANK:
        return ProductVersion.bank_id == actor.bank_id
    if actor.side is Side.OPS:
        past_draft = ProductVersion.status != VersionStatus.DRAFT.value
        if actor.city_code is None:
            return past_draft
        return and_(past_draft, offered_in(TargetDimension.CITY, actor.city_code))
    return ProductVersion.id.is_not(None)


def offered_in(dimension: TargetDimension, value: str) -> ColumnElement[bool]:
    """The version targets ``value`` in ``dimension``, or leaves the dimension open (the
    whole province, every industry, every size). A correlated probe of the primary key:
    a page of the catalogue stops after its first matches in sort order, so only the
    versions scanned so far are probed."""
    return _targets(dimension, [value, ANY_TARGET])


def _targets(dimension: TargetDimension, values: list[str]) -> ColumnElement[bool]:
    target = ProductVersionTarget
    return exists().where(
        target.version_id == ProductVersion.id,
        target.dimension == dimension.value,
        target.value.in_(values),
    )


def _product(session: Session, actor: Actor, product_id: int) -> LoanProduct:
    product = session.get(LoanProduct, product_id)
    if product is None or (actor.side is Side.BANK and product.bank_id != actor.bank_id):
        raise NotFound(f"no product {product_id}")
    return product


def _version(session: Session, actor: Actor, product_id: int, number: int) -> ProductVersion:
    version = session.scalar(
        select(ProductVersion).where(
            ProductVersion.product_id == product_id,
            ProductVersion.number == number,
            _visible(actor),
        )
    )
    if version is None:
        raise NotFound(f"no version {number} of product {product_id}")
    return version


# ---------------------------------------------------------------------------- writes


def create_product(
    session: Session, actor: Actor, request: ProductCreate, now: dt.datetime
) -> ProductVersion:
    """A new product of the actor's bank, with its first version as a draft."""
    if actor.side is not Side.BANK or actor.bank_id is None:
        raise NotFound("only a bank's staff or client creates its products")
    taken = session.scalar(
        select(LoanProduct.id).where(
            LoanProduct.bank_id == actor.bank_id, LoanProduct.code == request.code
        )
    )
    if taken is not None:
        raise Conflict(f"the bank already has a product with code {request.code!r}")
    terms = _validated_rules(request.terms)
    product = LoanProduct(bank_id=actor.bank_id, code=request.code, created_at=now)
    session.add(product)
    workflow.flush(session, f"the bank already has a product with code {request.code!r}")
    return _new_version(session, actor, product, 1, terms, now)


def _new_version(
    session: Session,
    actor: Actor,
    product: LoanProduct,
    number: int,
    terms: VersionTerms,
    now: dt.datetime,
) -> ProductVersion:
    version = ProductVersion(
        product_id=product.id,
        bank_id=product.bank_id,
        number=number,
        status=VersionStatus.DRAFT.value,
        **_version_values(terms),
        synthetic=False,
        created_by=actor.ref,
        created_at=now,
        updated_at=now,
    )
    session.add(version)
    workflow.flush(session, "another edit of this product made a new version at the same moment")
    _write_targets(session, version)
    workflow.record(session, version, "create", None, actor, now, None)
    session.flush()
    return version


def edit_product(
    session: Session,
    actor: Actor,
    product_id: int,
    changes: VersionChanges,
    now: dt.datetime,
) -> ProductVersion:
    """Apply ``changes``: to the open draft if there is one, otherwise to a new draft
    version copied from the newest version (an online version stays online meanwhile).
    A version under review cannot change: withdraw it first."""
    product = _product(session, actor, product_id)
    versions = _versions_of(session, product.id)
    latest = versions[-1]
    if latest.status == VersionStatus.SUBMITTED.value:
        raise Conflict(
            f"version {latest.number} is under review; withdraw it before editing",
            status_now=latest.status,
            allowed_events=workflow.allowed_events(latest.status, actor.side),
        )
    terms = _validated_rules(_merged(latest, changes))
    if latest.status == VersionStatus.DRAFT.value:
        for name, value in _version_values(terms).items():
            setattr(latest, name, value)
        latest.updated_at = now
        session.flush()
        _write_targets(session, latest)
        return latest
    return _new_version(session, actor, product, latest.number + 1, terms, now)


def fire(
    session: Session,
    actor: Actor,
    product_id: int,
    number: int,
    event: str,
    reason: str | None,
    now: dt.datetime,
) -> ProductVersion:
    """Fire a workflow event on a version the actor can see. Approving a version takes
    the product's online version (if any) offline in the same transaction."""
    version = _version(session, actor, product_id, number)
    if event == "approve" and version.status == VersionStatus.SUBMITTED.value:
        online = session.scalar(
            select(ProductVersion).where(
                ProductVersion.product_id == version.product_id,
                ProductVersion.status == VersionStatus.ONLINE.value,
            )
        )
        if online is not None:
            workflow.apply(
                session,
                online,
                "supersede",
                workflow.PLATFORM,
                now,
                f"version {version.number} approved by {actor.name}",
            )
    workflow.apply(session, version, event, actor, now, reason)
    return version


# ---------------------------------------------------------------------------- reads


def _versions_of(session: Session, product_id: int) -> list[ProductVersion]:
    return list(
        session.scalars(
            select(ProductVersion)
            .where(ProductVersion.product_id == product_id)
            .order_by(ProductVersion.number)
        )
    )


def version_out(
    session: Session, actor: Actor, version: ProductVersion, product_code: str
) -> VersionOut:
    transitions = session.scalars(
        select(ProductTransition)
        .where(ProductTransition.version_id == version.id)
        .order_by(ProductTransition.id)
    )
    return VersionOut(
        product_id=version.product_id,
        product_code=product_code,
        bank_id=version.bank_id,
        number=version.number,
        status=VersionStatus(version.status),
        terms=terms_from(version),
        synthetic=version.synthetic,
        created_by=version.created_by,
        created_at=version.created_at,
        updated_at=version.updated_at,
        online_at=version.online_at,
        transitions=[
            TransitionOut(
                event=t.event,
                from_status=None if t.from_status is None else VersionStatus(t.from_status),
                to_status=VersionStatus(t.to_status),
                actor=t.actor,
                actor_name=t.actor_name,
                at=t.at,
                reason=t.reason,
            )
            for t in transitions
        ],
        allowed_events=workflow.allowed_events(version.status, actor.side),
    )


def product_versions(session: Session, actor: Actor, product_id: int) -> list[VersionOut]:
    """Every version of a product the actor can see, oldest first (404 if none)."""
    product = _product(session, actor, product_id)
    versions = session.scalars(
        select(ProductVersion)
        .where(ProductVersion.product_id == product.id, _visible(actor))
        .order_by(ProductVersion.number)
    ).all()
    if not versions:
        raise NotFound(f"no product {product_id}")
    return [version_out(session, actor, v, product.code) for v in versions]


def version_detail(session: Session, actor: Actor, product_id: int, number: int) -> VersionOut:
    version = _version(session, actor, product_id, number)
    code = session.scalar(select(LoanProduct.code).where(LoanProduct.id == product_id))
    return version_out(session, actor, version, str(code))


def list_versions(
    session: Session,
    actor: Actor,
    status: VersionStatus | None,
    limit: int,
    after_id: int | None,
) -> list[VersionOut]:
    """The versions the actor can see (a bank's own, ops' review queue), oldest first."""
    statement = (
        select(ProductVersion, LoanProduct.code)
        .join(LoanProduct, LoanProduct.id == ProductVersion.product_id)
        .where(_visible(actor))
        .order_by(ProductVersion.id)
        .limit(limit)
    )
    if status is not None:
        statement = statement.where(ProductVersion.status == status.value)
    if after_id is not None:
        statement = statement.where(ProductVersion.id > after_id)
    return [version_out(session, actor, v, code) for v, code in session.execute(statement)]


# ---------------------------------------------------------------------------- catalogue


@dataclass(frozen=True, slots=True)
class CatalogueFilters:
    """The public catalogue's filters; None means "any"."""

    guarantee: Sequence[str] | None = None
    amount_fen: int | None = None
    term_months: int | None = None
    max_rate_pct: Decimal | None = None
    bank_id: int | None = None
    city: str | None = None
    industry: str | None = None
    size: str | None = None
    method: str | None = None
    text: str | None = None


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def online_versions(filters: CatalogueFilters | None = None) -> Select[ProductVersion]:
    """The online product versions (one per product) meeting ``filters``: the catalogue,
    matching and the demand market all list products through this."""
    f = filters or CatalogueFilters()
    pv = ProductVersion
    conditions: list[ColumnElement[bool]] = [pv.status == VersionStatus.ONLINE.value]
    if f.guarantee:
        conditions.append(pv.guarantee.in_(list(f.guarantee)))
    if f.amount_fen is not None:
        conditions += [pv.min_amount_fen <= f.amount_fen, pv.max_amount_fen >= f.amount_fen]
    if f.term_months is not None:
        conditions += [pv.min_term_months <= f.term_months, pv.max_term_months >= f.term_months]
    if f.max_rate_pct is not None:
        conditions.append(pv.rate_min_pct <= f.max_rate_pct)
    if f.bank_id is not None:
        conditions.append(pv.bank_id == f.bank_id)
    if f.city is not None:
        conditions.append(offered_in(TargetDimension.CITY, f.city))
    if f.industry is not None:
        conditions.append(offered_in(TargetDimension.INDUSTRY, f.industry))
    if f.size is not None:
        conditions.append(offered_in(TargetDimension.SIZE, f.size))
    if f.method is not None:
        conditions.append(_targets(TargetDimension.METHOD, [f.method]))
    if f.text:
        pattern = _like_pattern(f.text)
        conditions.append(
            or_(
                func.lower(pv.name).like(pattern, escape="\\"),
                func.lower(func.coalesce(pv.name_en, "")).like(pattern, escape="\\"),
            )
        )
    return select(pv).where(*conditions)


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


# ---------------------------------------------------------------------------- synthesis


def _table_of(model: type[Base]) -> Table:
    return Base.metadata.tables[model.__tablename__]


def publish_synthetic_versions(
    connection: Connection,
    products: Iterable[tuple[int, int, VersionTerms]],
    at: dt.datetime,
) -> int:
    """Version 1 of each (product id, bank id, terms), online, flagged synthetic, with the
    review steps a real product takes (create, submit, approve) stamped by the platform.
    Bulk inserts: the synthetic province loads thousands of products for benchmarks."""
    items = [(pid, bid, _validated_rules(terms)) for pid, bid, terms in products]
    if not items:
        return 0
    table = _table_of(ProductVersion)
    rows = [
        {
            "product_id": product_id,
            "bank_id": bank_id,
            "number": 1,
            "status": VersionStatus.ONLINE.value,
            **_version_values(terms),
            "synthetic": True,
            "created_by": workflow.PLATFORM.ref,
            "created_at": at,
            "updated_at": at,
            "online_at": at,
        }
        for product_id, bank_id, terms in items
    ]
    ids = [
        int(i)
        for i in connection.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
        ).scalars()
    ]
    targets = [
        t for version_id, row in zip(ids, rows, strict=True) for t in target_rows(version_id, row)
    ]
    if targets:
        connection.execute(insert(_table_of(ProductVersionTarget)), targets)
    steps = (
        ("create", None, "draft"),
        ("submit", "draft", "submitted"),
        ("approve", "submitted", "online"),
    )
    connection.execute(
        insert(_table_of(ProductTransition)),
        [
            {
                "version_id": version_id,
                "event": event,
                "from_status": source,
                "to_status": target,
                "actor": workflow.PLATFORM.ref,
                "actor_name": "finance synth",
                "at": at,
                "reason": "synthetic product" if event == "approve" else None,
            }
            for version_id in ids
            for event, source, target in steps
        ],
    )
    return len(ids)
