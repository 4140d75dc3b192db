"""Which banks a financing demand goes to: the banks with an online product that fits it,
best fit first.

A product version fits a demand when it is online (``products.service.online_versions``,
the one query of what is online) and the demand's amount and term lie within its ranges,
it asks for no more security than the enterprise offers (a pure-credit product fits every
demand; a mortgage product only a demand offering a mortgage), and it is offered in the
enterprise's city, industry section and size class (an empty target list means all).

Among fitting versions, the fit score prefers products made for this kind of demand: the
guarantee the enterprise offers exactly (+8), the enterprise's city named (+4), its
industry named (+2), its size class named (+2). A bank's fit is that of its best version;
banks are ranked by fit, then by the lowest annual rate they start at, then by bank id, so
the order is total and repeatable.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from finance.enterprises.models import Enterprise
from products.models import Guarantee, ProductVersion
from products.service import CatalogueFilters, online_versions

EXACT_GUARANTEE, CITY_NAMED, INDUSTRY_NAMED, SIZE_NAMED = 8, 4, 2, 2


@dataclass(frozen=True, slots=True)
class BankFit:
    bank_id: int
    product_id: int
    version_id: int
    fit: int
    rate_min_pct: Decimal


def acceptable_guarantees(offered: str) -> list[str]:
    """The product guarantee types a demand offering ``offered`` can meet."""
    return sorted({Guarantee.PURE_CREDIT.value, offered})


def fit_score(version: ProductVersion, offered: str, enterprise: Enterprise) -> int:
    return (
        EXACT_GUARANTEE * (version.guarantee == offered)
        + CITY_NAMED * (enterprise.city_code in version.cities)
        + INDUSTRY_NAMED * (enterprise.industry_section in version.industries)
        + SIZE_NAMED * (enterprise.size_class in version.sizes)
    )


def fitting_banks(
    session: Session,
    *,
    enterprise: Enterprise,
    amount_fen: int,
    term_months: int,
    guarantee: str,
    exclude_banks: Collection[int] = (),
    limit: int,
) -> list[BankFit]:
    """The best-fitting ``limit`` banks for a demand, excluding ``exclude_banks``."""
    query = online_versions(
        CatalogueFilters(
            guarantee=acceptable_guarantees(guarantee),
            amount_fen=amount_fen,
            term_months=term_months,
            city=enterprise.city_code,
            industry=enterprise.industry_section,
            size=enterprise.size_class,
        )
    )
    if exclude_banks:
        query = query.where(ProductVersion.bank_id.not_in(list(exclude_banks)))
    best: dict[int, BankFit] = {}
    for version in session.scalars(query):
        candidate = BankFit(
            bank_id=version.bank_id,
            product_id=version.product_id,
            version_id=version.id,
            fit=fit_score(version, guarantee, enterprise),
            rate_min_pct=version.rate_min_pct,
        )
        current = best.get(version.bank_id)
        if current is None or _order(candidate) < _order(current):
            best[version.bank_id] = candidate
    return sorted(best.values(), key=_order)[:limit]


def _order(fit: BankFit) -> tuple[int, Decimal, int, int]:
    return (-fit.fit, fit.rate_min_pct, fit.bank_id, fit.version_id)
