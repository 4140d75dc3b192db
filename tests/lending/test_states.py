"""The application state machine: every legal transition of the table, a refusal for
illegal ones naming what is allowed, and two concurrent transitions of one application
of which exactly one wins (threads with their own sessions, on SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from finance.core.db import session_factory
from finance.core.errors import Conflict
from finance.lending.models import ApplicationStatus, ApplicationTransition, LoanApplication
from finance.lending.states import (
    SYSTEM,
    TRANSITIONS,
    Actor,
    ActorKind,
    Event,
    allowed_events,
    fire,
)
from tests.authz.support import World
from tests.lending.support import online_version

NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def _application(session: Session, world: World, status: ApplicationStatus) -> LoanApplication:
    version_id = online_version(session, world.bank_id)
    from products.models import ProductVersion

    version = session.get(ProductVersion, version_id)
    assert version is not None
    application = LoanApplication(
        uscc=world.uscc,
        product_id=version.product_id,
        product_version_id=version_id,
        bank_id=world.bank_id,
        amount_fen=10_000_000,
        term_months=12,
        repayment_method="equal_instalment",
        applied_at=NOW,
        status=status.value,
        version=1,
    )
    session.add(application)
    session.flush()
    return application


def _actor(kind: ActorKind) -> Actor:
    return Actor(kind, "user:1") if kind is not ActorKind.SYSTEM else SYSTEM


@pytest.mark.parametrize(("key", "rule"), list(TRANSITIONS.items()), ids=str)
def test_each_legal_transition_moves_stamps_and_records(
    world: World, key: tuple[ApplicationStatus, Event], rule: tuple[ApplicationStatus, frozenset]
) -> None:
    source, event = key
    target, actors = rule
    with world.sessions.begin() as session:
        application = _application(session, world, source)
        actor = _actor(next(iter(actors)))
        fire(session, application, event, actor, NOW, "a note")
        assert application.status == target.value
        assert application.version == 2
        transition = session.scalars(
            select(ApplicationTransition).where(
                ApplicationTransition.application_id == application.id
            )
        ).one()
        assert (transition.from_status, transition.to_status, transition.event) == (
            source.value,
            target.value,
            event.value,
        )
        assert transition.actor == str(actor)
        assert transition.reason == "a note"
        assert transition.at == NOW


ILLEGAL = [
    (source, event, kind)
    for source in ApplicationStatus
    for event in Event
    for kind in ActorKind
    if (source, event) not in TRANSITIONS or kind not in TRANSITIONS[(source, event)][1]
]


@pytest.mark.parametrize(("source", "event", "kind"), ILLEGAL[::7], ids=str)
def test_an_illegal_transition_is_a_409_naming_the_allowed_events(
    world: World, source: ApplicationStatus, event: Event, kind: ActorKind
) -> None:
    with world.sessions.begin() as session:
        application = _application(session, world, source)
        with pytest.raises(Conflict) as refused:
            fire(session, application, event, _actor(kind), NOW, "note")
        assert refused.value.extensions["allowed"] == allowed_events(source.value, kind)
        assert application.status == source.value
        assert application.version == 1


def test_every_illegal_pair_is_refused(world: World) -> None:
    """All of them at once (the parametrised test above shows the answer's shape)."""
    with world.sessions.begin() as session:
        for source, event, kind in ILLEGAL:
            application = _application(session, world, source)
            with pytest.raises(Conflict):
                fire(session, application, event, _actor(kind), NOW, "note")


def test_a_referred_decision_needs_a_note(world: World) -> None:
    with world.sessions.begin() as session:
        application = _application(session, world, ApplicationStatus.REFERRED)
        with pytest.raises(Conflict, match="note"):
            fire(session, application, Event.APPROVE, _actor(ActorKind.BANK), NOW, "  ")
        fire(session, application, Event.APPROVE, _actor(ActorKind.BANK), NOW, "checked")
        assert application.status == "approved"
        assert application.decided_at == NOW


def _race(engine: Engine, application_id: int) -> dict[str, str]:
    """The enterprise accepts as the expiry sweep expires, in two threads."""
    sessions = session_factory(engine)
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}

    def attempt(event: Event, actor: Actor) -> None:
        with sessions() as session:
            application = session.get(LoanApplication, application_id)
            assert application is not None
            barrier.wait()
            try:
                fire(session, application, event, actor, NOW)
                session.commit()
                results[event.value] = "won"
            except Conflict:
                session.rollback()
                results[event.value] = "lost"

    threads = [
        threading.Thread(target=attempt, args=(Event.ACCEPT, _actor(ActorKind.ENTERPRISE))),
        threading.Thread(target=attempt, args=(Event.EXPIRE, SYSTEM)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_of_two_concurrent_transitions_exactly_one_wins(world: World, engine: Engine) -> None:
    for _ in range(5):
        with world.sessions.begin() as session:
            application_id = _application(session, world, ApplicationStatus.APPROVED).id
        results = _race(engine, application_id)
        assert sorted(results.values()) == ["lost", "won"], results
        with world.sessions() as session:
            application = session.get(LoanApplication, application_id)
            assert application is not None
            assert application.version == 2
            winner = next(event for event, result in results.items() if result == "won")
            assert application.status == {"accept": "accepted", "expire": "expired"}[winner]
            transitions = select(func.count()).where(
                ApplicationTransition.application_id == application_id
            )
            assert session.scalar(transitions) == 1
