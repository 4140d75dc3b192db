"""Builders of valid department rows and files for tests (each test owns its data)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stdnum.cn import ric

from finance.enterprises.uscc import with_check_character
from finance.govdata.categories import get_category


def uscc(serial: int, city: str = "410100") -> str:
    """A valid USCC for a company registered in ``city``; distinct per serial."""
    return with_check_character(f"91{city}MA{serial:07d}")


def id_number(region: str = "410100", birth: str = "19800101", serial: int = 123) -> str:
    body = f"{region}{birth}{serial:03d}"
    return body + ric.calc_check_digit(body + "0")


def registration_row(code: str, **overrides: Any) -> dict[str, str]:
    row = {
        "uscc": code,
        "event_date": "2020-03-01",
        "event_type": "establishment",
        "change_item": "",
        "before_value": "",
        "after_value": "",
        "name": "郑州测试机械有限公司",
        "legal_rep_name": "张伟",
        "legal_rep_id_number": id_number(),
        "founded_on": "2020-03-01",
        "registered_capital": "1000000",
        "status": "存续",
        "division_code": code[2:8],
        "industry_division": "13",
        "industry_class": "",
        "employees": "25",
        "revenue": "5000000",
        "total_assets": "3000000",
    }
    row.update({k: str(v) for k, v in overrides.items()})
    return row


def tax_row(code: str, period: str, **overrides: Any) -> dict[str, str]:
    row = {
        "uscc": code,
        "period": period,
        "vat_paid": "1200.50",
        "cit_paid": "300",
        "iit_withheld": "45.10",
        "other_paid": "12",
        "arrears": "0",
        "credit_rating": "B",
    }
    row.update({k: str(v) for k, v in overrides.items()})
    return row


def months(start_year: int, start_month: int, count: int) -> list[str]:
    out = []
    for offset in range(count):
        index = start_year * 12 + start_month - 1 + offset
        out.append(f"{index // 12:04d}-{index % 12 + 1:02d}")
    return out


def write_csv(
    path: Path,
    category: str,
    rows: Iterable[dict[str, str]],
    *,
    encoding: str = "utf-8",
    header: list[str] | None = None,
) -> Path:
    columns = header or get_category(category).file_columns
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])
    return path
