"""Request and response shapes of the consents API."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from finance.core.text import PlainText


class ConsentIn(BaseModel):
    uscc: str = Field(min_length=18, max_length=18)
    categories: list[str] = Field(min_length=1, description="category names (scope data:<name>)")
    data_from: dt.date
    data_to: dt.date
    purpose: PlainText = Field(min_length=1, max_length=2000)
    application_id: int | None = None
    expires_at: dt.datetime
    max_calls_per_day: int = Field(ge=1, le=10_000)


class ConsentChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: str
    at: dt.datetime
    by: str


class ConsentOut(BaseModel):
    id: str
    client_id: str
    uscc: str
    categories: list[str]
    scopes: list[str]
    data_from: dt.date
    data_to: dt.date
    purpose: str
    application_id: int | None
    expires_at: dt.datetime
    max_calls_per_day: int
    origin: str
    status: str
    created_at: dt.datetime
    status_changed_at: dt.datetime
    status_changed_by: str
    changes: list[ConsentChangeOut] = []


class ConsentPage(BaseModel):
    items: list[ConsentOut]
