"""The ticket state machine (DESIGN.md, "A ticket's life"): the one place transitions are allowed."""

from __future__ import annotations

from enum import StrEnum


class TicketState(StrEnum):
    RECEIVED = "received"
    REJECTED = "rejected"  # not eligible; terminal
    CHECKING = "checking"
    AWAITING_OFFICERS = "awaiting_officers"
    AWAITING_DATA_OWNER = "awaiting_data_owner"
    REVISIONS_REQUESTED = "revisions_requested"  # blocked: out of the queue until resubmitted
    RELEASING = "releasing"  # output: sending the cleared email
    RELEASE_HELD = "release_held"  # output could not be sent (e.g. too large); operations act
    SIGNOFF_HELD = "signoff_held"  # a sign-off was not what Airflow recorded: nothing leaves
    RELEASED = "released"
    PLACING = "placing"  # ingest/transfer: copying into the destination Input/
    PLACED = "placed"
    ARCHIVED = "archived"  # terminal
    CLOSED_PROJECT_ENDED = "closed_project_ended"  # terminal


S = TicketState

# Every open state may also go to CLOSED_PROJECT_ENDED (added below): a project that ends has
# every open request closed at once, without further action.
_FORWARD: dict[TicketState, frozenset[TicketState]] = {
    S.RECEIVED: frozenset({S.CHECKING, S.REJECTED}),
    S.CHECKING: frozenset({S.AWAITING_OFFICERS, S.REVISIONS_REQUESTED}),
    S.AWAITING_OFFICERS: frozenset(
        {S.AWAITING_DATA_OWNER, S.RELEASING, S.PLACING, S.REVISIONS_REQUESTED, S.SIGNOFF_HELD}
    ),
    S.AWAITING_DATA_OWNER: frozenset({S.RELEASING, S.REVISIONS_REQUESTED, S.SIGNOFF_HELD}),
    # Operations investigate, then send the request back to the officers for fresh sign-offs.
    S.SIGNOFF_HELD: frozenset({S.AWAITING_OFFICERS}),
    S.REVISIONS_REQUESTED: frozenset({S.CHECKING}),
    S.RELEASING: frozenset({S.RELEASED, S.RELEASE_HELD}),
    S.RELEASE_HELD: frozenset({S.RELEASING}),
    S.RELEASED: frozenset({S.ARCHIVED}),
    S.PLACING: frozenset({S.PLACED}),
    S.PLACED: frozenset({S.ARCHIVED}),
    S.REJECTED: frozenset(),
    S.ARCHIVED: frozenset(),
    S.CLOSED_PROJECT_ENDED: frozenset(),
}

TERMINAL_STATES = frozenset({S.REJECTED, S.ARCHIVED, S.CLOSED_PROJECT_ENDED})
# Once material has left (released) or been placed, closing the project no longer undoes it:
# those tickets only go on to be archived.
DONE_STATES = frozenset({S.RELEASED, S.PLACED})
OPEN_STATES = frozenset(set(S) - TERMINAL_STATES - DONE_STATES)
# Blocked tickets leave the queue (guidance section 3, "Revisions to outputs").
BLOCKED_STATES = frozenset({S.REVISIONS_REQUESTED})

TRANSITIONS: dict[TicketState, frozenset[TicketState]] = {
    state: targets | ({S.CLOSED_PROJECT_ENDED} if state in OPEN_STATES else frozenset())
    for state, targets in _FORWARD.items()
}


# What a state allows. The steps ask these before acting, so a ticket closed or changed under a
# running task is never released or placed.
def may_release(state: TicketState) -> bool:
    return state == TicketState.RELEASING


def may_place(state: TicketState) -> bool:
    return state == TicketState.PLACING


def awaits_people(state: TicketState) -> bool:
    return state in (TicketState.AWAITING_OFFICERS, TicketState.AWAITING_DATA_OWNER)


class IllegalTransition(ValueError):
    """A change of state the state machine does not allow."""


def check_transition(current: TicketState | str, target: TicketState | str) -> None:
    """Raise IllegalTransition unless ``current`` may move to ``target``."""
    try:
        cur, tgt = TicketState(current), TicketState(target)
    except ValueError as exc:
        raise IllegalTransition(str(exc)) from None
    if tgt not in TRANSITIONS[cur]:
        allowed = ", ".join(sorted(TRANSITIONS[cur])) or "nothing (it is final)"
        raise IllegalTransition(
            f"a ticket in state '{cur}' cannot move to '{tgt}'; from '{cur}' it may move to: {allowed}"
        )
