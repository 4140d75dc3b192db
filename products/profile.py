"""The enterprise's own profile (画像): every fact the eligibility rules read, with its
value in words, its source category and the as-of date of the data behind it, and the
headline figures of each data category (the same summary a consenting bank's profile
call gets). The records themselves are read page by page through
``finance.govdata.service.records_page`` (ID numbers masked there, as everywhere).

What the platform knows about an enterprise is never hidden from that enterprise.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from finance.govdata import service as govdata
from finance.govdata.categories import REGISTRY
from products.facts import FACTS, Facts, FactType
from products.rules import format_value

CREDIT_MODEL_SOURCE = {"zh": "信用评分模型", "en": "credit scoring model"}


def source_words(source: str) -> dict[str, str]:
    if source in REGISTRY:
        category = REGISTRY[source]
        return {"zh": category.zh, "en": category.en}
    return dict(CREDIT_MODEL_SOURCE)


def facts_out(facts: Facts) -> list[dict[str, Any]]:
    """Each documented fact with its value, words, source and as-of date."""
    out = []
    for fact in FACTS:
        entry = facts.values.get(fact.name)
        value = facts.value(fact.name)
        item: dict[str, Any] = {
            "name": fact.name,
            "zh": fact.zh,
            "en": fact.en,
            "type": fact.type.value,
            "unit": fact.unit,
            "value": value,
            "value_zh": format_value(fact, value, "zh"),
            "value_en": format_value(fact, value, "en"),
            "source": fact.source,
            "source_words": source_words(fact.source),
            "as_of": None if entry is None else entry.as_of,
        }
        if fact.type is FactType.RECORDS:
            item["record_dates"] = list(facts.records.get(fact.name, ()))
        out.append(item)
    return out


def enterprise_profile(session: Session, uscc: str, as_of: dt.date, facts: Facts) -> dict[str, Any]:
    """The profile of one enterprise as of a date from its facts (score band included
    when the caller scored it)."""
    summary = govdata.profile(session, uscc, as_of=as_of)
    return {
        "uscc": uscc,
        "as_of": as_of,
        "facts": facts_out(facts),
        "categories": [
            {
                "name": name,
                "zh": REGISTRY[name].zh,
                "en": REGISTRY[name].en,
                "summary": figures,
            }
            for name, figures in summary["categories"].items()
        ],
    }
