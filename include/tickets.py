"""The ticket store: one permanent record per request, its rounds, and a hash-chained audit trail.

A ticket's STATS-ID comes from the database's own never-reused key (SQLite AUTOINCREMENT, a
Postgres identity), so concurrent processes can never be handed the same one. A second open
ticket for the same request folder cannot exist (a partial unique index): ``register`` inserts
and, when the index refuses, returns the ticket that holds the folder.

Every write is compare-and-set: tickets and rounds carry ``version`` as SQLAlchemy's
``version_id_col``, so each UPDATE says ``WHERE version = <the version read>``. A write that
loses a race (``StaleDataError``) is retried from a fresh read up to ``WRITE_ATTEMPTS`` times,
re-checking the state machine each time, then refused with ``StaleState``. Every write appends
an audit event to the ticket's hash chain (``include.audit_chain``) in the same transaction;
``verify_chain`` recomputes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from include.audit_chain import GENESIS, as_json, decision_digest, digest, event_hash
from include.audit_verify import ChainReport, orphaned, verify_ticket
from include.db import session_scope
from include.round_facts import (
    bag_key,
    checks_fact,
    folder_version,
    placement_fact,
    run_fact,
    snapshot_fact,
)
from include.rounds import CheckSummary, Placement, Round, Snapshot, round_from_row
from include.states import OPEN_STATES, TicketState, check_transition
from include.storage.base import Manifest
from include.ticket_tables import (
    OPEN_FOLDER_INDEX,
    AuditEventRow,
    AuditIsAppendOnly,
    DecisionFileRow,
    DecisionRow,
    RoundFileRow,
    RoundRow,
    SentEmailRow,
    TicketRow,
)

__all__ = [
    "KINDS",
    "STATS_ID",
    "AuditEvent",
    "AuditEventRow",
    "AuditIsAppendOnly",
    "ChainReport",
    "CheckSummary",
    "Decision",
    "DecisionFileRow",
    "DecisionRow",
    "DuplicateRequest",
    "Placement",
    "Registration",
    "Round",
    "RoundRow",
    "SentEmailRow",
    "Snapshot",
    "StaleState",
    "Ticket",
    "TicketClosed",
    "TicketError",
    "TicketRow",
    "TicketStore",
    "UnknownTicket",
    "utcnow",
]

KINDS = ("output", "ingest", "transfer")
STATS_ID = re.compile(r"^STATS\d{5,}$")
WRITE_ATTEMPTS = 5  # a write that keeps losing compare-and-set races is refused after this
T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


class TicketError(Exception):
    """A request about tickets that cannot be done; the message says why."""


class UnknownTicket(TicketError, LookupError):
    pass


class StaleState(TicketError):
    """Compare-and-set failed: the ticket is no longer in the state the caller expected."""


class TicketClosed(StaleState):
    """The ticket was closed (its project ended): the step must stop without further action."""


class DuplicateRequest(TicketError):
    """The request folder already has an open ticket (``existing``)."""

    def __init__(self, message: str, existing: Ticket) -> None:
        super().__init__(message)
        self.existing = existing


@dataclass(frozen=True)
class Ticket:
    stats_id: str
    kind: str
    project: str
    destination_project: str | None
    requester: str
    folder: str
    round: int
    state: TicketState
    received_at: datetime
    queued_at: datetime
    updated_at: datetime
    assigned_officers: tuple[str, ...]
    details: dict[str, Any] = field(default_factory=dict)
    rounds: tuple[Round, ...] = ()

    @property
    def run_id(self) -> str:
        """The Airflow run of the current round (DESIGN.md principle 2): the one its intake
        recorded (a run started from Airflow's trigger form is ``manual__…``), else the run
        the round is started as, ``<STATS-ID>-r<n>``."""
        recorded = self.current_round.run_id if self.current_round else None
        return recorded or f"{self.stats_id}-r{self.round}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def current_round(self) -> Round | None:
        return self.round_of(self.round)

    def round_of(self, number: int) -> Round | None:
        return next((r for r in self.rounds if r.number == number), None)

    def folders_used(self) -> set[str]:
        """Every folder this ticket uses or used (its current folder and every round's)."""
        return {self.folder, *(r.folder for r in self.rounds)}


@dataclass(frozen=True)
class Registration:
    ticket: Ticket
    created: bool  # False: the folder already had this open ticket


@dataclass(frozen=True)
class AuditEvent:
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    details: dict[str, Any]
    seq: int = 0
    hash: str = ""


@dataclass(frozen=True)
class Decision:
    round: int
    step: str
    role: str
    actor: str
    outcome: str
    guidance: str
    exemption: str
    at: datetime
    files: tuple[tuple[str, str], ...] = ()  # (path, what to change), in the form's order


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _ticket(row: TicketRow) -> Ticket:
    return Ticket(
        stats_id=row.stats_id or "",
        kind=row.kind,
        project=row.project,
        destination_project=row.destination_project,
        requester=row.requester,
        folder=row.folder,
        round=row.round,
        state=TicketState(row.state),
        received_at=_aware(row.received_at),
        queued_at=_aware(row.queued_at),
        updated_at=_aware(row.updated_at),
        assigned_officers=tuple(row.assigned_officers or ()),
        details=dict(row.details or {}),
        rounds=tuple(round_from_row(r) for r in row.rounds),
    )


def _decision(row: DecisionRow, files: Sequence[tuple[str, str]]) -> Decision:
    return Decision(
        row.round,
        row.step,
        row.role,
        row.actor,
        row.outcome,
        row.guidance,
        row.exemption,
        _aware(row.at),
        tuple((path, text) for path, text in files),
    )


def _refuse_if_closed(stats_id: str, current: TicketState, what: str) -> None:
    if current == TicketState.CLOSED_PROJECT_ENDED:
        raise TicketClosed(f"{stats_id} was closed because its project ended; it cannot be {what}")


def _refuse_round_keys(details: dict[str, Any] | None) -> None:
    """A round's named facts live in its row, written by the typed writers; the free-form
    ``details`` never spell them again (``run_r1``, ``snapshot_r2``...), so no caller can go
    back to the bag."""
    named = sorted(k for k in details or {} if bag_key(k) is not None)
    if named:
        raise TicketError(
            f"details key(s) {named} name a round's fact; record it with the store's typed "
            "writers (record_run, record_trigger, record_snapshot, record_checks, "
            "record_placement; include.request_rounds for the steps)"
        )


def _pending_trigger(s: Session, row: TicketRow, number: int) -> str | None:
    """The run the intake sweep started for round ``number`` before that round began (a
    revised folder): the latest audit event that recorded it (``record_trigger``), or an event
    written before the rounds existed that spelled it ``run_started_r{n}``."""
    found = None
    events = s.scalars(
        select(AuditEventRow.details)
        .where(AuditEventRow.ticket_id == row.id)
        .order_by(AuditEventRow.seq, AuditEventRow.id)
    )
    for d in events:
        d = d or {}
        if d.get("fact") == "trigger" and d.get("round") == number:
            found = d.get("run_id") if isinstance(d.get("run_id"), str) else found
        elif isinstance(d.get(f"run_started_r{number}"), str):
            found = d[f"run_started_r{number}"]
    return found


def _is_open_folder_clash(exc: IntegrityError) -> bool:
    text = str(exc.orig)
    return OPEN_FOLDER_INDEX in text or "tickets.project, tickets.kind, tickets.folder" in text


def _is_chain_clash(exc: IntegrityError) -> bool:
    """Two writers appended the same event number: the loser retries like any lost race."""
    text = str(exc.orig)
    return (
        "uq_audit_events_ticket_seq" in text or "audit_events.ticket_id, audit_events.seq" in text
    )


def _append(
    s: Session,
    row: TicketRow,
    *,
    actor: str,
    action: str,
    details: dict[str, Any] | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    at: datetime | None = None,
) -> AuditEventRow:
    """The next event of the ticket's chain; moving the ticket's head makes it a versioned
    UPDATE of the ticket, so two writers cannot both append event n."""
    at = (at or utcnow()).astimezone(UTC)
    stored = as_json(details or {})
    seq, prev = row.audit_seq + 1, row.audit_head or GENESIS
    content = dict(
        seq=seq,
        action=action,
        actor=actor,
        at=at,
        from_state=from_state,
        to_state=to_state,
        details=stored,
        prev_hash=prev,
    )
    h = event_hash(stats_id=row.stats_id or "", **content)
    event = AuditEventRow(ticket_id=row.id, hash=h, **content)
    row.audit_seq, row.audit_head = seq, h
    s.flush([row])  # the versioned UPDATE first: a lost race fails here, before the INSERT
    s.add(event)
    return event


def _round_row(row: TicketRow, number: int) -> RoundRow:
    found = next((r for r in row.rounds if r.number == number), None)
    if found is None:
        raise TicketError(f"{row.stats_id} has no round {number} (it is in round {row.round})")
    return found


def _set_fact(
    s: Session,
    rnd: RoundRow,
    fact: str,
    content: dict[str, Any],
    at: datetime,
    *,
    report_place: str | None = None,
    once: bool,
) -> bool:
    """Write a canonical fact into the round row; False if it already says exactly that.

    ``once``: a different value for a fact already recorded is refused (snapshots always are:
    their manifest entries are append-only).
    """
    from include.audit_verify import row_facts

    before = row_facts(rnd).get(fact)
    if before == content and (fact != "checks" or report_place in (None, rnd.check_report_place)):
        return False
    if before is not None and (once or fact == "snapshot"):
        raise TicketError(
            f"round {rnd.number} of this ticket already has its {fact} recorded; it is kept"
        )
    if fact == "run":
        rnd.run_id = content["run_id"]
    elif fact == "trigger":
        rnd.triggered_run_id = content["run_id"]
    elif fact == "snapshot":
        rnd.snapshot_place, rnd.snapshot_at = content["place"], at
        rnd.files.extend(RoundFileRow(path=p, sha256=h, size=n) for p, h, n in content["manifest"])
    elif fact == "checks":
        rnd.check_verdict = content["verdict"]
        rnd.check_counts = content["counts"]
        rnd.check_blocking = content["blocking"]
        rnd.check_files = content["files"]
        rnd.check_direct_identifiers = content["direct_identifiers"]
        rnd.check_report_place = report_place or rnd.check_report_place
        rnd.checked_at = at
    elif fact == "placement":
        rnd.placed_place, rnd.placed_manifest_place = content["place"], content["manifest_place"]
        rnd.placed_at = at
    rnd.updated_at = at
    return True


class TicketStore:
    """Every read and write of tickets; each public method is one transaction."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url

    def _write(self, doing: str, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a transaction; a lost compare-and-set race re-runs it from a fresh read."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with session_scope(self.url) as s:
                    return work(s)
            except (StaleDataError, IntegrityError) as exc:
                if isinstance(exc, IntegrityError) and not _is_chain_clash(exc):
                    raise
                if attempt == WRITE_ATTEMPTS:
                    raise StaleState(
                        f"the ticket kept changing while {doing} ({WRITE_ATTEMPTS} attempts); "
                        "nothing was changed"
                    ) from exc
        raise AssertionError("unreachable")

    # --- creating and reading -------------------------------------------------------------

    def create(
        self,
        *,
        kind: str,
        project: str,
        requester: str,
        folder: str,
        actor: str,
        destination_project: str | None = None,
        details: dict[str, Any] | None = None,
        received_at: datetime | None = None,
    ) -> Ticket:
        """A new ticket in state ``received`` with a fresh STATS-ID and its round 1.

        DuplicateRequest if the request folder already has an open ticket.
        """
        if kind not in KINDS:
            raise TicketError(f"unknown request kind {kind!r}; expected one of {', '.join(KINDS)}")
        _refuse_round_keys(details)

        def work(s: Session) -> Ticket:
            now = utcnow()
            row = TicketRow(
                kind=kind,
                project=str(project),
                destination_project=destination_project,
                requester=requester,
                folder=folder,
                round=1,
                state=TicketState.RECEIVED.value,
                received_at=received_at or now,
                queued_at=received_at or now,
                updated_at=now,
                assigned_officers=[],
                details=dict(details or {}),
                audit_seq=0,
                audit_head=GENESIS,
            )
            s.add(row)
            s.flush()  # the open-folder index refuses a second open ticket here
            row.stats_id = f"STATS{row.id:05d}"
            row.rounds.append(
                RoundRow(
                    number=1,
                    folder=folder,
                    folder_version=folder_version(folder),
                    started_at=now,
                    updated_at=now,
                )
            )
            _append(
                s,
                row,
                actor=actor,
                action="created",
                to_state=TicketState.RECEIVED.value,
                details={"kind": kind, "project": project, "folder": folder, **(details or {})},
                at=now,
            )
            s.flush()
            return _ticket(row)

        try:
            return self._write("creating it", work)
        except IntegrityError as exc:
            if not _is_open_folder_clash(exc):
                raise
            existing = self.open_ticket_for(project, folder, kind=kind)
            if existing is None:  # closed since: the caller may simply try again
                raise
            raise DuplicateRequest(
                f"{kind} folder {folder!r} of project {project} already has open request "
                f"{existing.stats_id}",
                existing,
            ) from exc

    def register(self, **kw: Any) -> Registration:
        """``create``, or the open ticket that already holds the request folder.

        The database decides (the open-folder unique index), so any number of processes
        registering the same folder at once get one ticket between them.
        """
        for _ in range(WRITE_ATTEMPTS):
            try:
                return Registration(self.create(**kw), True)
            except DuplicateRequest as dup:
                return Registration(dup.existing, False)
            except IntegrityError as exc:  # the holder closed between our insert and our read
                if not _is_open_folder_clash(exc):
                    raise
        raise StaleState(f"could not register folder {kw.get('folder')!r}: it kept changing hands")

    def open_ticket_for(self, project: str, folder: str, *, kind: str) -> Ticket | None:
        """The open ticket of ``kind`` holding ``folder`` of ``project``, if any."""
        with session_scope(self.url) as s:
            row = s.scalar(
                select(TicketRow).where(
                    TicketRow.project == str(project),
                    TicketRow.kind == kind,
                    TicketRow.folder == folder,
                    TicketRow.state.in_([x.value for x in OPEN_STATES]),
                )
            )
            return _ticket(row) if row is not None else None

    def get(self, stats_id: str) -> Ticket:
        with session_scope(self.url) as s:
            return _ticket(self._row(s, stats_id))

    def rounds(self, stats_id: str) -> tuple[Round, ...]:
        return self.get(stats_id).rounds

    def round(self, stats_id: str, number: int) -> Round:
        found = self.get(stats_id).round_of(number)
        if found is None:
            raise TicketError(f"{stats_id} has no round {number}")
        return found

    def round_of_run(self, run_id: str, *, kind: str | None = None) -> tuple[str, int] | None:
        """(STATS-ID, round) of the round whose intake ``run_id`` did, if any."""
        with session_scope(self.url) as s:
            q = (
                select(TicketRow.stats_id, RoundRow.number)
                .join(RoundRow, RoundRow.ticket_id == TicketRow.id)
                .where(RoundRow.run_id == run_id)
            )
            if kind is not None:
                q = q.where(TicketRow.kind == kind)
            found = s.execute(q.order_by(TicketRow.id, RoundRow.number).limit(1)).first()
            return (str(found[0]), int(found[1])) if found else None

    def find(
        self,
        *,
        states: Iterable[str] | None = None,
        project: str | None = None,
        kind: str | None = None,
        details_match: dict[str, Any] | None = None,
    ) -> list[Ticket]:
        """Tickets in queue order (when their current round joined the queue)."""
        with session_scope(self.url) as s:
            q = select(TicketRow)
            if states is not None:
                q = q.where(TicketRow.state.in_([TicketState(x).value for x in states]))
            if project is not None:
                q = q.where(TicketRow.project == str(project))
            if kind is not None:
                q = q.where(TicketRow.kind == kind)
            rows = [_ticket(r) for r in s.scalars(q.order_by(TicketRow.queued_at, TicketRow.id))]
        if details_match:
            rows = [t for t in rows if all(t.details.get(k) == v for k, v in details_match.items())]
        return rows

    def audit(self, stats_id: str) -> list[AuditEvent]:
        with session_scope(self.url) as s:
            row = self._row(s, stats_id)
            events = s.scalars(
                select(AuditEventRow)
                .where(AuditEventRow.ticket_id == row.id)
                .order_by(AuditEventRow.seq, AuditEventRow.id)
            )
            return [
                AuditEvent(
                    _aware(e.at),
                    e.actor,
                    e.action,
                    e.from_state,
                    e.to_state,
                    dict(e.details or {}),
                    e.seq,
                    e.hash,
                )
                for e in events
            ]

    def decisions(self, stats_id: str, *, round: int | None = None) -> list[Decision]:
        with session_scope(self.url) as s:
            row = self._row(s, stats_id)
            return [_decision(d, f) for d, f in self._decision_rows(s, row.id, round)]

    @staticmethod
    def _decision_rows(
        s: Session, ticket_id: int, round: int | None = None
    ) -> list[tuple[DecisionRow, list[tuple[str, str]]]]:
        q = select(DecisionRow).where(DecisionRow.ticket_id == ticket_id)
        if round is not None:
            q = q.where(DecisionRow.round == round)
        rows = list(s.scalars(q.order_by(DecisionRow.id)))
        files: dict[int, list[tuple[str, str]]] = {}
        if rows:
            for f in s.scalars(
                select(DecisionFileRow)
                .where(DecisionFileRow.decision_id.in_([d.id for d in rows]))
                .order_by(DecisionFileRow.id)
            ):
                files.setdefault(f.decision_id, []).append((f.path, f.text))
        return [(d, files.get(d.id, [])) for d in rows]

    # --- verifying the record -------------------------------------------------------------

    def verify_chain(self, stats_id: str) -> ChainReport:
        """Recompute the ticket's audit chain and check the rows it covers."""
        with session_scope(self.url) as s:
            row = self._row(s, stats_id)
            return self._verify(s, row)

    def verify_all(self) -> list[ChainReport]:
        """Every ticket's chain, and audit events whose ticket row is gone."""
        with session_scope(self.url) as s:
            reports = [
                self._verify(s, row) for row in s.scalars(select(TicketRow).order_by(TicketRow.id))
            ]
            gone = s.execute(
                select(AuditEventRow.ticket_id, func.count())
                .where(AuditEventRow.ticket_id.not_in(select(TicketRow.id)))
                .group_by(AuditEventRow.ticket_id)
            ).all()
            return reports + [orphaned(ticket_id, n) for ticket_id, n in gone]

    def _verify(self, s: Session, row: TicketRow) -> ChainReport:
        events = list(s.scalars(select(AuditEventRow).where(AuditEventRow.ticket_id == row.id)))
        return verify_ticket(row, events, self._decision_rows(s, row.id))

    # --- changing -------------------------------------------------------------------------

    def transition(
        self,
        stats_id: str,
        to: TicketState | str,
        *,
        actor: str,
        expected: TicketState | str | Sequence[TicketState | str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> Ticket:
        """Move the ticket to ``to``, compare-and-set against its current (or ``expected``) state.

        Moving a ticket to the state it is already in is a no-op, so a retried task that already
        made this change succeeds without a second audit event.
        """
        target = TicketState(to)

        def work(s: Session) -> Ticket:
            row = self._row(s, stats_id)
            current = TicketState(row.state)
            if current == target:
                return _ticket(row)
            _refuse_if_closed(stats_id, current, f"moved to '{target}'")
            if expected is not None:
                allowed = (
                    {TicketState(expected)}
                    if isinstance(expected, str)
                    else {TicketState(e) for e in expected}
                )
                if current not in allowed:
                    raise StaleState(
                        f"{stats_id} is in state '{current}', not {' or '.join(sorted(allowed))}; "
                        f"it was not moved to '{target}'"
                    )
            check_transition(current, target)
            now = utcnow()
            row.state, row.updated_at = target.value, now
            _append(
                s,
                row,
                actor=actor,
                action="state_changed",
                from_state=current.value,
                to_state=target.value,
                details=dict(details or {}),
                at=now,
            )
            s.flush()
            return _ticket(row)

        return self._write(f"moving {stats_id} to '{target}'", work)

    def start_round(self, stats_id: str, *, folder: str, actor: str) -> Ticket:
        """A resubmission: the next round, from the checks, at the back of the queue."""

        def work(s: Session) -> Ticket:
            row = self._row(s, stats_id)
            current = TicketState(row.state)
            _refuse_if_closed(stats_id, current, "resubmitted")
            if current != TicketState.REVISIONS_REQUESTED:
                raise StaleState(
                    f"{stats_id} is in state '{current}'; only a ticket whose revisions were requested "
                    "can be resubmitted"
                )
            check_transition(current, TicketState.CHECKING)
            now = utcnow()
            number = row.round + 1
            row.round, row.folder, row.queued_at, row.updated_at = number, folder, now, now
            row.state = TicketState.CHECKING.value
            # A database migrated from the bag may already hold this round's row (its trigger
            # was recorded before the round began): it is this round.
            rnd = next((r for r in row.rounds if r.number == number), None)
            if rnd is None:
                rnd = RoundRow(number=number, started_at=now)
                row.rounds.append(rnd)
            rnd.folder, rnd.folder_version, rnd.updated_at = folder, folder_version(folder), now
            # The sweep starts the run of a revised (`_v2`) folder before its round begins;
            # the trigger it recorded then joins the round's row now.
            pending = _pending_trigger(s, row, number)
            if pending is not None and rnd.triggered_run_id is None:
                rnd.triggered_run_id = pending
            _append(
                s,
                row,
                actor=actor,
                action="resubmitted",
                from_state=current.value,
                to_state=TicketState.CHECKING.value,
                details={"round": number, "folder": folder},
                at=now,
            )
            s.flush()
            return _ticket(row)

        return self._write(f"starting the next round of {stats_id}", work)

    def set_fields(self, stats_id: str, *, actor: str, action: str, **changes: Any) -> Ticket:
        """Set non-state fields (assigned_officers, free-form details keys), with an audit event.

        Read, merge and write are one compare-and-set: a concurrent writer's keys are never lost
        (the loser re-reads and merges again). A round's facts are not details: keys that name
        one (``run_r1``, ``snapshot_r2``...) are refused; the typed writers record them.
        """
        allowed = {"assigned_officers", "details", "destination_project"}
        unknown = set(changes) - allowed
        if unknown:
            raise TicketError(
                f"cannot set {sorted(unknown)} through set_fields(); states change by transition()"
            )
        _refuse_round_keys(changes.get("details"))

        def work(s: Session) -> Ticket:
            row = self._row(s, stats_id)
            now = utcnow()
            audit: dict[str, Any] = {}
            if "assigned_officers" in changes:
                row.assigned_officers = list(changes["assigned_officers"])
                audit["assigned_officers"] = row.assigned_officers
            if "details" in changes:
                row.details = {**(row.details or {}), **changes["details"]}
                audit.update(changes["details"])
            if "destination_project" in changes:
                row.destination_project = changes["destination_project"]
                audit["destination_project"] = row.destination_project
            row.updated_at = now
            _append(s, row, actor=actor, action=action, details=audit, at=now)
            s.flush()
            return _ticket(row)

        return self._write(f"setting fields of {stats_id}", work)

    def append_audit(
        self, stats_id: str, *, actor: str, action: str, details: dict[str, Any] | None = None
    ) -> None:
        def work(s: Session) -> None:
            _append(s, self._row(s, stats_id), actor=actor, action=action, details=details)

        self._write(f"auditing {stats_id}", work)

    # --- a round's facts (typed; each write is audited with the fact's digest) -------------

    def record_run(
        self, stats_id: str, number: int, run_id: str, *, actor: str = "intake"
    ) -> Round:
        """The Airflow run that did round ``number``'s intake (recorded once)."""
        extra = {"run_id": run_id}
        return self._record(stats_id, number, "run", run_fact(run_id), actor, "run_recorded", extra)

    def record_trigger(
        self,
        stats_id: str,
        number: int,
        run_id: str,
        *,
        actor: str = "intake_sweep",
        folder: str | None = None,
    ) -> Round | None:
        """The run the intake sweep started for round ``number`` (recorded once).

        The sweep starts the run of a revised folder before its round begins (the run's intake
        begins it): for ``number`` one past the ticket's round the trigger is an audit event
        only, which ``start_round`` moves into the new round's row; None is returned then.
        """
        extra = {"run_id": run_id, **({"folder": folder} if folder is not None else {})}
        content = run_fact(run_id)

        def work(s: Session) -> Round | None:
            row = self._row(s, stats_id)
            if number == row.round + 1 and all(r.number != number for r in row.rounds):
                if _pending_trigger(s, row, number) != run_id:
                    digested = {"round": number, "fact": "trigger", "digest": digest(content)}
                    _append(s, row, actor=actor, action="run_triggered", details=digested | extra)
                    s.flush()
                return None
            return self._record_fact(
                s, row, number, "trigger", content, actor, "run_triggered", extra
            )

        return self._write(f"recording the trigger of {stats_id} round {number}", work)

    def record_snapshot(
        self, stats_id: str, number: int, place: str, manifest: Manifest, *, actor: str = "pipeline"
    ) -> Round:
        """Round ``number``'s verified snapshot and its manifest (recorded once, never changed)."""
        extra = {"files": len(manifest), "bytes": manifest.total_bytes, "place": place}
        content = snapshot_fact(place, manifest)
        return self._record(
            stats_id, number, "snapshot", content, actor, "snapshot_recorded", extra
        )

    def record_checks(
        self,
        stats_id: str,
        number: int,
        summary: CheckSummary,
        report_place: str,
        *,
        actor: str = "pipeline",
    ) -> Round:
        """Round ``number``'s check summary and where its reports are (checks may be re-run)."""
        content = checks_fact(
            summary.verdict,
            summary.counts,
            (dict(b) for b in summary.blocking),
            (dict(f) for f in summary.files),
            summary.direct_identifiers,
        )
        extra = {"verdict": summary.verdict, "report_place": report_place}
        return self._record(
            stats_id, number, "checks", content, actor, "checks_recorded", extra, report_place
        )

    def record_placement(
        self,
        stats_id: str,
        number: int,
        place: str,
        manifest_place: str | None = None,
        *,
        actor: str = "pipeline",
    ) -> Round:
        """Where round ``number``'s verified copy was placed (recorded once)."""
        content = placement_fact(place, manifest_place)
        return self._record(stats_id, number, "placement", content, actor, "placement_recorded")

    def _record(
        self,
        stats_id: str,
        number: int,
        fact: str,
        content: dict[str, Any],
        actor: str,
        action: str,
        extra: dict[str, Any] | None = None,
        report_place: str | None = None,
    ) -> Round:
        def work(s: Session) -> Round:
            row = self._row(s, stats_id)
            return self._record_fact(
                s, row, number, fact, content, actor, action, extra, report_place
            )

        return self._write(f"recording the {fact} of {stats_id} round {number}", work)

    @staticmethod
    def _record_fact(
        s: Session,
        row: TicketRow,
        number: int,
        fact: str,
        content: dict[str, Any],
        actor: str,
        action: str,
        extra: dict[str, Any] | None = None,
        report_place: str | None = None,
    ) -> Round:
        """Write the fact into round ``number``'s row and audit it with its digest (nothing
        when the row already says exactly that)."""
        rnd = _round_row(row, number)
        now = utcnow()
        if _set_fact(s, rnd, fact, content, now, report_place=report_place, once=fact != "checks"):
            details = {"round": number, "fact": fact, "digest": digest(content), **(extra or {})}
            _append(s, row, actor=actor, action=action, details=details, at=now)
            s.flush()
        return round_from_row(rnd)

    def record_decision(
        self,
        stats_id: str,
        *,
        round: int,
        step: str,
        role: str,
        actor: str,
        outcome: str,
        guidance: str = "",
        exemption: str = "",
        files: Sequence[tuple[str, str]] = (),
        responded_at: datetime | None = None,
    ) -> Decision:
        """Record a sign-off once; recording the same step again returns the first record.

        ``files`` is the per-file guidance; ``responded_at`` is when Airflow recorded the answer
        (the decision's time), defaulting to now. Its audit event carries the decision's digest.
        """

        def work(s: Session) -> Decision:
            row = self._row(s, stats_id)
            existing = s.scalar(
                select(DecisionRow).where(
                    DecisionRow.ticket_id == row.id,
                    DecisionRow.round == round,
                    DecisionRow.step == step,
                )
            )
            if existing is not None:
                stored = s.scalars(
                    select(DecisionFileRow)
                    .where(DecisionFileRow.decision_id == existing.id)
                    .order_by(DecisionFileRow.id)
                )
                return _decision(existing, [(f.path, f.text) for f in stored])
            at = (responded_at or utcnow()).astimezone(UTC)
            rnd = next((r for r in row.rounds if r.number == round), None)
            decision = DecisionRow(
                ticket_id=row.id,
                round=round,
                round_id=rnd.id if rnd is not None else None,
                step=step,
                role=role,
                actor=actor,
                outcome=outcome,
                guidance=guidance,
                exemption=exemption,
                at=at,
            )
            s.add(decision)
            s.flush()
            s.add_all(
                DecisionFileRow(decision_id=decision.id, path=path, text=text)
                for path, text in files
            )
            content = {
                "round": round,
                "step": step,
                "role": role,
                "outcome": outcome,
                "guidance": guidance,
                "exemption": exemption,
                "files": [list(f) for f in files],
            }
            content["digest"] = decision_digest(actor=actor, at=at, **content)
            _append(s, row, actor=actor, action="decision", details=content, at=at)
            s.flush()
            return _decision(decision, files)

        return self._write(f"recording decision {step} of {stats_id}", work)

    def claim_email(
        self,
        stats_id: str,
        key: str,
        *,
        subject: str,
        recipients: Sequence[str],
        stale_after: timedelta | None = None,
    ) -> bool:
        """Claim the right to send the email ``key`` once; False if it was already claimed.

        A claim that was never marked sent and is older than ``stale_after`` belongs to an
        attempt that died between claiming and sending (a killed task, a lost connection to
        this database): it is taken over (compare-and-set on the claim's time, audited), so
        the email is not lost. Without ``stale_after`` a claim is never taken over.
        """

        def work(s: Session) -> bool:
            row = self._row(s, stats_id)
            found = s.scalar(
                select(SentEmailRow).where(
                    SentEmailRow.ticket_id == row.id, SentEmailRow.key == key
                )
            )
            if found is not None:
                if (
                    found.status != "claimed"
                    or stale_after is None
                    or _aware(found.at) > utcnow() - stale_after
                ):
                    return False
                now = utcnow()
                taken = s.execute(
                    update(SentEmailRow)
                    .where(
                        SentEmailRow.id == found.id,
                        SentEmailRow.status == "claimed",
                        SentEmailRow.at == found.at,
                    )
                    .values(at=now, subject=subject, recipients=list(recipients))
                    .execution_options(synchronize_session=False)
                )
                if taken.rowcount != 1:
                    return False  # another attempt took it over first
                _append(
                    s,
                    row,
                    actor="pipeline",
                    action="email_claim_taken_over",
                    details={"key": key, "claimed_at": _aware(found.at).isoformat()},
                    at=now,
                )
                return True
            try:
                with s.begin_nested():
                    s.add(
                        SentEmailRow(
                            ticket_id=row.id,
                            key=key,
                            subject=subject,
                            recipients=list(recipients),
                            at=utcnow(),
                        )
                    )
            except IntegrityError:
                return False
            return True

        return self._write(f"claiming email {key} of {stats_id}", work)

    def release_email_claim(self, stats_id: str, key: str) -> None:
        """The send failed before the server took the message: let a retry send it."""
        with session_scope(self.url) as s:
            row = self._row(s, stats_id)
            s.execute(
                delete(SentEmailRow).where(
                    SentEmailRow.ticket_id == row.id,
                    SentEmailRow.key == key,
                    SentEmailRow.status == "claimed",
                )
            )

    def mark_email_sent(self, stats_id: str, key: str) -> None:
        def work(s: Session) -> None:
            row = self._row(s, stats_id)
            s.execute(
                update(SentEmailRow)
                .where(SentEmailRow.ticket_id == row.id, SentEmailRow.key == key)
                .values(status="sent")
            )
            _append(s, row, actor="pipeline", action="email_sent", details={"key": key})

        self._write(f"marking email {key} of {stats_id} sent", work)

    def email_status(self, stats_id: str, key: str) -> str | None:
        with session_scope(self.url) as s:
            row = self._row(s, stats_id)
            return s.scalar(
                select(SentEmailRow.status).where(
                    SentEmailRow.ticket_id == row.id, SentEmailRow.key == key
                )
            )

    def open_load(self, officers: Iterable[str]) -> dict[str, int]:
        """How many open tickets each officer is assigned to (to pick the least-loaded)."""
        load = dict.fromkeys(officers, 0)
        for t in self.find(states=OPEN_STATES):
            for o in t.assigned_officers:
                if o in load:
                    load[o] += 1
        return load

    def count_by_state(self) -> dict[str, int]:
        with session_scope(self.url) as s:
            return dict(
                s.execute(select(TicketRow.state, func.count()).group_by(TicketRow.state)).all()
            )

    @staticmethod
    def _row(s: Session, stats_id: str) -> TicketRow:
        if not STATS_ID.match(stats_id or ""):
            raise UnknownTicket(
                f"{stats_id!r} is not a STATS-ID (STATS followed by digits, e.g. STATS00042)"
            )
        row = s.scalar(select(TicketRow).where(TicketRow.stats_id == stats_id))
        if row is None:
            raise UnknownTicket(f"no ticket {stats_id}")
        return row
