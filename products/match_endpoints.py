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
from finance.lending.schedule import RepaymentMethod
from products.facts import enterprise_facts
from products.matching import Ask, Match, current_score, match_enterprise
from products.policy import Decision
from products.profile import enterprise_profile
from products.rules import RuleOutcome, rule_json

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


def _decision_out(decision: Decision) -> dict[str, Any]:
    return {
        "outcome": decision.outcome,
        "amount_fen": decision.amount_fen,
        "term_months": decision.term_months,
        "method": decision.method.value,
        "annual_rate_pct": decision.annual_rate_pct,
        "apr_pct": decision.apr_pct,
        "fees_fen": decision.fees_fen,
        "total_interest_fen": decision.total_interest_fen,
        "first_instalments": [
            {
                "number": i.number,
                "due_on": i.due_on,
                "principal_fen": i.principal_fen,
                "interest_fen": i.interest_fen,
                "total_fen": i.total_fen,
                "balance_after_fen": i.balance_after_fen,
            }
            for i in decision.instalments
        ],
        "reasons": [{"code": r.code, "zh": r.zh, "en": r.en} for r in decision.reasons],
    }


def _failed_out(outcome: RuleOutcome) -> dict[str, Any]:
    return {
        "rule": rule_json(outcome.rule),
        "zh": outcome.zh,
        "en": outcome.en,
        "yours_zh": outcome.actual_zh,
        "yours_en": outcome.actual_en,
    }


def _match_out(match: Match) -> dict[str, Any]:
    candidate = match.candidate
    out: dict[str, Any] = {
        "product_id": candidate.product_id,
        "version_id": candidate.version_id,
        "version_number": candidate.version_number,
        "code": candidate.code,
        "name": candidate.name,
        "name_en": candidate.name_en,
        "bank_id": candidate.bank_id,
        "bank_name": candidate.bank_name,
        "guarantee": candidate.guarantee,
        "amount_range_fen": [candidate.terms.min_amount_fen, candidate.terms.max_amount_fen],
        "term_range_months": [candidate.terms.min_term_months, candidate.terms.max_term_months],
        "rate_range_pct": [candidate.terms.rate_min_pct, candidate.terms.rate_max_pct],
    }
    if match.eligible:
        out["approval"] = match.approval
        out["score_margin"] = match.margin
        out["estimate"] = None if match.decision is None else _decision_out(match.decision)
    else:
        out["failed_rules"] = [_failed_out(o) for o in match.failed]
    return out


@router.get("/matches")
def matches(
    session: SessionDep,
    uscc: ReadableUscc,
    now: NowDep,
    request: Request,
    amount_fen: Annotated[int | None, Query(gt=0, le=10**14)] = None,
    term_months: Annotated[int | None, Query(ge=1, le=360)] = None,
    method: RepaymentMethod | None = None,
    preview_months: Annotated[int, Query(ge=1, le=360)] = 3,
) -> dict[str, Any]:
    """Every online product against the enterprise: eligible ones ranked by the estimated
    chance of approval with an indicative amount, annual rate, APR (fees included) and the
    first instalments for the method asked (the product's first when it does not offer
    it); ineligible ones with the rules they fail in plain words."""
    result = match_enterprise(
        session,
        uscc,
        _today(now),
        Ask(amount_fen, term_months, method, preview_months),
        data_dir=request.app.state.settings.resolved_data_dir,
    )
    return {
        "uscc": result.uscc,
        "as_of": result.as_of,
        "score": {
            "score": result.score.score,
            "band": result.score.band,
            "model_version": result.model_version,
        },
        "eligible": [_match_out(m) for m in result.eligible],
        "ineligible": [_match_out(m) for m in result.ineligible],
    }
