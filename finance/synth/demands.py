"""SYNTHETIC financing demands (银企对接) for the demo and the benchmarks: a share of the
province's enterprises post a demand during the last year of the window, and banks claim,
contact and decide them.

Every step goes through the demand market's own rules (``finance.demands.service``): the
push rounds pick the banks whose synthetic online products fit, claims are taken by the
pushed banks, and a demand left unclaimed past its working days is flagged and pushed to
the next banks exactly as the beat task does. Only the behaviour of the actors is drawn:
whether and how fast a pushed bank claims, whether it reaches the enterprise, and the
outcome, which is likelier to be a loan the healthier the enterprise (the generator's
latent health at the end of the window). Everything is flagged ``synthetic``.

Demands are simulated when the province is loaded (they need the catalogue in the
database), deterministically for the seed; loading the same province again adds none.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from finance.core.workdays import SHANGHAI
from finance.demands import service
from finance.demands.models import (
    ContactChannel,
    DeclineReason,
    DemandStatus,
    FinancingDemand,
    Urgency,
)
from finance.demands.schemas import DemandIn
from finance.enterprises.models import Enterprise
from finance.synth.province import Province, sigmoid
from products.models import Guarantee

STREAM = 11  # this component's random stream (SynthConfig.rng)
SHARE = 0.02  # of the enterprises post one demand ...
MAX_DEMANDS = 2_000  # ... up to this many
ROUNDS = 3  # push rounds before the simulation leaves a demand unclaimed
CLAIM_PER_ROUND = 0.7  # a round with pushed banks ends in a claim
CONTACTED = 0.9  # a claiming bank reaches the enterprise
ACTOR = "synthetic"
PURPOSES = (
    "采购原材料",
    "支付员工工资",
    "扩大生产线",
    "订单备货",
    "设备更新改造",
    "偿还到期债务",
    "研发投入",
    "新开门店",
)
GUARANTEES = (
    (Guarantee.PURE_CREDIT, 0.55),
    (Guarantee.GUARANTEED, 0.2),
    (Guarantee.MORTGAGE, 0.2),
    (Guarantee.PLEDGE, 0.05),
)
DECLINES = (
    (DeclineReason.INSUFFICIENT_CREDIT, 0.3),
    (DeclineReason.INSUFFICIENT_REPAYMENT, 0.25),
    (DeclineReason.INSUFFICIENT_COLLATERAL, 0.15),
    (DeclineReason.OUTSIDE_POLICY, 0.15),
    (DeclineReason.ENTERPRISE_WITHDREW, 0.1),
    (DeclineReason.OTHER, 0.05),
)
TERMS = (6, 12, 12, 12, 24, 36)
T = TypeVar("T")


@dataclass
class DemandSummary:
    demands: int = 0
    claimed: int = 0
    loans: int = 0
    declined: int = 0
    overdue: int = 0


def _pick(rng: np.random.Generator, weighted: tuple[tuple[T, float], ...]) -> T:
    values = [v for v, _ in weighted]
    return values[int(rng.choice(len(values), p=[w for _, w in weighted]))]


def _working_hours_after(moment: dt.datetime, hours: float) -> dt.datetime:
    """``hours`` of elapsed time, then moved into the Beijing working day (9:00-17:00)
    the bank would act in."""
    later = (moment + dt.timedelta(hours=hours)).astimezone(SHANGHAI)
    if later.hour < 9:
        later = later.replace(hour=9)
    elif later.hour >= 17:
        later = (later + dt.timedelta(days=1)).replace(hour=9)
    return later.astimezone(dt.UTC)


def load_demands(connection: Connection, province: Province) -> DemandSummary:
    """Simulate the province's demands inside the load's transaction."""
    config = province.config
    rng = config.rng(STREAM)
    count = min(MAX_DEMANDS, max(1, round(len(province.enterprises) * SHARE)))
    chosen = np.sort(rng.choice(len(province.enterprises), size=count, replace=False))
    health = sigmoid(province.health[:, -1])
    horizon = dt.datetime.combine(
        config.end_date + dt.timedelta(days=1), dt.time(), SHANGHAI
    ).astimezone(dt.UTC)
    rules = service.MarketRules()
    summary = DemandSummary()
    with Session(bind=connection, expire_on_commit=False) as session:
        usccs = [str(u) for u in province.enterprises.uscc[chosen]]
        enterprises = {
            e.uscc: e for e in session.scalars(select(Enterprise).where(Enterprise.uscc.in_(usccs)))
        }
        already = session.scalar(
            select(FinancingDemand.id)
            .where(FinancingDemand.synthetic.is_(True), FinancingDemand.uscc.in_(usccs))
            .limit(1)
        )
        if already is not None:
            return summary
        for index, uscc in zip(chosen, usccs, strict=True):
            enterprise = enterprises.get(uscc)
            if enterprise is None:  # its registration row was one of the malformed ones
                continue
            revenue = float(province.enterprises.revenue_yuan[index])
            amount_yuan = min(10_000_000, max(100_000, revenue * rng.uniform(0.05, 0.3)))
            terms = DemandIn(
                amount_fen=int(round(amount_yuan, -4)) * 100,
                term_months=int(rng.choice(TERMS)),
                purpose=str(rng.choice(PURPOSES)),
                guarantee=_pick(rng, GUARANTEES),
                urgency=_pick(
                    rng, ((Urgency.URGENT, 0.3), (Urgency.NORMAL, 0.5), (Urgency.FLEXIBLE, 0.2))
                ),
                contact_channel=_pick(
                    rng,
                    (
                        (ContactChannel.PHONE, 0.6),
                        (ContactChannel.VISIT, 0.25),
                        (ContactChannel.ONLINE, 0.15),
                    ),
                ),
            )
            posted = _working_hours_after(
                horizon - dt.timedelta(days=float(rng.uniform(3, 365))), 0
            )
            demand = service.open_demand(
                session, enterprise, terms, posted, rules, actor=ACTOR, synthetic=True
            )
            summary.demands += 1
            _simulate(session, rng, demand, float(health[index]), horizon, rules, summary)
        session.flush()
    return summary


def _simulate(
    session: Session,
    rng: np.random.Generator,
    demand: FinancingDemand,
    health: float,
    horizon: dt.datetime,
    rules: service.MarketRules,
    summary: DemandSummary,
) -> None:
    """The banks' side of one demand, round by round, never past ``horizon``."""
    for _ in range(ROUNDS):
        assert demand.due_at is not None
        round_pushes = [
            p
            for p in service.pushes_of(session, [demand.id])[demand.id]
            if p.round == demand.push_round
        ]
        if round_pushes and rng.random() < CLAIM_PER_ROUND:
            start = round_pushes[0].pushed_at
            claim_at = _working_hours_after(start, float(rng.exponential(18.0)))
            if claim_at < demand.due_at:
                if claim_at >= horizon:
                    return
                weights = np.array([0.55, 0.3, 0.15][: len(round_pushes)])
                push = round_pushes[int(rng.choice(len(round_pushes), p=weights / weights.sum()))]
                _decide(session, rng, demand, push.bank_id, claim_at, health, horizon, summary)
                return
        if demand.due_at >= horizon:
            return
        service.flag_overdue(session, demand, demand.due_at, rules)
        summary.overdue += 1


