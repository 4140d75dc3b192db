"""The automatic decision on a submitted application (run by the ``lending.decide`` task).

Two transactions, each ending in a conditional transition, so a second delivery of
the task (or a restart half-way) repeats nothing that was committed:

1. ``collect``: read the consented data through the guard's platform entry
   (``authz.guard.read_under_consent``: the consent's checks, the ledger entry in the
   bank's name) and move ``submitted -> data_collected``; the ledger entries commit with
   that transition or not at all. A refused read (consent revoked or expired) declines
   the application there, with that reason.
2. ``score_and_decide``: score with the live model, point in time, for the amount asked;
   evaluate the product version's eligibility rules and decision policy; then, in a short
   write at the end, ``data_collected -> scored -> approved | referred | declined`` with
   the decision row (one per application). A category without data or no live model
   refers it with that reason: never left in between.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from authz import guard
from authz.errors import AccessRefused
from credit.scoring import ScoreResult, score_enterprise
from finance.core.errors import Conflict, DomainError, NotFound
from finance.govdata.categories import REGISTRY, Period
from finance.govdata.models import data_table
from finance.lending.models import ApplicationDecision, ApplicationStatus, LoanApplication
from finance.lending.schedule import RepaymentMethod
from finance.lending.service import OFFER_DAYS
from finance.lending.states import SYSTEM, Event, fire
from products import policy as policies
from products import rules
from products.facts import enterprise_facts
from products.models import ProductVersion
from products.service import terms_of

log = logging.getLogger("finance.lending.decision")
MAX_REASONS = 4
_OUTCOME_EVENT = {"approve": Event.APPROVE, "refer": Event.REFER, "decline": Event.DECLINE}


@dataclass
class _Outcome:
    event: Event
    reasons: list[dict[str, Any]] = field(default_factory=list)
    score: ScoreResult | None = None
    rules: list[dict[str, Any]] = field(default_factory=list)
    offer: policies.Decision | None = None
    data_reads: dict[str, int] = field(default_factory=dict)


def _reason(code: str, zh: str, en: str) -> dict[str, Any]:
    return {"code": code, "zh": zh, "en": en}


def _count_reads(
    connection: Connection, uscc: str, call: guard.DataCall
) -> tuple[dict[str, int], int]:
    """The consented categories' records of the enterprise inside the consented dates:
    what the decision reads (the features and facts are computed from these rows)."""
    counts: dict[str, int] = {}
    assert call.date_from is not None
    assert call.date_to is not None
    for name in call.categories:
        table = data_table(name)
        day = table.c[REGISTRY[name].date_column]
        counts[name] = int(
            connection.execute(
                select(func.count())
                .select_from(table)
                .where(table.c.uscc == uscc, day >= call.date_from, day <= call.date_to)
            ).scalar_one()
        )
    return counts, sum(counts.values())


def collect(session: Session, application_id: int, *, now: dt.datetime) -> bool:
    """Stage 1. True when the application is (now) data_collected and should be scored."""
    application = session.get(LoanApplication, application_id)
    if application is None:
        return False
    if application.status == ApplicationStatus.DATA_COLLECTED.value:
        return True  # a restart after stage 1
    if application.status != ApplicationStatus.SUBMITTED.value:
        return False
    version = _version(session, application)
    assert application.client_id is not None
    assert application.consent_id is not None
    call = guard.DataCall(
        uscc=application.uscc,
        categories=sorted(version.data_categories),
        date_from=None,
        date_to=None,
        client_id=application.client_id,
        request_id=f"application-{application.id}",
    )
    try:
        counts: dict[str, int] = guard.read_under_consent(
            session.connection(),
            call,
            application.consent_id,
            lambda connection, consent: _count_reads(connection, application.uscc, call),
            now=now,
        )
    except AccessRefused as refusal:
        reason = _reason(
            refusal.error,
            f"无法在授权范围内读取企业数据：{refusal.detail}",
            f"the consented data could not be read: {refusal.detail}",
        )
        try:
            _record(session, application, _Outcome(Event.DECLINE, [reason]), now)
        except Conflict:  # another delivery got here first
            session.rollback()
        return False
    application.data_reads = counts
    try:
        fire(session, application, Event.COLLECT, SYSTEM, now)
    except Conflict:
        session.rollback()  # another delivery collected it: its entries stand, not ours
        return False
    return True


def score_and_decide(
    session: Session, application_id: int, *, data_dir: Path, now: dt.datetime
) -> str | None:
    """Stage 2. The outcome, or None when there was nothing to do (decided already,
    withdrawn, or decided by another delivery at the same moment)."""
    application = session.get(LoanApplication, application_id)
    if application is None or application.status != ApplicationStatus.DATA_COLLECTED.value:
        return None
    outcome = _evaluate(
        session, application, _version(session, application), data_dir=data_dir, now=now
    )
    try:
        _record(session, application, outcome, now)
    except Conflict:
        session.rollback()
        return None
    return outcome.event.value


def _version(session: Session, application: LoanApplication) -> ProductVersion:
    version = session.get(ProductVersion, application.product_version_id)
    if version is None:
        raise NotFound(f"application {application.id} has no product version")
    return version


def _evaluate(
    session: Session,
    application: LoanApplication,
    version: ProductVersion,
    *,
    data_dir: Path,
    now: dt.datetime,
) -> _Outcome:
    """Everything the decision rests on, read-only (the writes come after, together)."""
    counts = dict(application.data_reads or {})
    empty = [
        name
        for name in sorted(version.data_categories)
        if counts.get(name, 0) == 0 and REGISTRY[name].period is Period.MONTHLY
    ]
    if empty:
        return _Outcome(
            Event.REFER,
            [
                _reason(
                    "no_data",
                    f"授权范围内没有{REGISTRY[name].zh}数据，需人工审核",
                    f"no {REGISTRY[name].en} data in the consented range: manual review",
                )
                for name in empty
            ][:MAX_REASONS],
            data_reads=counts,
        )
    as_of = now.date()
    try:
        score = score_enterprise(
            session, application.uscc, as_of, data_dir=data_dir, amount_fen=application.amount_fen
        )
    except (NotFound, FileNotFoundError) as missing:
        return _Outcome(
            Event.REFER,
            [
                _reason(
                    "no_live_model",
                    "暂无在用的信用模型，需人工审核",
                    f"no live credit model ({missing}): manual review",
                )
            ],
            data_reads=counts,
        )
    model_reasons = [_reason(f"model:{r['feature']}", r["zh"], r["en"]) for r in score.reasons]
    facts = enterprise_facts(session, application.uscc, as_of).with_score_band(score.band, as_of)
    outcomes = rules.evaluate(rules.parse_eligibility(version.eligibility), facts)
    fired = [
        {
            "passed": o.passed,
            "zh": o.zh,
            "en": o.en,
            "actual_zh": o.actual_zh,
            "actual_en": o.actual_en,
        }
        for o in outcomes
    ]
    failed = [o for o in outcomes if not o.passed]
    if failed:
        reasons = [
            _reason(
                "rule_failed",
                f"不满足：{o.zh}（{o.actual_zh}）",
                f"not met: {o.en} ({o.actual_en})",
            )
            for o in failed
        ]
        return _Outcome(
            Event.DECLINE, (reasons + model_reasons)[:MAX_REASONS], score, fired, data_reads=counts
        )
    if version.policy is None or not version.auto_decision:
        manual = _reason(
            "manual_product", "该产品由银行人工审批", "the bank decides this product by hand"
        )
        return _Outcome(
            Event.REFER, [manual, *model_reasons][:MAX_REASONS], score, fired, data_reads=counts
        )
    try:
        offer = policies.decide(
            policies.parse_policy(version.policy),
            facts,
            score,
            terms_of(version),
            amount_fen=application.amount_fen,
            term_months=application.term_months,
            method=RepaymentMethod(application.repayment_method or version.repayment_methods[0]),
            start=as_of,
            preview_months=None,
        )
    except DomainError as unfit:  # the application no longer fits the version's terms
        mismatch = _reason(
            "terms_mismatch",
            f"申请与产品条款不符：{unfit.detail}",
            f"the application does not fit the product: {unfit.detail}",
        )
        return _Outcome(Event.REFER, [mismatch], score, fired, data_reads=counts)
    reasons = [_reason(r.code, r.zh, r.en) for r in offer.reasons] + model_reasons
    return _Outcome(
        _OUTCOME_EVENT[offer.outcome], reasons[:MAX_REASONS], score, fired, offer, counts
    )


def _record(
    session: Session, application: LoanApplication, outcome: _Outcome, now: dt.datetime
) -> None:
    """The transitions first (their conditional UPDATEs decide which delivery wins),
    then the decision row."""
    score, offer = outcome.score, outcome.offer
    if score is not None:
        fire(session, application, Event.SCORE, SYSTEM, now)
    reason = "; ".join(r["en"] for r in outcome.reasons) or None
    fire(session, application, outcome.event, SYSTEM, now, reason)
    if offer is None or offer.amount_fen is None or outcome.event is Event.DECLINE:
        offer = None
    session.add(
        ApplicationDecision(
            application_id=application.id,
            outcome=application.status,
            decided_at=now,
            model_version=score.model_version if score else None,
            pd=score.pd if score else None,
            score=score.score if score else None,
            band=score.band if score else None,
            reasons=outcome.reasons,
            rules=outcome.rules,
            data_reads=outcome.data_reads or dict(application.data_reads or {}),
            amount_fen=offer.amount_fen if offer else None,
            term_months=offer.term_months if offer else None,
            method=offer.method.value if offer else None,
            annual_rate_pct=offer.annual_rate_pct if offer else None,
            apr_pct=offer.apr_pct if offer else None,
            fees_fen=offer.fees_fen if offer else None,
            schedule=[
                {
                    "number": i.number,
                    "due_on": i.due_on.isoformat(),
                    "principal_fen": i.principal_fen,
                    "interest_fen": i.interest_fen,
                }
                for i in (offer.instalments if offer else ())
            ],
        )
    )
    if outcome.event is Event.APPROVE:
        application.offer_expires_at = now + dt.timedelta(days=OFFER_DAYS)
    session.flush()
