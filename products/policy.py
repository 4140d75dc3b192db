"""The decision policy of a product version: declarative data, one evaluator (``decide``).

    {
      "approve_min_score": 650,          score at or above: approve
      "refer_min_score": 600,            at or above (and below approve): manual review
      "amount": {                        the amount the data supports, over the facts
        "combine": "min",                min | max of the terms that are known
        "terms": [{"fact": "tax_paid_12m", "times": "5"},
                  {"fact": "annual_revenue", "times": "0.3"}]
      },
      "rates": {"A": "3.65", "B": "4.2", "C": "5.5"},   annual rate (percent) by score band
      "round_down_fen": 1000000          optional: offers in whole 10,000 yuan (default 100 yuan)
    }

The amount offered is the formula's amount capped by the product's maximum and the amount
asked, rounded down; below the product's minimum it is a decline. The rate is the band's
rate held inside the product's rate range; a band without a rate is declined. Scores
below ``refer_min_score`` are declined. ``decide`` also gives the APR (fees included) and
the first instalments (finance.lending.schedule).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from finance.core.errors import Invalid
from finance.lending.schedule import Instalment, RepaymentMethod, priced
from products.facts import BY_NAME, SCORE_BANDS, Facts, FactType
from products.rules import pointer_join

SCORE_MIN, SCORE_MAX = 300, 900
RATE_MAX_PCT = Decimal(
    36
)  # the judicial protection ceiling for private lending; far above bank rates
DEFAULT_ROUND_FEN = 10_000  # 100 yuan
PREVIEW_MONTHS = 3
BANDS = tuple(code for code, _, _ in SCORE_BANDS)


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("policy", message)


def _decimal(value: Any, low: Decimal, high: Decimal, what: str) -> Decimal:
    """A Decimal from a JSON string or number (floats through their shortest text)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _error(f'{what} must be a decimal number (a string such as "4.35")')
    try:
        number = Decimal(value) if not isinstance(value, float) else Decimal(repr(value))
    except InvalidOperation:
        raise _error(f"{what} must be a decimal number") from None
    if not number.is_finite() or not low <= number <= high:
        raise _error(f"{what} must be between {low} and {high}")
    return number


