"""Response shapes of the enterprise registry."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict


def mask_id_number(number: str) -> str:
    """Keep the first 3 and last 4 characters of a resident ID number: region prefix and
    check digits identify nothing on their own; the birth date is hidden."""
    if len(number) <= 7:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


class EnterpriseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    uscc: str
    name: str
    legal_rep_name: str
    legal_rep_id_number_masked: str
    founded_on: dt.date
    registered_capital_fen: int
    status: str
    division_code: str
    city_code: str
    city_name: str | None
    industry_section: str
    industry_division: str
    industry_class: str | None
    employees: int | None
    revenue_fen: int | None
    total_assets_fen: int | None
    size_class: str
    record_date: dt.date


class EnterprisePage(BaseModel):
    items: list[EnterpriseOut]
    next_cursor: str | None
    total: int
