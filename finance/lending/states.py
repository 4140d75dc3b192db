"""The application's state machine as a table: ``(from, event) -> to``, who may fire
each event, and one function (``fire``) that applies an event, stamps it (actor, time,
reason), bumps the row version and queues the event's effects.

Two transitions of one application cannot both win: ``fire`` writes with a conditional
UPDATE on the status and the row version it read, so the second writer changes no row
and gets a 409 (on SQLite and PostgreSQL alike, whatever the isolation level).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from finance.core.errors import Conflict
from finance.lending.models import ApplicationStatus as S
from finance.lending.models import ApplicationTransition, LoanApplication


class Event(enum.StrEnum):
    SUBMIT = "submit"
    COLLECT = "collect"  # the consented data was read
    SCORE = "score"
    APPROVE = "approve"
    REFER = "refer"
    DECLINE = "decline"
    ACCEPT = "accept"
    DISBURSE = "disburse"
    WITHDRAW = "withdraw"
    EXPIRE = "expire"


class ActorKind(enum.StrEnum):
    ENTERPRISE = "enterprise"  # the applicant's users
    BANK = "bank"  # the lending bank's staff or its OAuth client
    SYSTEM = "system"  # the decision worker, the expiry sweep


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    name: str  # "user:12", "client:abc", "worker"

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.name}"


SYSTEM = Actor(ActorKind.SYSTEM, "worker")
_E, _B, _Y = ActorKind.ENTERPRISE, ActorKind.BANK, ActorKind.SYSTEM
_BEFORE_DISBURSEMENT = (
    S.DRAFT,
    S.SUBMITTED,
    S.DATA_COLLECTED,
    S.SCORED,
    S.APPROVED,
    S.REFERRED,
    S.ACCEPTED,
)

# (from, event) -> (to, who may fire it). A referred application is approved or
# declined by a bank officer; everything the worker does is the system's.
TRANSITIONS: dict[tuple[S, Event], tuple[S, frozenset[ActorKind]]] = {
    (S.DRAFT, Event.SUBMIT): (S.SUBMITTED, frozenset({_E})),
    (S.SUBMITTED, Event.COLLECT): (S.DATA_COLLECTED, frozenset({_Y})),
    (S.DATA_COLLECTED, Event.SCORE): (S.SCORED, frozenset({_Y})),
    (S.SCORED, Event.APPROVE): (S.APPROVED, frozenset({_Y})),
    (S.SCORED, Event.REFER): (S.REFERRED, frozenset({_Y})),
    (S.SCORED, Event.DECLINE): (S.DECLINED, frozenset({_Y})),
    # The data could not be read (consent revoked, a category without data): the
    # worker ends the application there, with that reason.
    (S.SUBMITTED, Event.DECLINE): (S.DECLINED, frozenset({_Y})),
    (S.DATA_COLLECTED, Event.REFER): (S.REFERRED, frozenset({_Y})),
    (S.DATA_COLLECTED, Event.DECLINE): (S.DECLINED, frozenset({_Y})),
    (S.REFERRED, Event.APPROVE): (S.APPROVED, frozenset({_B})),
    (S.REFERRED, Event.DECLINE): (S.DECLINED, frozenset({_B})),
    (S.APPROVED, Event.ACCEPT): (S.ACCEPTED, frozenset({_E})),
    (S.APPROVED, Event.EXPIRE): (S.EXPIRED, frozenset({_Y})),
    (S.ACCEPTED, Event.DISBURSE): (S.DISBURSED, frozenset({_B})),
    **{(state, Event.WITHDRAW): (S.WITHDRAWN, frozenset({_E})) for state in _BEFORE_DISBURSEMENT},
}

# Which timestamp a state stamps on the application (the 310 service levels).
_STAMPS: dict[S, str] = {
    S.SUBMITTED: "submitted_at",
    S.DATA_COLLECTED: "data_collected_at",
    S.APPROVED: "decided_at",
    S.REFERRED: "decided_at",
    S.DECLINED: "decided_at",
    S.ACCEPTED: "accepted_at",
    S.DISBURSED: "disbursed_at",
}
# An officer's approval or decline of a referred application needs a note.
NOTE_REQUIRED = frozenset({(S.REFERRED, Event.APPROVE), (S.REFERRED, Event.DECLINE)})

Effect = Callable[[Session, LoanApplication, Event, dt.datetime], None]
_effects: list[Effect] = []


def on_transition(effect: Effect) -> Effect:
    """Register an effect run (in the same transaction) after every transition; effects
    queue work (outbox rows, webhook events), they never call out."""
    _effects.append(effect)
    return effect


def allowed_events(status: str, kind: ActorKind | None = None) -> list[str]:
    return sorted(
        event.value
        for (source, event), (_, actors) in TRANSITIONS.items()
        if source.value == status and (kind is None or kind in actors)
    )


def fire(
    session: Session,
    application: LoanApplication,
    event: Event,
    actor: Actor,
    now: dt.datetime,
    reason: str | None = None,
) -> LoanApplication:
    """Apply ``event`` to ``application`` as ``actor`` (409 naming the allowed events
    when it is not legal from the current state, or when another transition won)."""
    source = S(application.status)
    rule = TRANSITIONS.get((source, event))
    if rule is None or actor.kind not in rule[1]:
        allowed = allowed_events(application.status, actor.kind)
        raise Conflict(
            f"cannot {event.value} an application that is {application.status}; "
            f"allowed: {', '.join(allowed) or 'nothing'}",
            error="illegal_transition",
            current_status=application.status,
            allowed=allowed,
        )
    if (source, event) in NOTE_REQUIRED and not (reason and reason.strip()):
        raise Conflict(
            "a bank officer's decision on a referred application needs a note",
            error="note_required",
        )
    target = rule[0]
    values: dict[str, object] = {
        "status": target.value,
        "version": application.version + 1,
        "status_changed_at": now,
    }
    if target.value in _STAMPS:
        values[_STAMPS[target]] = now
    won = session.execute(
        update(LoanApplication)
        .where(
            LoanApplication.id == application.id,
            LoanApplication.status == source.value,
            LoanApplication.version == application.version,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(application)
        raise Conflict(
            f"the application changed at the same moment (now {application.status}); "
            "nothing was done",
            error="concurrent_transition",
            current_status=application.status,
            allowed=allowed_events(application.status, actor.kind),
        )
    session.refresh(application)
    session.add(
        ApplicationTransition(
            application_id=application.id,
            event=event.value,
            from_status=source.value,
            to_status=target.value,
            actor=str(actor),
            at=now,
            reason=(reason or "").strip()[:4000] or None,
        )
    )
    for effect in _effects:
        effect(session, application, event, now)
    session.flush()
    return application