class AmountTerm(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    fact: str
    times: Any

    @field_validator("fact")
    @classmethod
    def _money_fact(cls, name: Any) -> str:
        fact = BY_NAME.get(name) if isinstance(name, str) else None
        if fact is None:
            raise _error("unknown fact; see the documented facts")
        if fact.type is not FactType.MONEY:
            raise _error("an amount term multiplies a money fact (fen)")
        return fact.name

    @field_validator("times")
    @classmethod
    def _multiple(cls, value: Any) -> Decimal:
        return _decimal(value, Decimal("0.0001"), Decimal(100), "times")


class AmountFormula(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    combine: Literal["min", "max"] = "min"
    terms: tuple[AmountTerm, ...]

    @field_validator("terms")
    @classmethod
    def _some(cls, terms: tuple[AmountTerm, ...]) -> tuple[AmountTerm, ...]:
        if not 1 <= len(terms) <= 5:
            raise _error("an amount formula has 1 to 5 terms")
        return terms

    def amount_fen(self, facts: Facts) -> int | None:
        """The amount the facts support, from the known terms (None if none is known)."""
        amounts = []
        for term in self.terms:
            value = facts.value(term.fact)
            if value is not None:
                amounts.append(int(Decimal(int(value)) * Decimal(term.times)))
        if not amounts:
            return None
        return min(amounts) if self.combine == "min" else max(amounts)


class Policy(BaseModel):
    """A product version's decision policy (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approve_min_score: int
    refer_min_score: int
    amount: AmountFormula
    rates: dict[str, Decimal]
    round_down_fen: int = DEFAULT_ROUND_FEN

    @field_validator("approve_min_score", "refer_min_score", mode="before")
    @classmethod
    def _score(cls, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _error("must be a whole score")
        if not SCORE_MIN <= value <= SCORE_MAX:
            raise _error(f"must be between {SCORE_MIN} and {SCORE_MAX}")
        return value

    @field_validator("rates", mode="before")
    @classmethod
    def _rates(cls, value: Any) -> dict[str, Decimal]:
        if not isinstance(value, dict) or not value:
            raise _error("rates maps score bands (A-E) to annual rates in percent")
        rates = {}
        for band, rate in value.items():
            if band not in BANDS:
                raise _error(f"unknown score band {band!r}; bands are {', '.join(BANDS)}")
            rates[band] = _decimal(rate, Decimal("0.01"), RATE_MAX_PCT, f"the rate of band {band}")
        return rates

    @field_validator("round_down_fen", mode="before")
    @classmethod
    def _rounding(cls, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**8:
            raise _error("must be a whole number of fen from 1 to 100000000")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Policy:
        if self.refer_min_score > self.approve_min_score:
            raise _error("refer_min_score must not exceed approve_min_score")
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "approve_min_score": self.approve_min_score,
            "refer_min_score": self.refer_min_score,
            "amount": {
                "combine": self.amount.combine,
                "terms": [{"fact": t.fact, "times": str(t.times)} for t in self.amount.terms],
            },
            "rates": {band: str(rate) for band, rate in self.rates.items()},
            "round_down_fen": self.round_down_fen,
        }


def parse_policy(data: Any, pointer: str = "/policy") -> Policy:
    """The policy of a JSON object, or ``Invalid`` (422) with ``errors`` pointing into it."""
    if not isinstance(data, dict):
        raise Invalid(
            "the policy must be an object",
            errors=[{"pointer": pointer, "detail": "must be an object"}],
        )
    try:
        return Policy.model_validate(data)
    except ValidationError as error:
        errors = []
        for item in error.errors():
            message = item["msg"]
            if item["type"] == "extra_forbidden":
                message = "unknown field"
            elif item["type"] == "missing":
                message = "required"
            loc = item["loc"]
            # A dict's key error is reported at the key itself by pydantic: keep it.
            errors.append({"pointer": pointer_join(pointer, *loc), "detail": message})
        raise Invalid(f"{len(errors)} invalid policy field(s)", errors=errors) from None


# ---------------------------------------------------------------- product terms


@dataclass(frozen=True, slots=True)
class Fee:
    """A one-off fee charged at disbursement: a fixed amount or a percentage of the
    amount lent."""

    kind: Literal["fixed", "percent"]
    amount_fen: int = 0
    percent: Decimal = Decimal(0)
    name: str = ""

    def fen(self, principal_fen: int) -> int:
        if self.kind == "fixed":
            return self.amount_fen
        return int(
            (Decimal(principal_fen) * self.percent / 100).quantize(
                Decimal(1), rounding=ROUND_HALF_UP
            )
        )


@dataclass(frozen=True, slots=True)
class ProductTerms:
    """What the policy needs of a product version (built by
    ``products.service.terms_of(version)``)."""

    min_amount_fen: int
    max_amount_fen: int
    min_term_months: int
    max_term_months: int
    rate_min_pct: Decimal
    rate_max_pct: Decimal
    methods: tuple[RepaymentMethod, ...]
    fees: tuple[Fee, ...] = ()

    def fees_fen(self, principal_fen: int) -> int:
        return sum(fee.fen(principal_fen) for fee in self.fees)


def check_against_terms(policy: Policy, terms: ProductTerms, pointer: str = "/policy") -> None:
    """Refuse (422, pointed) band rates outside the product's rate range, so what a bank
    writes is what an enterprise is offered (``decide`` would otherwise hold them inside)."""
    errors = [
        {
            "pointer": pointer_join(pointer, "rates", band),
            "detail": f"must lie within the product's rate range "
            f"{terms.rate_min_pct}%-{terms.rate_max_pct}%",
        }
        for band, rate in policy.rates.items()
        if not terms.rate_min_pct <= rate <= terms.rate_max_pct
    ]
    if errors:
        raise Invalid("policy rates outside the product's range", errors=errors)


# ---------------------------------------------------------------- the decision


class Scored(Protocol):
    """What the decision needs of a credit score (``credit.scoring.ScoreResult`` is one)."""

    @property
    def score(self) -> int: ...

    @property
    def band(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's answer for one application (or one matching estimate).

    ``amount_fen``, ``annual_rate_pct``, ``apr_pct`` and ``instalments`` are the offer
    (indicative when referred); they are None/empty when declined."""

    outcome: Literal["approve", "refer", "decline"]
    score: int
    band: str
    amount_fen: int | None
    term_months: int
    method: RepaymentMethod
    annual_rate_pct: Decimal | None
    apr_pct: Decimal | None
    fees_fen: int | None
    total_interest_fen: int | None
    instalments: tuple[Instalment, ...]
    reasons: tuple[Reason, ...] = field(default_factory=tuple)


def _decline(
    score: Scored, term_months: int, method: RepaymentMethod, *reasons: Reason
) -> Decision:
    return Decision(
        "decline",
        score.score,
        score.band,
        None,
        term_months,
        method,
        None,
        None,
        None,
        None,
        (),
        reasons,
    )


def decide(
    policy: Policy,
    facts: Facts,
    score: Scored,
    terms: ProductTerms,
    *,
    amount_fen: int,
    term_months: int,
    method: RepaymentMethod,
    start: dt.date | None = None,
    preview_months: int | None = PREVIEW_MONTHS,
) -> Decision:
    """Approve, refer or decline an application for ``amount_fen`` over ``term_months``
    repaid by ``method``, with the offer. The term and method must be the product's
    (``Invalid`` otherwise); eligibility is decided separately, by ``products.rules``.
    ``preview_months`` instalments are kept (None: all)."""
    method = RepaymentMethod(method)
    if method not in terms.methods:
        raise Invalid(f"the product does not offer repayment by {method.value}")
    if not terms.min_term_months <= term_months <= terms.max_term_months:
        raise Invalid(f"the term must be {terms.min_term_months} to {terms.max_term_months} months")
    if amount_fen <= 0:
        raise Invalid("the amount asked must be positive")

    if score.score < policy.refer_min_score:
        return _decline(
            score,
            term_months,
            method,
            Reason(
                "score_below_cutoff",
                f"信用评分{score.score}低于本产品要求的{policy.refer_min_score}",
                f"credit score {score.score} is below the product's {policy.refer_min_score}",
            ),
        )
    band_rate = policy.rates.get(score.band)
    if band_rate is None:
        return _decline(
            score,
            term_months,
            method,
            Reason(
                "band_not_served",
                f"本产品不向信用评分{score.band}档的企业放款",
                f"the product does not lend to score band {score.band}",
            ),
        )
    supported = policy.amount.amount_fen(facts)
    if supported is None:
        return _decline(
            score,
            term_months,
            method,
            Reason(
                "amount_basis_unknown",
                "缺少测算额度所需的纳税或营业收入数据",
                "no tax or revenue data to size the amount on",
            ),
        )
    offered = min(supported, terms.max_amount_fen, amount_fen)
    offered -= offered % policy.round_down_fen
    if offered < terms.min_amount_fen:
        return _decline(
            score,
            term_months,
            method,
            Reason(
                "amount_below_minimum",
                "按经营数据测算的额度低于本产品最低额度",
                "the amount the data supports is below the product's minimum",
            ),
        )

    rate = min(max(band_rate, terms.rate_min_pct), terms.rate_max_pct)
    fees = terms.fees_fen(offered)
    offer = priced(offered, rate, term_months, method, start or facts.as_of, fees)
    reasons: list[Reason] = []
    if offered < amount_fen:
        reasons.append(
            Reason(
                "amount_reduced",
                "额度按经营数据与产品上限核定，低于申请金额",
                "amount reduced to what the data and the product allow",
            )
        )
    outcome: Literal["approve", "refer"] = "approve"
    if score.score < policy.approve_min_score:
        outcome = "refer"
        reasons.append(
            Reason(
                "manual_review",
                f"信用评分{score.score}低于自动审批线{policy.approve_min_score}，需人工审核",
                f"credit score {score.score} is below the automatic approval line "
                f"{policy.approve_min_score}: manual review",
            )
        )
    return Decision(
        outcome=outcome,
        score=score.score,
        band=score.band,
        amount_fen=offered,
        term_months=term_months,
        method=method,
        annual_rate_pct=rate,
        apr_pct=offer.apr_pct,
        fees_fen=fees,
        total_interest_fen=offer.total_interest_fen,
        instalments=offer.instalments[:preview_months],
        reasons=tuple(reasons),
    )


def first_method(terms: ProductTerms, wanted: RepaymentMethod | None) -> RepaymentMethod:
    """The method asked for when the product offers it, else the product's first."""
    if wanted is not None and wanted in terms.methods:
        return wanted
    return terms.methods[0]


def clamp_term(terms: ProductTerms, wanted: int | None) -> int:
    """The term asked for held inside the product's range (its longest by default)."""
    if wanted is None:
        return terms.max_term_months
    return min(max(wanted, terms.min_term_months), terms.max_term_months)
