"""Request and response shapes of the demand market."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from finance.core.text import NoControl
from finance.demands.models import ContactChannel, DeclineReason, DemandStatus, Urgency
from products.models import Guarantee

# Ids are 64-bit: anything larger is refused as input, not sent to the database.
MAX_ID = 2**63 - 1
# 1 fen to 10 billion yuan: far beyond any SME loan, far below BIGINT.
MAX_AMOUNT_FEN = 1_000_000_000_000
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), NoControl]
# Mainland mobile (1xx xxxx xxxx) or landline with area code (0xx(x)-xxxxxxx(x)).
Phone = Annotated[str, StringConstraints(pattern=r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")]


class DemandIn(BaseModel):
    """What an enterprise needs: amount in integer fen, term in months."""

    model_config = ConfigDict(extra="forbid")

    amount_fen: int = Field(gt=0, le=MAX_AMOUNT_FEN)
    term_months: int = Field(ge=1, le=360)
    purpose: Annotated[Text, StringConstraints(max_length=500)]
    guarantee: Guarantee
    urgency: Urgency = Urgency.NORMAL
    contact_channel: ContactChannel = ContactChannel.PHONE
    contact_name: Annotated[Text, StringConstraints(max_length=64)] | None = None
    contact_phone: Phone | None = None
    contact_note: Annotated[Text, StringConstraints(max_length=200)] | None = None


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[Text, StringConstraints(max_length=500)] | None = None


class WithdrawIn(BaseModel):
    """Why the enterprise takes its demand back (optional, e.g. "found the money
    elsewhere"); recorded in the demand's history."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[Text, StringConstraints(max_length=200)] | None = None


class LoanOutcomeIn(BaseModel):
    """The demand led to a loan; ``application_id`` names the application when the
    platform holds it."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["loan"]
    application_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    note: Annotated[Text, StringConstraints(max_length=500)] | None = None


class DeclineOutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["declined"]
    reason: DeclineReason
    note: Annotated[Text, StringConstraints(max_length=500)] | None = None


OutcomeIn = Annotated[LoanOutcomeIn | DeclineOutcomeIn, Field(discriminator="outcome")]


class PushOut(BaseModel):
    bank_id: int
    bank_name: str
    bank_name_en: str
    product_id: int
    round: int
    rank: int
    fit: int
    pushed_at: dt.datetime


class EventOut(BaseModel):
    kind: str
    at: dt.datetime
    actor: str
    bank_id: int | None
    detail: dict[str, Any]


class EnterpriseSummary(BaseModel):
    uscc: str
    name: str
    city_code: str
    industry_section: str
    size_class: str


class DemandOut(BaseModel):
    """The whole demand, as its enterprise and ops see it."""

    id: int
    uscc: str
    amount_fen: int
    term_months: int
    purpose: str
    guarantee: str
    urgency: str
    contact_channel: str
    contact_name: str | None
    contact_phone: str | None
    contact_note: str | None
    status: DemandStatus
    posted_at: dt.datetime
    push_round: int
    due_at: dt.datetime | None
    overdue_count: int
    first_overdue_at: dt.datetime | None
    last_overdue_at: dt.datetime | None
    claimed_bank_id: int | None
    claimed_at: dt.datetime | None
    contacted_at: dt.datetime | None
    outcome_at: dt.datetime | None
    decline_reason: str | None
    application_id: int | None
    synthetic: bool
    pushes: list[PushOut]
    events: list[EventOut]


class BankDemandOut(BaseModel):
    """A demand in a pushed bank's queue. ``status`` is ``taken`` once another bank has
    claimed it, ``withdrawn`` once the enterprise has taken it back; the contact details
    are there only for the bank that claimed it."""

    id: int
    enterprise: EnterpriseSummary
    amount_fen: int
    term_months: int
    purpose: str
    guarantee: str
    urgency: str
    contact_channel: str
    contact_name: str | None
    contact_phone: str | None
    contact_note: str | None
    status: Literal["open", "claimed", "contacted", "loan", "declined", "withdrawn", "taken"]
    claimed_by_you: bool
    posted_at: dt.datetime
    pushed_at: dt.datetime
    round: int
    rank: int
    product_id: int
    due_at: dt.datetime | None
    claimed_at: dt.datetime | None
    contacted_at: dt.datetime | None
    outcome_at: dt.datetime | None
    decline_reason: str | None
    application_id: int | None


class DemandPage(BaseModel):
    items: list[DemandOut]
    next_before: int | None


class BankDemandPage(BaseModel):
    items: list[BankDemandOut]
    next_before: int | None
