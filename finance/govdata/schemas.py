"""Response shapes of the data hub."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel


class ColumnOut(BaseModel):
    name: str
    kind: str
    zh: str
    en: str
    required: bool
    choices: list[str] | None = None


class CategoryOut(BaseModel):
    name: str
    scope: str
    zh: str
    en: str
    department: str
    department_zh: str
    period: str
    date_column: str
    key: list[str]
    sensitivity: str
    description: str
    columns: list[ColumnOut]


class RecordsPage(BaseModel):
    uscc: str
    category: str
    date_from: dt.date | None
    date_to: dt.date | None
    items: list[dict[str, Any]]
    next_cursor: str | None
