"""The outbox's state machine: the states a delivery (one message of one story to one chat) can
be in, the events that move it, and the one table that says which moves are legal.

Every change of a delivery's state in the store is one of these events; the store asks
:func:`sources` which states an event may leave and :func:`target` where it goes, so no query
spells a state transition of its own. Reachability of a chat only decides *when* a delivery is
sent (``HELD`` until the chat is back), never whether it is created.

A delivery carries a ``digest`` flag: set when it was deferred for a digest or quiet hours, so
that it goes out inside a digest message when released. Events that put a delivery back in the
queue (:data:`QUEUE`) send it to ``WAITING`` when the flag is set and to ``PENDING`` otherwise.
Pure: no IO.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class DeliveryState(StrEnum):
    """Where a delivery is; the value is what the database stores."""

    PENDING = "pending"
    """Due at its next attempt time, to be sent as a message of its own."""
    LEASED = "leased"
    """Claimed by a sender until its lease expires (then claimable again)."""
    SENT = "sent"
    """Telegram accepted the message carrying it."""
    JOINED = "joined"
    """Its story had already been sent to the chat by another outlet: it was added to that
    message (its ``message_id``), which is edited to list it, instead of a message of its
    own."""
    WAITING = "waiting"
    """Deferred for a digest or the end of quiet hours; released at its next attempt time
    into a digest message."""
    HELD = "held"
    """The chat cannot be reached (bot removed, demoted, blocked); resumes when it is back."""
    PARKED = "parked"
    """Given up after repeated failures; kept for the admins."""
    CANCELLED = "cancelled"
    """Not to be sent: the chat unsubscribed, or it stayed unreachable too long."""


class Event(StrEnum):
    """What happens to a delivery."""

    CLAIM = "claim"
    """A sender leases it (due now, or a lease that expired)."""
    SEND = "send"
    """Telegram accepted it."""
    JOIN = "join"
    """Its story was sent to the chat already: it joins that message."""
    RETRY = "retry"
    """A failure worth another try later (network, server error, 429, markup rejected)."""
    DEFER = "defer"
    """The chat's digest or quiet hours want it later, in a digest."""
    GIVE_BACK = "give_back"
    """Leased but not attempted (the batch ended or the bot is stopping)."""
    HOLD = "hold"
    """The chat became unreachable."""
    RESUME = "resume"
    """The chat is reachable again."""
    PARK = "park"
    """Too many failures, or a message Telegram will never accept."""
    CANCEL = "cancel"
    """The chat no longer wants it (unsubscribed from every rule it carried)."""
    RECONSIDER = "reconsider"
    """The chat changed its digest or quiet hours: decide anew when it goes out."""
    EXPIRE = "expire"
    """Held longer than the bot keeps alerts for an unreachable chat."""
    RECOVER = "recover"
    """Leased by a sender that no longer holds the Telegram lease (it died or lost it): back
    in the queue at once, not after the delivery lease."""


QUEUE: Final = "queue"
"""A transition target meaning "back in its queue": WAITING for digest deliveries, else
PENDING."""

S, E = DeliveryState, Event
TRANSITIONS: Final[dict[tuple[DeliveryState, Event], DeliveryState | str]] = {
    (S.PENDING, E.CLAIM): S.LEASED,
    (S.WAITING, E.CLAIM): S.LEASED,
    (S.LEASED, E.CLAIM): S.LEASED,  # the lease expired: its sender is presumed dead
    (S.LEASED, E.SEND): S.SENT,
    (S.LEASED, E.JOIN): S.JOINED,
    (S.LEASED, E.RETRY): QUEUE,
    (S.LEASED, E.DEFER): S.WAITING,
    (S.LEASED, E.GIVE_BACK): QUEUE,
    (S.LEASED, E.RECOVER): QUEUE,
    (S.LEASED, E.PARK): S.PARKED,
    (S.PENDING, E.HOLD): S.HELD,
    (S.WAITING, E.HOLD): S.HELD,
    (S.LEASED, E.HOLD): S.HELD,
    (S.HELD, E.RESUME): QUEUE,
    (S.PENDING, E.CANCEL): S.CANCELLED,
    (S.WAITING, E.CANCEL): S.CANCELLED,
    (S.HELD, E.CANCEL): S.CANCELLED,
    (S.WAITING, E.RECONSIDER): S.PENDING,
    (S.HELD, E.EXPIRE): S.CANCELLED,
}
"""Every legal (state, event) and where it leads. Anything else is illegal. A leased delivery
is not cancelled: its send may be under way, and will be recorded."""
del S, E

FINAL: Final = frozenset(
    {DeliveryState.SENT, DeliveryState.JOINED, DeliveryState.PARKED, DeliveryState.CANCELLED}
)
"""States no event leaves."""
UNFINISHED: Final = frozenset(DeliveryState) - FINAL


class IllegalTransition(ValueError):
    """An event that the state machine does not allow from that state."""


def next_state(state: DeliveryState, event: Event, *, digest: bool = False) -> DeliveryState:
    """The state ``event`` moves a delivery in ``state`` to; ``digest`` is the delivery's
    flag (see the module docstring)."""
    try:
        target = TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(f"a {state} delivery cannot {event}") from None
    if target == QUEUE:
        return DeliveryState.WAITING if digest else DeliveryState.PENDING
    return DeliveryState(target)


def sources(event: Event) -> tuple[DeliveryState, ...]:
    """The states ``event`` may leave, in declaration order."""
    return tuple(s for s in DeliveryState if (s, event) in TRANSITIONS)


def target(event: Event) -> DeliveryState | str:
    """Where ``event`` leads: one state, or :data:`QUEUE`. Every event leads to one place
    whatever state it leaves (checked by the tests), so a store can move many deliveries with
    one statement."""
    targets = {t for (_, e), t in TRANSITIONS.items() if e == event}
    if len(targets) != 1:
        raise AssertionError(f"event {event} leads to {targets}")
    return targets.pop()


def initial_state(reachable: bool, digest: bool = False) -> DeliveryState:
    """A new delivery's state: pending (waiting, for a digest released at once), or held
    when its chat is known to be unreachable."""
    if not reachable:
        return DeliveryState.HELD
    return DeliveryState.WAITING if digest else DeliveryState.PENDING
