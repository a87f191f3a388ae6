"""Read queries over the ticket store that must stay cheap however many tickets there are.

The operator view's queue and the intake sweep ask the database for exactly what they show or
need: who may see what (``include.access``'s need-to-know rule) is a WHERE clause, counts are a
GROUP BY, lists are one page (LIMIT/OFFSET in queue order), and a page loads its tickets' rounds
with one more query each (``selectinload``), never one per ticket. Writes stay in
``include.tickets``; these return the same :class:`~include.tickets.Ticket` objects.

The SQL rule must agree with :func:`include.access.may_view` (``tests/unit/store/
test_ticket_queries.py`` compares them ticket by ticket):

- ``Scope.ALL`` (operations, officers): every ticket;
- ``Scope.OWN_DATASETS`` (data owners): tickets whose project or destination project uses a
  dataset the reader owns (``project_datasets``);
- ``Scope.NONE``: nothing.

Indexes that serve these queries (migration 0003 and earlier): ``tickets (queued_at, id)``
for queue order, ``tickets (updated_at, id)`` for the finished list, ``tickets
(destination_project)`` for a data owner's transfers, ``tickets (state)`` and ``tickets
(project)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true, union
from sqlalchemy.orm import Session, selectinload

from include.access import Reader, Scope, projects_touched
from include.registry import ProjectDatasetRow
from include.states import BLOCKED_STATES, OPEN_STATES
from include.ticket_tables import RoundRow, TicketRow
from include.tickets import Ticket
from include.tickets import _ticket as ticket_of_row  # the store's own row -> Ticket converter

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_IN_CHUNK = 500  # values per IN (...): well under SQLite's bound-parameter limit

_WAITING = sorted(s.value for s in OPEN_STATES - BLOCKED_STATES)
_BLOCKED = sorted(s.value for s in BLOCKED_STATES)
_OPEN = sorted(s.value for s in OPEN_STATES)


class Section(Enum):
    """A list of the queue page, with the states it holds and its order."""

    OPEN = "open"  # waiting (open, not blocked), in queue order
    BLOCKED = "blocked"  # revisions requested: out of the queue until resubmitted
    FINISHED = "finished"  # no longer open, latest change first
    ALL = "all"  # every ticket, in queue order (the JSON listing)


@dataclass(frozen=True)
class QueueFilter:
    """The queue page's filters: any of these states, a project (either end), a kind."""

    states: tuple[str, ...] = ()
    project: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class TicketPage:
    """One page of a list, and how many tickets the whole list holds."""

    tickets: list[Ticket]
    total: int
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.total else None

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None

    @property
    def first(self) -> int:
        """1-based position of the page's first ticket in the whole list (0 when empty)."""
        return self.offset + 1 if self.tickets else 0

    @property
    def last(self) -> int:
        return self.offset + len(self.tickets)


def visible_to(who: Reader) -> ColumnElement[bool]:
    """The need-to-know rule as a WHERE clause over ``tickets``."""
    if who.scope is Scope.ALL:
        return true()
    if who.scope is Scope.NONE or not who.datasets:
        return false()
    projects = select(ProjectDatasetRow.project).where(
        ProjectDatasetRow.dataset.in_(sorted(who.datasets))
    )
    return or_(TicketRow.project.in_(projects), TicketRow.destination_project.in_(projects))


def may_view(s: Session, who: Reader, ticket: Any) -> bool:
    """:func:`include.access.may_view` for one ticket, asking only about its own projects."""
    if who.scope is Scope.ALL:
        return True
    touched = projects_touched(ticket)
    if who.scope is Scope.NONE or not who.datasets or not touched:
        return False
    found = s.scalar(
        select(ProjectDatasetRow.project)
        .where(
            ProjectDatasetRow.project.in_(touched),
            ProjectDatasetRow.dataset.in_(sorted(who.datasets)),
        )
        .limit(1)
    )
    return found is not None


def _section_clause(section: Section) -> ColumnElement[bool]:
    if section is Section.OPEN:
        return TicketRow.state.in_(_WAITING)
    if section is Section.BLOCKED:
        return TicketRow.state.in_(_BLOCKED)
    if section is Section.FINISHED:
        return TicketRow.state.not_in(_OPEN)
    return true()


