"""The outbox state machine, exhaustively: every (state, event) pair, with and without the
digest flag, is either the one legal move the table names or refused."""

from __future__ import annotations

import itertools

import pytest

from bot.core.outbox import (
    FINAL,
    QUEUE,
    TRANSITIONS,
    DeliveryState,
    Event,
    IllegalTransition,
    initial_state,
    next_state,
    sources,
    target,
)

S, E = DeliveryState, Event

# The whole machine, written out again by hand: (state, event) -> (target without the digest
# flag, target with it). Anything missing is illegal.
EXPECTED = {
    (S.PENDING, E.CLAIM): (S.LEASED, S.LEASED),
    (S.WAITING, E.CLAIM): (S.LEASED, S.LEASED),
    (S.LEASED, E.CLAIM): (S.LEASED, S.LEASED),
    (S.LEASED, E.SEND): (S.SENT, S.SENT),
    (S.LEASED, E.JOIN): (S.JOINED, S.JOINED),
    (S.LEASED, E.RETRY): (S.PENDING, S.WAITING),
    (S.LEASED, E.DEFER): (S.WAITING, S.WAITING),
    (S.LEASED, E.GIVE_BACK): (S.PENDING, S.WAITING),
    (S.LEASED, E.RECOVER): (S.PENDING, S.WAITING),
    (S.LEASED, E.PARK): (S.PARKED, S.PARKED),
    (S.PENDING, E.HOLD): (S.HELD, S.HELD),
    (S.WAITING, E.HOLD): (S.HELD, S.HELD),
    (S.LEASED, E.HOLD): (S.HELD, S.HELD),
    (S.HELD, E.RESUME): (S.PENDING, S.WAITING),
    (S.PENDING, E.CANCEL): (S.CANCELLED, S.CANCELLED),
    (S.WAITING, E.CANCEL): (S.CANCELLED, S.CANCELLED),
    (S.HELD, E.CANCEL): (S.CANCELLED, S.CANCELLED),
    (S.WAITING, E.RECONSIDER): (S.PENDING, S.PENDING),
    (S.HELD, E.EXPIRE): (S.CANCELLED, S.CANCELLED),
}

CASES = [
    pytest.param(state, event, digest, id=f"{state}-{event}-{'digest' if digest else 'single'}")
    for state, event, digest in itertools.product(DeliveryState, Event, (False, True))
]


@pytest.mark.parametrize(("state", "event", "digest"), CASES)
def test_every_state_and_event(state: DeliveryState, event: Event, digest: bool) -> None:
    expected = EXPECTED.get((state, event))
    if expected is None:
        with pytest.raises(IllegalTransition, match=f"a {state} delivery cannot {event}"):
            next_state(state, event, digest=digest)
        assert state not in sources(event)
    else:
        assert next_state(state, event, digest=digest) == expected[digest]
        assert state in sources(event)


def test_the_table_is_the_one_written_out_here() -> None:
    assert set(TRANSITIONS) == set(EXPECTED)


@pytest.mark.parametrize("event", list(Event))
def test_each_event_has_one_target_so_a_store_can_apply_it_in_bulk(event: Event) -> None:
    to = target(event)
    for state in sources(event):
        assert next_state(state, event) == (S.PENDING if to == QUEUE else to)


def test_final_states_are_left_by_no_event_and_every_other_state_can_finish() -> None:
    for state in FINAL:
        assert not [e for e in Event if (state, e) in TRANSITIONS]
    for state in set(DeliveryState) - FINAL:
        reachable, frontier = {state}, [state]
        while frontier:
            current = frontier.pop()
            for event in Event:
                for digest in (False, True):
                    try:
                        nxt = next_state(current, event, digest=digest)
                    except IllegalTransition:
                        continue
                    if nxt not in reachable:
                        reachable.add(nxt)
                        frontier.append(nxt)
        assert reachable & FINAL, f"{state} can never finish"


def test_reachability_decides_when_not_whether() -> None:
    assert initial_state(reachable=True) == S.PENDING
    assert initial_state(reachable=False) == S.HELD
    # a held delivery is never lost: it resumes, is cancelled on request, or expires
    assert {e for (s, e) in TRANSITIONS if s == S.HELD} == {E.RESUME, E.CANCEL, E.EXPIRE}