def _decide(
    session: Session,
    rng: np.random.Generator,
    demand: FinancingDemand,
    bank_id: int,
    claim_at: dt.datetime,
    health: float,
    horizon: dt.datetime,
    summary: DemandSummary,
) -> None:
    bank = service.ActingBank(bank_id=bank_id, ref=ACTOR)
    service.claim(session, demand.id, bank, claim_at)
    summary.claimed += 1
    contact_at = _working_hours_after(claim_at, float(rng.exponential(10.0)))
    if contact_at >= horizon:
        return
    if rng.random() >= CONTACTED:
        if contact_at + dt.timedelta(days=5) < horizon:
            service.record_decline(
                session,
                demand.id,
                bank,
                contact_at + dt.timedelta(days=5),
                DeclineReason.UNREACHABLE,
                None,
            )
            summary.declined += 1
        return
    service.record_contact(session, demand.id, bank, contact_at, None)
    outcome_at = contact_at + dt.timedelta(days=float(rng.uniform(2, 20)))
    if outcome_at >= horizon:
        return
    if rng.random() < 0.2 + 0.6 * health:
        service.record_loan(session, demand.id, bank, outcome_at, None, None)
        summary.loans += 1
    else:
        service.record_decline(session, demand.id, bank, outcome_at, _pick(rng, DECLINES), None)
        summary.declined += 1
    assert demand.status in (DemandStatus.LOAN.value, DemandStatus.DECLINED.value)