def _filter_clauses(filters: QueueFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if filters.states:
        clauses.append(TicketRow.state.in_(list(filters.states)))
    if filters.project is not None:
        clauses.append(
            or_(
                TicketRow.project == filters.project,
                TicketRow.destination_project == filters.project,
            )
        )
    if filters.kind is not None:
        clauses.append(TicketRow.kind == filters.kind)
    return clauses


def _order(section: Section) -> tuple[Any, ...]:
    if section is Section.FINISHED:
        return (TicketRow.updated_at.desc(), TicketRow.id.desc())
    # Queue order: when the current round joined the queue (resubmissions go to the back).
    return (TicketRow.queued_at, TicketRow.id)


def page(
    s: Session,
    who: Reader,
    section: Section = Section.ALL,
    filters: QueueFilter = QueueFilter(),
    *,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> TicketPage:
    """One page of ``section`` as ``who`` may see it, with the section's total: two queries
    for the tickets and their count, two more for their rounds and the rounds' manifests."""
    offset, limit = max(0, int(offset)), max(1, min(int(limit), MAX_PAGE_SIZE))
    where = and_(visible_to(who), _section_clause(section), *_filter_clauses(filters))
    total = s.scalar(select(func.count()).select_from(TicketRow).where(where)) or 0
    rows = s.scalars(
        select(TicketRow)
        .where(where)
        .order_by(*_order(section))
        .offset(offset)
        .limit(limit)
        .options(selectinload(TicketRow.rounds).selectinload(RoundRow.files))
    )
    return TicketPage([ticket_of_row(r) for r in rows], int(total), offset, limit)


def oldest_waiting(s: Session, who: Reader) -> Ticket | None:
    """The ticket ``who`` may see that has waited longest in the queue (open, not blocked):
    the first row in queue order, without counting the whole section as a page would."""
    row = s.scalars(
        select(TicketRow)
        .where(visible_to(who), _section_clause(Section.OPEN))
        .order_by(*_order(Section.OPEN))
        .limit(1)
        .options(selectinload(TicketRow.rounds).selectinload(RoundRow.files))
    ).first()
    return ticket_of_row(row) if row is not None else None


def counts_by_state(s: Session, who: Reader) -> dict[str, int]:
    """How many tickets of each state ``who`` may see (never counts of the whole store)."""
    rows = s.execute(
        select(TicketRow.state, func.count()).where(visible_to(who)).group_by(TicketRow.state)
    )
    return {state: int(n) for state, n in rows}


# --- the intake sweep ----------------------------------------------------------------------------


def _chunks(values: Sequence[str]) -> Iterable[list[str]]:
    for i in range(0, len(values), _IN_CHUNK):
        yield list(values[i : i + _IN_CHUNK])


def known_folders(s: Session, projects: Iterable[str]) -> dict[str, set[str]]:
    """Per project: every folder a ticket of it holds or held (its current folder and every
    round's), whatever its state: one query per 500 projects, folder names only."""
    numbers = sorted({str(p) for p in projects})
    known: dict[str, set[str]] = {n: set() for n in numbers}
    for chunk in _chunks(numbers):
        current = select(TicketRow.project, TicketRow.folder).where(TicketRow.project.in_(chunk))
        earlier = (
            select(TicketRow.project, RoundRow.folder)
            .join(RoundRow, RoundRow.ticket_id == TicketRow.id)
            .where(TicketRow.project.in_(chunk))
        )
        for project, folder in s.execute(union(current, earlier)):
            known[project].add(folder)
    return known


def tickets_in_states(s: Session, projects: Iterable[str], states: Iterable[Any]) -> list[Ticket]:
    """The tickets of these projects in these states, in queue order (the few the sweep acts
    on: revisions requested, or received with a run that may not have started)."""
    numbers = sorted({str(p) for p in projects})
    wanted = sorted({getattr(x, "value", x) for x in states})
    found: list[Ticket] = []
    for chunk in _chunks(numbers):
        rows = s.scalars(
            select(TicketRow)
            .where(TicketRow.project.in_(chunk), TicketRow.state.in_(wanted))
            .order_by(TicketRow.queued_at, TicketRow.id)
            .options(selectinload(TicketRow.rounds).selectinload(RoundRow.files))
        )
        found += [ticket_of_row(r) for r in rows]
    return found
