"""Matching: every online product version against one enterprise's facts and score.

A product is *eligible* when every eligibility rule passes (``products.rules.passes``, the
evaluator the decision uses too). Eligible products carry the policy's estimate for the
amount, term and method asked (``products.policy.decide``, the same function the
automatic decision calls): amount, annual rate, APR with fees and the first instalments.
They are ranked by the estimated chance of approval: the policy's outcome first
(approve, then manual review, then decline), then the score's margin over the product's
approval line, then the lowest APR. Ineligible products come with the rules they fail in
plain words (zh and en) and the enterprise's own values.

Matching is for the enterprise itself (and for ops): the endpoints refuse bank users, so a
bank learns nothing about an enterprise from it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Select, String, cast, func, select
from sqlalchemy.orm import Session

from credit.registry import active_version, load_model
from credit.scoring import ScoreResult, score_enterprise
from finance.core.errors import NotFound, Unavailable
from finance.enterprises.models import Enterprise
from finance.institutions.models import Bank
from finance.lending.schedule import RepaymentMethod
from products.facts import Facts, enterprise_facts
from products.models import LoanProduct, ProductVersion
from products.policy import (
    Decision,
    Policy,
    ProductTerms,
    Scored,
    clamp_term,
    decide,
    first_method,
    parse_policy,
)
from products.rules import Eligibility, Memo, RuleOutcome, failures, parse_eligibility
from products.service import online_versions, terms_of

Approval = Literal["likely", "review", "unlikely"]
_TIER: dict[str, Approval] = {"approve": "likely", "refer": "review", "decline": "unlikely"}
_ORDER = {"likely": 0, "review": 1, "unlikely": 2}


@dataclass(frozen=True, slots=True)
class Candidate:
    """One online product version, ready to evaluate (its rules and policy parsed)."""

    version_id: int
    version_number: int
    product_id: int
    bank_id: int
    bank_name: str
    code: str
    name: str
    name_en: str | None
    guarantee: str
    eligibility: Eligibility
    policy: Policy | None
    terms: ProductTerms


@dataclass(frozen=True, slots=True)
class Ask:
    """What the enterprise would ask for: ``None`` takes the product's maximum amount,
    its longest term and its first repayment method."""

    amount_fen: int | None = None
    term_months: int | None = None
    method: RepaymentMethod | None = None
    preview_months: int = 3


@dataclass(frozen=True, slots=True)
class Match:
    candidate: Candidate
    eligible: bool
    failed: tuple[RuleOutcome, ...]  # empty when eligible
    decision: Decision | None  # the policy's estimate, for eligible products
    approval: Approval | None

    @property
    def margin(self) -> int:
        """Score points over the product's automatic approval line (0 without a policy)."""
        if self.decision is None or self.candidate.policy is None:
            return 0
        return self.decision.score - self.candidate.policy.approve_min_score


def assess(
    candidate: Candidate, facts: Facts, score: Scored, ask: Ask, memo: Memo | None = None
) -> Match:
    """One product against one enterprise (``memo``: the rule outcomes for these facts
    so far, see ``products.rules.failures``)."""
    failed = failures(candidate.eligibility, facts, memo)
    if failed:
        return Match(candidate, False, tuple(failed), None, None)
    if candidate.policy is None:
        # No declarative policy: the bank decides every application by hand.
        return Match(candidate, True, (), None, "review")
    terms = candidate.terms
    decision = decide(
        candidate.policy,
        facts,
        score,
        terms,
        amount_fen=ask.amount_fen or terms.max_amount_fen,
        term_months=clamp_term(terms, ask.term_months),
        method=first_method(terms, ask.method),
        preview_months=ask.preview_months,
    )
    return Match(candidate, True, (), decision, _TIER[decision.outcome])


def rank(matches: Iterable[Match]) -> tuple[list[Match], list[Match]]:
    """Eligible products best first, and the ineligible ones (by product code)."""
    eligible: list[Match] = []
    ineligible: list[Match] = []
    for match in matches:
        (eligible if match.eligible else ineligible).append(match)

    def order(match: Match) -> tuple[int, int, float, str]:
        assert match.approval is not None
        apr = None if match.decision is None else match.decision.apr_pct
        return (
            _ORDER[match.approval],
            -match.margin,
            float(apr) if apr is not None else float("inf"),
            match.candidate.code,
        )

    eligible.sort(key=order)
    ineligible.sort(key=lambda m: m.candidate.code)
    return eligible, ineligible


@dataclass(frozen=True, slots=True)
class MatchResult:
    uscc: str
    as_of: dt.date
    score: Scored
    model_version: str
    facts: Facts
    eligible: list[Match]
    ineligible: list[Match]


def match_candidates(
    candidates: Sequence[Candidate], facts: Facts, score: Scored, ask: Ask
) -> tuple[list[Match], list[Match]]:
    memo: Memo = {}
    return rank(assess(candidate, facts, score, ask, memo) for candidate in candidates)


