"""The product API: banks (staff session or OAuth client) create and edit their products
and send versions to review; ops review them; anyone searches the online catalogue."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Query

from authz.clock import NowDep
from authz.deps import OpsUser, ProductsBank
from authz.models import User
from finance.core.deps import SessionDep
from finance.lending.schedule import RepaymentMethod
from products import service
from products.models import Guarantee, VersionStatus
from products.schemas import (
    MAX_AMOUNT_FEN,
    MAX_RATE_PCT,
    MAX_TERM_MONTHS,
    CatalogueItem,
    CataloguePage,
    ProductCreate,
    ProductOut,
    SizeName,
    SortKey,
    TransitionRequest,
    VersionChanges,
    VersionOut,
)
from products.workflow import Actor, Side

router = APIRouter(tags=["loan products"])
MAX_ID = 2**63 - 1
ProductId = Annotated[int, Path(ge=1, le=MAX_ID)]
Number = Annotated[int, Path(ge=1, le=1_000_000)]
Limit = Annotated[int, Query(ge=1, le=100)]
After = Annotated[int | None, Query(ge=1, le=MAX_ID, description="the last id of the page before")]
StatusFilter = Annotated[VersionStatus | None, Query()]


def _bank(bank: ProductsBank) -> Actor:
    return Actor(Side.BANK, bank.ref, bank.ref, bank_id=bank.bank_id)


def _ops(user: User) -> Actor:
    return Actor(Side.OPS, f"user:{user.id}", user.username, city_code=user.city_code)


def _product_out(versions: list[VersionOut]) -> ProductOut:
    first = versions[0]
    return ProductOut(
        product_id=first.product_id,
        code=first.product_code,
        bank_id=first.bank_id,
        versions=versions,
    )


# ------------------------------------------------------------------------- bank


@router.post("/api/v1/bank/products", status_code=201, response_model=VersionOut)
def create_product(
    body: ProductCreate, bank: ProductsBank, session: SessionDep, now: NowDep
) -> VersionOut:
    """A new product of the caller's bank; its first version is a draft."""
    actor = _bank(bank)
    version = service.create_product(session, actor, body, now)
    return service.version_out(session, actor, version, body.code)


@router.get("/api/v1/bank/products", response_model=list[VersionOut])
def list_bank_versions(
    bank: ProductsBank,
    session: SessionDep,
    status: StatusFilter = None,
    limit: Limit = 50,
    after: After = None,
) -> list[VersionOut]:
    """The versions of the caller's bank's products, oldest first."""
    return service.list_versions(session, _bank(bank), status, limit, after)


@router.get("/api/v1/bank/products/{product_id}", response_model=ProductOut)
def bank_product(product_id: ProductId, bank: ProductsBank, session: SessionDep) -> ProductOut:
    """One of the bank's products with every version and its review history."""
    return _product_out(service.product_versions(session, _bank(bank), product_id))


@router.patch("/api/v1/bank/products/{product_id}", response_model=VersionOut)
def edit_product(
    product_id: ProductId,
    body: VersionChanges,
    bank: ProductsBank,
    session: SessionDep,
    now: NowDep,
) -> VersionOut:
    """Edit the product: its open draft, or a new draft version when none is open (the
    online version stays online until the new one is approved)."""
    actor = _bank(bank)
    version = service.edit_product(session, actor, product_id, body, now)
    return service.version_detail(session, actor, product_id, version.number)


@router.get("/api/v1/bank/products/{product_id}/versions/{number}", response_model=VersionOut)
def bank_version(
    product_id: ProductId, number: Number, bank: ProductsBank, session: SessionDep
) -> VersionOut:
    return service.version_detail(session, _bank(bank), product_id, number)


