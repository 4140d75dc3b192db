"""The lending API's bodies and answers (money in integer fen, rates as Decimal percent,
times in UTC)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from finance.core.text import NoControl

Fen = Annotated[int, Field(ge=1, le=10**14)]


class DraftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_version_id: int
    amount_fen: Fen
    term_months: Annotated[int, Field(ge=1, le=360)]
    repayment_method: str
    purpose: Annotated[str, Field(min_length=1, max_length=200), NoControl]


class SubmitIn(BaseModel):
    """``consent: true`` grants the consent the draft shows (its ``consent`` terms)."""

    model_config = ConfigDict(extra="forbid")

    consent: bool


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(max_length=2000), NoControl] | None = None


class OfficerDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: bool
    note: Annotated[str, Field(min_length=1, max_length=4000), NoControl]


class DisbursementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contract_no: Annotated[str, Field(min_length=1, max_length=64), NoControl]
    amount_fen: Fen
    annual_rate_pct: Annotated[Decimal, Field(gt=0, le=100, max_digits=7, decimal_places=4)]
    term_months: Annotated[int, Field(ge=1, le=360)]
    method: str
    fees_fen: Annotated[int, Field(ge=0, le=10**14)] = 0
    disbursed_on: dt.date


class RepaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_fen: Fen
    paid_on: dt.date


class TransitionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    event: str
    from_status: str | None
    to_status: str
    actor: str
    at: dt.datetime
    reason: str | None


class DecisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    outcome: str
    decided_at: dt.datetime
    model_version: str | None
    pd: float | None
    score: int | None
    band: str | None
    reasons: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    data_reads: dict[str, Any]
    amount_fen: int | None
    term_months: int | None
    method: str | None
    annual_rate_pct: Decimal | None
    apr_pct: Decimal | None
    fees_fen: int | None
    schedule: list[dict[str, Any]]


class ServiceLevels(BaseModel):
    """The 310 clock of one application, in seconds (None until the step happened)."""

    to_apply: float | None  # form opened -> submitted (the "3 minutes")
    to_data: float | None  # submitted -> data collected (the "1 minute")
    to_decision: float | None  # submitted -> decided
    to_disbursement: float | None  # submitted -> disbursed


class ApplicationOut(BaseModel):
    id: int
    uscc: str
    bank_id: int
    product_id: int
    product_version_id: int | None
    amount_fen: int
    term_months: int
    repayment_method: str | None
    purpose: str | None
    status: str
    allowed: list[str]
    consent_id: str | None
    consent: dict[str, Any] | None = None  # what submitting grants (drafts)
    opened_at: dt.datetime
    submitted_at: dt.datetime | None
    data_collected_at: dt.datetime | None
    decided_at: dt.datetime | None
    accepted_at: dt.datetime | None
    disbursed_at: dt.datetime | None
    offer_expires_at: dt.datetime | None
    service_levels: ServiceLevels
    decision: DecisionOut | None = None
    timeline: list[TransitionOut] = []


class ApplicationPage(BaseModel):
    items: list[ApplicationOut]
    next_cursor: str | None


class LoanOut(BaseModel):
    id: int
    application_id: int | None
    uscc: str
    bank_id: int
    contract_no: str | None
    amount_fen: int
    term_months: int
    rate_pct: Decimal
    apr_pct: Decimal | None
    method: str | None
    fees_fen: int
    disbursed_on: dt.date
    maturity_on: dt.date
    status: str
    days_past_due: int
    bucket: str
    max_days_past_due: int
    defaulted_on: dt.date | None
    settled_on: dt.date | None
    owed: dict[str, int]
    schedule: list[dict[str, Any]] = []


class RepaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    loan_id: int
    paid_on: dt.date
    amount_fen: int
    penalty_fen: int
    interest_fen: int
    principal_fen: int
    recorded_by: str


class StepFigures(BaseModel):
    count: int
    median_seconds: float | None
    p95_seconds: float | None
    mean_seconds: float | None


class BankServiceLevels(BaseModel):
    bank_id: int
    since: dt.datetime | None
    until: dt.datetime | None
    applications: int
    to_apply: StepFigures
    to_data: StepFigures
    to_decision: StepFigures
    to_disbursement: StepFigures
