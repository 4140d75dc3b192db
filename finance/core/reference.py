"""Reference tables the data follows: Henan's divisions (GB/T 2260), industries
(GB/T 4754-2017 sections and 2-digit divisions) and the enterprise size rules of
工信部联企业〔2011〕300号. The CSVs ship inside the package under ``finance/data``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class Division:
    code: str
    name: str
    name_en: str
    level: str


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("finance").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@lru_cache(maxsize=1)
def henan_divisions() -> dict[str, Division]:
    return {row["code"]: Division(**row) for row in _read_csv("henan_divisions.csv")}


def henan_cities() -> list[Division]:
    return [d for d in henan_divisions().values() if d.level == "city"]


def city_of(division_code: str) -> Division | None:
    """The prefecture-level city a GB/T 2260 code lies in, or None outside Henan.

    County-level codes share their city's first four digits (4101xx -> 410100);
    Jiyuan (419001) is a province-administered city with its own code.
    """
    if len(division_code) != 6 or not division_code.isdigit():
        return None
    divisions = henan_divisions()
    if division_code in divisions and divisions[division_code].level == "city":
        return divisions[division_code]
    return divisions.get(division_code[:4] + "00") if division_code[:4] != "4100" else None


# GB/T 4754-2017: each section with the range of its 2-digit divisions.
INDUSTRY_SECTIONS: dict[str, tuple[int, int, str, str]] = {
    "A": (1, 5, "农、林、牧、渔业", "Agriculture, forestry, animal husbandry and fishery"),
    "B": (6, 12, "采矿业", "Mining"),
    "C": (13, 43, "制造业", "Manufacturing"),
    "D": (44, 46, "电力、热力、燃气及水生产和供应业", "Electricity, heat, gas and water"),
    "E": (47, 50, "建筑业", "Construction"),
    "F": (51, 52, "批发和零售业", "Wholesale and retail"),
    "G": (53, 60, "交通运输、仓储和邮政业", "Transport, storage and post"),
    "H": (61, 62, "住宿和餐饮业", "Accommodation and catering"),
    "I": (63, 65, "信息传输、软件和信息技术服务业", "Information transmission, software and IT"),
    "J": (66, 69, "金融业", "Finance"),
    "K": (70, 70, "房地产业", "Real estate"),
    "L": (71, 72, "租赁和商务服务业", "Leasing and business services"),
    "M": (73, 75, "科学研究和技术服务业", "Scientific research and technical services"),
    "N": (76, 79, "水利、环境和公共设施管理业", "Water, environment and public facilities"),
    "O": (80, 82, "居民服务、修理和其他服务业", "Resident, repair and other services"),
    "P": (83, 83, "教育", "Education"),
    "Q": (84, 85, "卫生和社会工作", "Health and social work"),
    "R": (86, 90, "文化、体育和娱乐业", "Culture, sports and entertainment"),
    "S": (91, 96, "公共管理、社会保障和社会组织", "Public administration and social organisations"),
    "T": (97, 97, "国际组织", "International organisations"),
}


def section_of(division: str) -> str | None:
    """The GB/T 4754-2017 section letter of a 2-digit division code ("13" -> "C")."""
    if len(division) != 2 or not division.isdigit():
        return None
    number = int(division)
    for section, (low, high, _zh, _en) in INDUSTRY_SECTIONS.items():
        if low <= number <= high:
            return section
    return None


@dataclass(frozen=True, slots=True)
class SizeRule:
    """One row of the 2011 rule table; thresholds in persons or 10,000 yuan (万元)."""

    industry: str
    indicator_1: str
    indicator_2: str | None
    sme_upper_1: Decimal
    sme_upper_2: Decimal | None
    medium_min_1: Decimal
    medium_min_2: Decimal | None
    small_min_1: Decimal
    small_min_2: Decimal | None

    @property
    def indicators(self) -> list[str]:
        return [self.indicator_1] + ([self.indicator_2] if self.indicator_2 else [])


def _dec(value: str) -> Decimal | None:
    return Decimal(value) if value.strip() else None


@lru_cache(maxsize=1)
def size_rules() -> dict[str, SizeRule]:
    rules: dict[str, SizeRule] = {}
    for row in _read_csv("enterprise_size_2011_300.csv"):
        rules[row["industry"]] = SizeRule(
            industry=row["industry"],
            indicator_1=row["indicator_1"],
            indicator_2=row["indicator_2"] or None,
            sme_upper_1=Decimal(row["sme_upper_1"]),
            sme_upper_2=_dec(row["sme_upper_2"]),
            medium_min_1=Decimal(row["medium_min_1"]),
            medium_min_2=_dec(row["medium_min_2"]),
            small_min_1=Decimal(row["small_min_1"]),
            small_min_2=_dec(row["small_min_2"]),
        )
    return rules


# Which rule row applies to a GB/T 4754-2017 2-digit division.
_DIVISION_RULE: dict[range, str] = {
    range(1, 6): "agriculture",
    range(6, 47): "industry",  # B mining, C manufacturing, D utilities
    range(47, 51): "construction",
    range(51, 52): "wholesale",
    range(52, 53): "retail",
    range(53, 59): "transport",
    range(59, 60): "warehousing",
    range(60, 61): "postal",
    range(61, 62): "accommodation",
    range(62, 63): "catering",
    range(63, 65): "information_transmission",
    range(65, 66): "software_it",
    range(70, 71): "real_estate_development",
    range(71, 73): "leasing_business_services",
}
PROPERTY_MANAGEMENT_CLASS = "7020"  # 物业管理: the only 4-digit class with its own row


def size_rule_for(division: str, industry_class: str | None = None) -> SizeRule:
    rules = size_rules()
    if industry_class == PROPERTY_MANAGEMENT_CLASS:
        return rules["property_management"]
    if division.isdigit():
        number = int(division)
        for numbers, name in _DIVISION_RULE.items():
            if number in numbers:
                return rules[name]
    return rules["other"]
