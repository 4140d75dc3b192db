"""The synthetic banks' decisions and each application's way through the state machine
(``finance.lending.states``): the decision row a real application gets (the bank's view of
the PD, its score and band on the credit model's default ``ScoreScale``, plain reasons for
a decline, the offer with its schedule and APR for an approval) and the transitions with
their actors and times.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from credit.model import ScoreScale
from finance.lending.models import ApplicationStatus as S
from finance.lending.schedule import Instalment
from finance.lending.states import TRANSITIONS, Actor, ActorKind, Event
from finance.synth.province import FloatArray

MODEL_VERSION = "synthetic-bank-view"
MAX_REASONS = 4
ENTERPRISE = str(Actor(ActorKind.ENTERPRISE, "synthetic"))
SYSTEM = str(Actor(ActorKind.SYSTEM, "finance synth"))

# What a feature's positive contribution to the PD means, in plain words.
REASON_WORDS: dict[str, tuple[str, str]] = {
    "tax_trend": ("近6个月纳税额下降", "tax paid fell over the last 6 months"),
    "tax_arrears_6m": ("近6个月有欠税记录", "tax arrears in the last 6 months"),
    "insured_trend": ("参保人数减少", "fewer insured employees than a year ago"),
    "social_arrears_6m": ("近6个月社保欠缴", "social insurance arrears in the last 6 months"),
    "electricity_trend": ("近6个月用电量下降", "electricity use fell over the last 6 months"),
    "utility_overdue_6m": ("近6个月水电费逾期", "overdue utility bills in the last 6 months"),
    "defendant_cases": ("作为被告或被执行人的案件", "court cases as defendant or respondent"),
    "dishonest_debtor": ("被列为失信被执行人", "listed as a dishonest debtor"),
    "penalties_12m": ("近12个月有行政处罚", "administrative penalties in the last 12 months"),
    "log_age_years": ("成立时间较短", "a young enterprise"),
    "log_employees": ("从业人数较少", "few employees"),
    "industry_cycle": ("所在行业景气下行", "its industry is in a downturn"),
    "tax_rating_c_or_d": ("纳税信用等级为C或D", "tax credit rating C or D"),
    "leverage": ("申请金额相对营业收入偏高", "the amount asked is large against revenue"),
}
MIN_CONTRIBUTION = 0.05  # log-odds a feature must add to be named as a reason


def decline_reasons(
    estimate: FloatArray, contributions: pd.DataFrame, approve_below: float
) -> list[list[dict[str, Any]]]:
    """For each declined application: the bank's estimate over its line, then the
    features that raised the PD most (at most ``MAX_REASONS`` in all)."""
    names = np.array(contributions.columns)
    values = contributions.to_numpy()
    order = np.argsort(-values, axis=1, kind="stable")[:, : MAX_REASONS - 1]
    reasons = []
    for row, (pd_, ranked) in enumerate(zip(estimate, order, strict=True)):
        own = [
            {
                "code": "estimate_above_line",
                "zh": f"银行估计的违约概率{pd_:.1%}高于审批线{approve_below:.0%}",
                "en": f"the bank's estimated probability of default {pd_:.1%} is above "
                f"its {approve_below:.0%} approval line",
            }
        ]
        for column in ranked:
            if values[row, column] < MIN_CONTRIBUTION:
                break
            zh, en = REASON_WORDS[str(names[column])]
            own.append({"code": f"synthetic:{names[column]}", "zh": zh, "en": en})
        reasons.append(own)
    return reasons


def scores(estimate: FloatArray) -> tuple[npt.NDArray[np.int64], list[str]]:
    scale = ScoreScale()
    points = scale.points(estimate)
    return points, [scale.band(int(p)) for p in points]


def schedule_json(plan: list[Instalment]) -> list[dict[str, Any]]:
    """An offer's schedule as the decision row stores it (``finance.lending.decision``)."""
    return [
        {
            "number": i.number,
            "due_on": i.due_on.isoformat(),
            "principal_fen": i.principal_fen,
            "interest_fen": i.interest_fen,
        }
        for i in plan
    ]


def transitions(
    status: str,
    applied_at: dt.datetime,
    decided_at: dt.datetime | None,
    withdrawn_at: dt.datetime | None,
    accepted_at: dt.datetime | None,
    disbursed_at: dt.datetime | None,
    bank_actor: str,
) -> list[tuple[str, str | None, str, str, dt.datetime]]:
    """(event, from, to, actor, at) of one application, a path through the state
    machine (``finance.lending.states.TRANSITIONS``, which gives each step's target and
    refuses a step it does not have) to ``status``."""
    path: list[tuple[Event, str, dt.datetime]] = [(Event.SUBMIT, ENTERPRISE, applied_at)]
    if status == S.WITHDRAWN:
        assert withdrawn_at is not None
        path.append((Event.WITHDRAW, ENTERPRISE, withdrawn_at))
    else:
        assert decided_at is not None
        collected_at = applied_at + dt.timedelta(seconds=(decided_at - applied_at).seconds // 2)
        outcome = Event.DECLINE if status == S.DECLINED else Event.APPROVE
        path += [
            (Event.COLLECT, SYSTEM, collected_at),
            (Event.SCORE, SYSTEM, decided_at),
            (outcome, SYSTEM, decided_at),
        ]
        if status == S.DISBURSED:
            assert accepted_at is not None
            assert disbursed_at is not None
            path += [
                (Event.ACCEPT, ENTERPRISE, accepted_at),
                (Event.DISBURSE, bank_actor, disbursed_at),
            ]
    steps: list[tuple[str, str | None, str, str, dt.datetime]] = []
    state = S.DRAFT
    for event, actor, at in path:
        target = TRANSITIONS[state, event][0]  # KeyError: not a step of the machine
        steps.append((event, state, target, actor, at))
        state = target
    if state != status:
        raise ValueError(f"the path ends in {state}, not {status}")
    return steps
