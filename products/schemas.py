"""What the product API reads and writes: a version's terms (validated here, except the
eligibility rules and the policy, which ``products.service`` validates with
``products.rules`` / ``products.policy`` so a bad rule's error points at it), the
catalogue's filters, and the answers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from finance.core.reference import INDUSTRY_SECTIONS, henan_cities
from finance.core.text import NoControl
from finance.govdata.categories import REGISTRY
from finance.lending.schedule import RepaymentMethod
from products.models import FeeKind, Guarantee, VersionStatus

SizeName = Literal["micro", "small", "medium", "large"]
# 100 million yuan: above any SME loan a platform product offers.
MAX_AMOUNT_FEN = 10_000_000_000
MAX_TERM_MONTHS = 360
# Rates above 24% a year are outside what courts protect; no product shows one.
MAX_RATE_PCT = Decimal(24)

Fen = Annotated[int, Field(ge=1, le=MAX_AMOUNT_FEN)]
Months = Annotated[int, Field(ge=1, le=MAX_TERM_MONTHS)]
RatePct = Annotated[Decimal, Field(gt=0, le=MAX_RATE_PCT, decimal_places=3)]
ShortText = Annotated[str, Field(min_length=1, max_length=200), NoControl]


def _unique(values: list[str], what: str) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} are listed more than once")
    return values


class FixedFee(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal[FeeKind.FIXED]
    name: ShortText
    amount_fen: Annotated[int, Field(ge=0, le=MAX_AMOUNT_FEN)]


class PercentFee(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal[FeeKind.PERCENT]
    name: ShortText
    percent: Annotated[Decimal, Field(ge=0, le=10, decimal_places=3)]


Fee = Annotated[FixedFee | PercentFee, Field(discriminator="kind")]


class VersionTerms(BaseModel):
    """Every term of a product version, as a bank submits it (all of them, on create)."""

    model_config = ConfigDict(extra="forbid")

    name: ShortText
    name_en: ShortText | None = None
    description: Annotated[str, Field(max_length=4000), NoControl] = ""
    guarantee: Guarantee
    min_amount_fen: Fen
    max_amount_fen: Fen
    default_amount_fen: Fen
    min_term_months: Months
    max_term_months: Months
    rate_min_pct: RatePct
    rate_max_pct: RatePct
    repayment_methods: Annotated[list[RepaymentMethod], Field(min_length=1, max_length=4)]
    fees: Annotated[list[Fee], Field(max_length=10)] = []
    cities: Annotated[list[str], Field(max_length=32)] = []
    industries: Annotated[list[str], Field(max_length=20)] = []
    sizes: Annotated[list[SizeName], Field(max_length=4)] = []
    data_categories: Annotated[list[str], Field(max_length=len(REGISTRY))] = []
    consent_months: Annotated[int, Field(ge=1, le=60)] = 24
    eligibility: Annotated[list[Any], Field(max_length=100)] = []
    policy: dict[str, Any] | None = None
    auto_decision: bool = False

    @field_validator("repayment_methods", "sizes")
    @classmethod
    def _no_repeats(cls, values: list[str]) -> list[str]:
        return _unique(values, "values")

    @field_validator("cities")
    @classmethod
    def _cities(cls, values: list[str]) -> list[str]:
        known = {city.code for city in henan_cities()}
        unknown = [v for v in values if v not in known]
        if unknown:
            raise ValueError(f"not a Henan prefecture-level city code (GB/T 2260): {unknown}")
        return _unique(values, "cities")

    @field_validator("industries")
    @classmethod
    def _industries(cls, values: list[str]) -> list[str]:
        unknown = [v for v in values if v not in INDUSTRY_SECTIONS]
        if unknown:
            raise ValueError(f"not a GB/T 4754-2017 section letter: {unknown}")
        return _unique(values, "industries")

    @field_validator("data_categories")
    @classmethod
    def _categories(cls, values: list[str]) -> list[str]:
        unknown = [v for v in values if v not in REGISTRY]
        if unknown:
            raise ValueError(f"not a data category: {unknown}; known: {sorted(REGISTRY)}")
        return _unique(values, "data categories")

    @model_validator(mode="after")
    def _ranges(self) -> Self:
        if self.min_amount_fen > self.max_amount_fen:
            raise ValueError("min_amount_fen is above max_amount_fen")
        if not self.min_amount_fen <= self.default_amount_fen <= self.max_amount_fen:
            raise ValueError("default_amount_fen is outside the amount range")
        if self.min_term_months > self.max_term_months:
            raise ValueError("min_term_months is above max_term_months")
        if self.rate_min_pct > self.rate_max_pct:
            raise ValueError("rate_min_pct is above rate_max_pct")
        if self.auto_decision and self.policy is None:
            raise ValueError("auto_decision needs a decision policy")
        return self


class VersionChanges(BaseModel):
    """An edit: only the terms given change; the rest are taken from the version edited."""

    model_config = ConfigDict(extra="forbid")

    name: ShortText | None = None
    name_en: ShortText | None = None
    description: Annotated[str, Field(max_length=4000), NoControl] | None = None
    guarantee: Guarantee | None = None
    min_amount_fen: Fen | None = None
    max_amount_fen: Fen | None = None
    default_amount_fen: Fen | None = None
    min_term_months: Months | None = None
    max_term_months: Months | None = None
    rate_min_pct: RatePct | None = None
    rate_max_pct: RatePct | None = None
    repayment_methods: (
        Annotated[list[RepaymentMethod], Field(min_length=1, max_length=4)] | None
    ) = None
    fees: Annotated[list[Fee], Field(max_length=10)] | None = None
    cities: Annotated[list[str], Field(max_length=32)] | None = None
    industries: Annotated[list[str], Field(max_length=20)] | None = None
    sizes: Annotated[list[SizeName], Field(max_length=4)] | None = None
    data_categories: Annotated[list[str], Field(max_length=len(REGISTRY))] | None = None
    consent_months: Annotated[int, Field(ge=1, le=60)] | None = None
    eligibility: Annotated[list[Any], Field(max_length=100)] | None = None
    policy: dict[str, Any] | None = None
    auto_decision: bool | None = None


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[
        str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    ]
    terms: VersionTerms


Event = Literal["submit", "withdraw", "approve", "reject", "take_offline"]


class TransitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: Event
    reason: Annotated[str, Field(min_length=1, max_length=2000), NoControl] | None = None


class TransitionOut(BaseModel):
    event: str
    from_status: VersionStatus | None
    to_status: VersionStatus
    actor: str
    actor_name: str
    at: dt.datetime
    reason: str | None


class VersionOut(BaseModel):
    """A version as its bank and ops see it (the terms, the status, the review history)."""

    product_id: int
    product_code: str
    bank_id: int
    number: int
    status: VersionStatus
    terms: VersionTerms
    synthetic: bool
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    online_at: dt.datetime | None
    transitions: list[TransitionOut]
    allowed_events: list[str]


class ProductOut(BaseModel):
    product_id: int
    code: str
    bank_id: int
    versions: list[VersionOut]


class CatalogueItem(BaseModel):
    """An online version as the public catalogue shows it."""

    product_id: int
    product_code: str
    version: int
    bank_id: int
    bank_name: str
    bank_name_en: str
    terms: VersionTerms
    online_at: dt.datetime | None
    synthetic: bool


class CataloguePage(BaseModel):
    items: list[CatalogueItem]
    next_cursor: str | None


SortKey = Literal["rate", "-rate", "amount", "-amount", "term", "-term", "newest", "name"]