def current_score(
    session: Session, uscc: str, as_of: dt.date, data_dir: Path
) -> ScoreResult | None:
    """The enterprise's score by the active credit model as of ``as_of`` (a profile
    score: no amount applied for), or None when no model is active."""
    if active_version(session) is None:
        return None
    return score_enterprise(
        session, uscc, as_of, data_dir=data_dir, model=load_model(session, data_dir)
    )


# Parsed candidates by version id, with the ``updated_at`` they were parsed at: an online
# version's terms do not change (an edit makes a new version), so matching parses each
# version's rules and policy once per process, not once per request.
_PARSED: dict[tuple[str, int], tuple[str, Candidate]] = {}
_PARSED_MAX = 20_000


def target_rules(version: ProductVersion) -> list[dict[str, object]]:
    """The version's target cities, industries and sizes as eligibility rules (an empty
    list targets everyone), so they are evaluated and explained like any other rule."""
    rules: list[dict[str, object]] = []
    for fact, values in (
        ("city", version.cities),
        ("industry", version.industries),
        ("size_class", version.sizes),
    ):
        if values:
            rules.append({"fact": fact, "op": "in", "value": list(values)})
    return rules


def candidate_of(version: ProductVersion, code: str, bank_name: str) -> Candidate:
    """A stored version ready to evaluate: its targets, rules and policy parsed."""
    return Candidate(
        version_id=version.id,
        version_number=version.number,
        product_id=version.product_id,
        bank_id=version.bank_id,
        bank_name=bank_name,
        code=code,
        name=version.name,
        name_en=version.name_en,
        guarantee=version.guarantee,
        eligibility=parse_eligibility(
            [*target_rules(version), *version.eligibility], pointer="/eligibility"
        ),
        policy=None if version.policy is None else parse_policy(version.policy),
        terms=terms_of(version),
    )


# The last list of online candidates, with the fingerprint of the online set it was built
# from: the number of online versions, two sums over their ids (which change whenever a
# version joins or leaves) and their latest update stamp. One aggregate row is far cheaper
# than listing a thousand versions on every request.
_LISTED: dict[str, tuple[tuple[Any, ...], list[Candidate]]] = {}


@functools.cache
def _fingerprint_statement() -> Select[int, Any, Any, str]:
    """The aggregate row that fingerprints the online set. Built once: building the
    subquery's column collection cost more than running the query."""
    online = online_versions().subquery()
    return select(
        func.count(),
        func.sum(online.c.id),
        func.sum(online.c.id * online.c.id),
        func.max(cast(online.c.updated_at, String)),
    )


def online_candidates(session: Session) -> list[Candidate]:
    """Every online product version, parsed (from the cache when unchanged). The caches
    are kept per database (a process may serve several, as the tests do)."""
    database = session.connection().engine.url.render_as_string(hide_password=True)
    fingerprint = tuple(session.execute(_fingerprint_statement()).one())
    listed_before = _LISTED.get(database)
    if listed_before is not None and listed_before[0] == fingerprint:
        return listed_before[1]
    listed = session.execute(
        online_versions()
        # The stamp as stored text: compared, never read as a time.
        .with_only_columns(ProductVersion.id, cast(ProductVersion.updated_at, String))
        .order_by(ProductVersion.id)
    ).all()
    missing = [
        version_id
        for version_id, updated_at in listed
        if (cached := _PARSED.get((database, version_id))) is None or cached[0] != updated_at
    ]
    if missing:
        stamps = dict(listed)
        rows = session.execute(
            select(ProductVersion, LoanProduct.code, Bank.name)
            .join(LoanProduct, LoanProduct.id == ProductVersion.product_id)
            .join(Bank, Bank.id == ProductVersion.bank_id)
            .where(ProductVersion.id.in_(missing))
        ).all()
        if len(_PARSED) + len(rows) > _PARSED_MAX:
            _PARSED.clear()
        for version, code, bank_name in rows:
            _PARSED[database, version.id] = (
                stamps[version.id],
                candidate_of(version, code, bank_name),
            )
    candidates = [_PARSED[database, version_id][1] for version_id, _ in listed]
    if len(_LISTED) > 16:
        _LISTED.clear()
    _LISTED[database] = (fingerprint, candidates)
    return candidates


def match_enterprise(
    session: Session, uscc: str, as_of: dt.date, ask: Ask, *, data_dir: Path
) -> MatchResult:
    """Every online product version against the enterprise's facts and its score by the
    active credit model, as of ``as_of``."""
    if session.get(Enterprise, uscc) is None:
        raise NotFound(f"no enterprise {uscc}")
    score = current_score(session, uscc, as_of, data_dir)
    if score is None:
        raise Unavailable("no active credit model: matching needs the enterprise's score")
    facts = enterprise_facts(session, uscc, as_of).with_score_band(score.band, as_of)
    eligible, ineligible = match_candidates(online_candidates(session), facts, score, ask)
    return MatchResult(uscc, as_of, score, score.model_version, facts, eligible, ineligible)
