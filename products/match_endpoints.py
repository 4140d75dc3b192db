"""The enterprise's own profile (画像) and its product matches, over HTTP.

Both are for the enterprise itself (an enterprise user of that enterprise, once its legal
representative is authenticated) and for platform ops (a city branch: enterprises of its
city). Bank users are refused outright, whatever the enterprise: a bank learns about an
enterprise only through a data call under that enterprise's consent. Another
enterprise's profile or matches are a 404, as is an enterprise outside a city branch.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from authz.clock import NowDep
from authz.deps import CurrentUser
from authz.errors import AccessRefused
from authz.models import UserKind
from finance.core.deps import SessionDep
from finance.core.errors import NotFound
from finance.enterprises.models import Enterprise
from finance.govdata import service as govdata
from finance.govdata.schemas import RecordsPage
from products.facts import enterprise_facts
from products.matching import current_score
from products.profile import enterprise_profile

router = APIRouter(prefix="/api/v1/enterprises/{uscc}", tags=["enterprise profile and matching"])


def readable_enterprise(uscc: str, user: CurrentUser, session: SessionDep) -> str:
    """The USCC in the path, if the caller may read that enterprise's own view."""
    if user.kind == UserKind.ENTERPRISE.value:
        if user.uscc != uscc:
            raise NotFound(f"no enterprise {uscc}")
        if user.authenticated_at is None:
            raise AccessRefused(
                403,
                "enterprise_not_authenticated",
                "authenticate the legal representative (认证) first",
            )
        return uscc
    if user.kind == UserKind.OPS.value:
        enterprise = session.get(Enterprise, uscc)
        if enterprise is None or (
            user.city_code is not None and enterprise.city_code != user.city_code
        ):
            raise NotFound(f"no enterprise {uscc}")
        return uscc
    raise AccessRefused(
        403,
        "forbidden",
        "profiles and matching are for the enterprise itself and platform ops; a bank "
        "reads an enterprise's data through a data call under its consent",
    )


ReadableUscc = Annotated[str, Depends(readable_enterprise)]


def _today(now: dt.datetime) -> dt.date:
    return now.date()


@router.get("/portrait")
def portrait(
    session: SessionDep, uscc: ReadableUscc, now: NowDep, request: Request
) -> dict[str, Any]:
    """Every fact the eligibility rules read (with source category and as-of date), the
    score band from the active credit model when there is one, and the headline figures
    of each data category."""
    as_of = _today(now)
    facts = enterprise_facts(session, uscc, as_of)
    score = current_score(session, uscc, as_of, request.app.state.settings.resolved_data_dir)
    if score is not None:
        facts = facts.with_score_band(score.band, as_of)
    return enterprise_profile(session, uscc, as_of, facts)


@router.get("/portrait/records/{category}", response_model=RecordsPage)
def portrait_records(
    session: SessionDep,
    uscc: ReadableUscc,
    category: str,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=govdata.MAX_PAGE)] = 100,
) -> RecordsPage:
    """The enterprise's own records of one category, oldest first (ID numbers masked)."""
    return govdata.records_page(
        session.connection(),
        uscc,
        category,
        date_from=date_from,
        date_to=date_to,
        cursor=cursor,
        limit=limit,
    )