@router.post(
    "/api/v1/bank/products/{product_id}/versions/{number}/transitions",
    response_model=VersionOut,
)
def bank_transition(
    product_id: ProductId,
    number: Number,
    body: TransitionRequest,
    bank: ProductsBank,
    session: SessionDep,
    now: NowDep,
) -> VersionOut:
    """``submit`` a draft for review, ``withdraw`` it from review, ``take_offline`` an
    online version (with a reason)."""
    actor = _bank(bank)
    service.fire(session, actor, product_id, number, body.event, body.reason, now)
    return service.version_detail(session, actor, product_id, number)


# ------------------------------------------------------------------------- ops


@router.get("/api/v1/ops/products", response_model=list[VersionOut])
def list_ops_versions(
    user: OpsUser,
    session: SessionDep,
    status: StatusFilter = VersionStatus.SUBMITTED,
    limit: Limit = 50,
    after: After = None,
) -> list[VersionOut]:
    """The review queue (``status=submitted`` by default); a city branch sees the
    versions offered in its city."""
    return service.list_versions(session, _ops(user), status, limit, after)


@router.get("/api/v1/ops/products/{product_id}", response_model=ProductOut)
def ops_product(product_id: ProductId, user: OpsUser, session: SessionDep) -> ProductOut:
    return _product_out(service.product_versions(session, _ops(user), product_id))


@router.get("/api/v1/ops/products/{product_id}/versions/{number}", response_model=VersionOut)
def ops_version(
    product_id: ProductId, number: Number, user: OpsUser, session: SessionDep
) -> VersionOut:
    return service.version_detail(session, _ops(user), product_id, number)


@router.post(
    "/api/v1/ops/products/{product_id}/versions/{number}/transitions",
    response_model=VersionOut,
)
def ops_transition(
    product_id: ProductId,
    number: Number,
    body: TransitionRequest,
    user: OpsUser,
    session: SessionDep,
    now: NowDep,
) -> VersionOut:
    """``approve`` a submitted version (the product's online version, if any, goes
    offline), ``reject`` it (with a reason), ``take_offline`` an online one (with a reason)."""
    actor = _ops(user)
    service.fire(session, actor, product_id, number, body.event, body.reason, now)
    return service.version_detail(session, actor, product_id, number)


# ------------------------------------------------------------------------- public


@router.get("/api/v1/products", response_model=CataloguePage)
def search_catalogue(
    session: SessionDep,
    guarantee: Annotated[list[Guarantee] | None, Query(max_length=4)] = None,
    amount_fen: Annotated[
        int | None, Query(ge=1, le=MAX_AMOUNT_FEN, description="offered amounts include it")
    ] = None,
    term_months: Annotated[int | None, Query(ge=1, le=MAX_TERM_MONTHS)] = None,
    max_rate_pct: Annotated[
        Decimal | None,
        Query(ge=0, le=MAX_RATE_PCT, max_digits=8, description="lowest annual rate at most"),
    ] = None,
    bank_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    city: Annotated[str | None, Query(pattern=r"^\d{6}$", description="GB/T 2260")] = None,
    industry: Annotated[str | None, Query(pattern=r"^[A-T]$", description="GB/T 4754")] = None,
    size: SizeName | None = None,
    method: RepaymentMethod | None = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="in the name")] = (
        None
    ),
    sort: SortKey = "rate",
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Limit = 20,
) -> CataloguePage:
    """Search the online products (年化利率: every rate is an annual rate). Filters
    combine; a product targeting no city (industry, size) is offered in all of them."""
    filters = service.CatalogueFilters(
        guarantee=[g.value for g in guarantee] if guarantee else None,
        amount_fen=amount_fen,
        term_months=term_months,
        max_rate_pct=max_rate_pct,
        bank_id=bank_id,
        city=city,
        industry=industry,
        size=size,
        method=method.value if method else None,
        text=q,
    )
    return service.search(session, filters, sort, cursor, limit)


@router.get("/api/v1/products/{product_id}", response_model=CatalogueItem)
def catalogue_product(product_id: ProductId, session: SessionDep) -> CatalogueItem:
    """A product's online version."""
    return service.online_item(session, product_id)
