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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.orm import Session

from credit.registry import active_version, load_model
from credit.scoring import ScoreResult, score_enterprise
from finance.lending.schedule import RepaymentMethod
from products.facts import Facts
from products.policy import Decision, Policy, ProductTerms, Scored, clamp_term, decide, first_method
from products.rules import Eligibility, RuleOutcome, failures

Approval = Literal["likely", "review", "unlikely"]
_TIER: dict[str, Approval] = {"approve": "likely", "refer": "review", "decline": "unlikely"}
_ORDER = {"likely": 0, "review": 1, "unlikely": 2}


@dataclass(frozen=True, slots=True)
class Candidate:
    """One online product version, ready to evaluate (its rules and policy parsed)."""

    version_id: int
    product_id: int
    bank_id: int
    code: str
    name: str
    eligibility: Eligibility
    policy: Policy
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
        if self.decision is None:
            return 0
        return self.decision.score - self.candidate.policy.approve_min_score


def assess(candidate: Candidate, facts: Facts, score: Scored, ask: Ask) -> Match:
    """One product against one enterprise."""
    failed = failures(candidate.eligibility, facts)
    if failed:
        return Match(candidate, False, tuple(failed), None, None)
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
        assert match.decision is not None
        apr = match.decision.apr_pct
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
    return rank(assess(candidate, facts, score, ask) for candidate in candidates)


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
