"""The ticket store: one permanent record per request, with an append-only audit trail.

A ticket's STATS-ID comes from the database's own never-reused key (SQLite AUTOINCREMENT, a
Postgres identity), so concurrent processes can never be handed the same one. Every state
change goes through ``TicketStore.transition``: it asks the state machine, then updates with
compare-and-set (``WHERE state = expected``), so a retried task cannot move a ticket twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    event,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from include.db import Base, session_scope
from include.states import OPEN_STATES, TicketState, check_transition

KINDS = ("output", "ingest", "transfer")
STATS_ID = re.compile(r"^STATS\d{5,}$")


def utcnow() -> datetime:
    return datetime.now(UTC)


class TicketRow(Base):
    __tablename__ = "tickets"
    __table_args__ = {"sqlite_autoincrement": True}  # never reuse a deleted row's id

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stats_id: Mapped[str | None] = mapped_column(String(20), unique=True, index=True)
    kind: Mapped[str] = mapped_column(String(10))
    project: Mapped[str] = mapped_column(String(10), index=True)
    destination_project: Mapped[str | None] = mapped_column(String(10), nullable=True)
    requester: Mapped[str] = mapped_column(String(64))
    folder: Mapped[str] = mapped_column(String(255))
    round: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(30), index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # When the current round joined the queue: resubmissions go to the back.
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    assigned_officers: Mapped[list[str]] = mapped_column(JSON, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)


class AuditEventRow(Base):
    __tablename__ = "audit_events"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(30), nullable=True)
    to_state: Mapped[str | None] = mapped_column(String(30), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DecisionRow(Base):
    __tablename__ = "decisions"
    __table_args__ = (UniqueConstraint("ticket_id", "round", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(40))  # e.g. officer_1, officer_2, data_owner_ASHE
    role: Mapped[str] = mapped_column(String(20))  # officer | data_owner
    actor: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(40))
    guidance: Mapped[str] = mapped_column(Text, default="")
    exemption: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DecisionFileRow(Base):
    """One file's guidance in a sign-off ("what to change in this file"), beside its decision."""

    __tablename__ = "decision_files"
    __table_args__ = (UniqueConstraint("decision_id", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"), index=True)
    path: Mapped[str] = mapped_column(String(1024))
    text: Mapped[str] = mapped_column(Text)


class SentEmailRow(Base):
    """One row per email a ticket has sent: its key makes a retried send a no-op."""

    __tablename__ = "sent_emails"
    __table_args__ = (UniqueConstraint("ticket_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(300))
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(10), default="claimed")  # claimed | sent


class AuditIsAppendOnly(RuntimeError):
    """Audit events and decisions are a permanent record: never updated or deleted."""


def _refuse_change(_mapper, _conn, target) -> None:
    raise AuditIsAppendOnly(f"{type(target).__tablename__} rows are append-only")


_APPEND_ONLY = (AuditEventRow, DecisionRow, DecisionFileRow)

for _table in _APPEND_ONLY:
    event.listen(_table, "before_update", _refuse_change)
    event.listen(_table, "before_delete", _refuse_change)


def _install_triggers(target, connection, **_kw) -> None:
    """Database triggers too, so not even a hand-written UPDATE or DELETE gets through."""
    table = target.name
    if connection.dialect.name == "sqlite":
        for op in ("UPDATE", "DELETE"):
            connection.exec_driver_sql(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} rows are append-only'); END"
            )
    elif connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            "CREATE OR REPLACE FUNCTION srs_append_only() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' rows are append-only'; "
            "END $$ LANGUAGE plpgsql"
        )
        connection.exec_driver_sql(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION srs_append_only()"
        )


for _table in _APPEND_ONLY:
    event.listen(_table.__table__, "after_create", _install_triggers)


class TicketError(Exception):
    """A request about tickets that cannot be done; the message says why."""


class UnknownTicket(TicketError, LookupError):
    pass


class StaleState(TicketError):
    """Compare-and-set failed: the ticket is no longer in the state the caller expected."""


class TicketClosed(StaleState):
    """The ticket was closed (its project ended): the step must stop without further action."""


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

    @property
    def run_id(self) -> str:
        """The Airflow run of the current round (DESIGN.md principle 2)."""
        return f"{self.stats_id}-r{self.round}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def folders_used(self) -> set[str]:
        """Every folder this ticket uses or used (current folder, earlier rounds, snapshots)."""
        used = {self.folder, *self.details.get("folders", [])}
        for key, value in self.details.items():
            if key.startswith("snapshot_r") and isinstance(value, dict) and value.get("folder"):
                used.add(value["folder"])
        return used


@dataclass(frozen=True)
class AuditEvent:
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    details: dict[str, Any]


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


class TicketStore:
    """Every read and write of tickets; each public method is one transaction."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url

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
        """A new ticket in state ``received`` with a fresh STATS-ID."""
        if kind not in KINDS:
            raise TicketError(f"unknown request kind {kind!r}; expected one of {', '.join(KINDS)}")
        now = utcnow()
        with session_scope(self.url) as s:
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
            )
            s.add(row)
            s.flush()
            row.stats_id = f"STATS{row.id:05d}"
            s.add(
                AuditEventRow(
                    ticket_id=row.id,
                    at=now,
                    actor=actor,
                    action="created",
                    to_state=TicketState.RECEIVED.value,
                    details={"kind": kind, "project": project, "folder": folder, **(details or {})},
                )
            )
            s.flush()
            return _ticket(row)

    def get(self, stats_id: str) -> Ticket:
        with session_scope(self.url) as s:
            return _ticket(self._row(s, stats_id))

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
                .order_by(AuditEventRow.id)
            )
            return [
                AuditEvent(
                    _aware(e.at), e.actor, e.action, e.from_state, e.to_state, dict(e.details or {})
                )
                for e in events
            ]

    def decisions(self, stats_id: str, round: int | None = None) -> list[Decision]:
        with session_scope(self.url) as s:
            row = self._row(s, stats_id)
            q = select(DecisionRow).where(DecisionRow.ticket_id == row.id)
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
            return [_decision(d, files.get(d.id, ())) for d in rows]

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
        with session_scope(self.url) as s:
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
            return self._compare_and_set(
                s,
                row,
                target,
                actor=actor,
                action="state_changed",
                details=dict(details or {}),
                doing=f"moving it to '{target}'",
            )

    def start_round(self, stats_id: str, *, folder: str, actor: str) -> Ticket:
        """A resubmission: the next round, from the checks, at the back of the queue."""
        with session_scope(self.url) as s:
            row = self._row(s, stats_id)
            current = TicketState(row.state)
            _refuse_if_closed(stats_id, current, "resubmitted")
            if current != TicketState.REVISIONS_REQUESTED:
                raise StaleState(
                    f"{stats_id} is in state '{current}'; only a ticket whose revisions were requested "
                    "can be resubmitted"
                )
            check_transition(current, TicketState.CHECKING)
            used = [*(row.details or {}).get("folders", []), row.folder, folder]
            return self._compare_and_set(
                s,
                row,
                TicketState.CHECKING,
                actor=actor,
                action="resubmitted",
                details={"round": row.round + 1, "folder": folder},
                doing="starting its next round",
                # Back of the queue; every folder the ticket ever used is remembered (the intake
                # sweep must not start them again).
                round=row.round + 1,
                folder=folder,
                queued_at=utcnow(),
                details_column={**(row.details or {}), "folders": list(dict.fromkeys(used))},
            )

    def set_fields(self, stats_id: str, *, actor: str, action: str, **changes: Any) -> Ticket:
        """Set non-state fields (assigned_officers, details keys), with an audit event."""
        allowed = {"assigned_officers", "details", "destination_project"}
        unknown = set(changes) - allowed
        if unknown:
            raise TicketError(
                f"cannot set {sorted(unknown)} through set_fields(); states change by transition()"
            )
        with session_scope(self.url) as s:
            row = self._row(s, stats_id)
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
            row.updated_at = utcnow()
            row.version = row.version + 1
            s.add(
                AuditEventRow(
                    ticket_id=row.id, at=row.updated_at, actor=actor, action=action, details=audit
                )
            )
            s.flush()
            return _ticket(row)

    def append_audit(
        self, stats_id: str, *, actor: str, action: str, details: dict[str, Any] | None = None
    ) -> None:
        with session_scope(self.url) as s:
            row = self._row(s, stats_id)
            s.add(
                AuditEventRow(
                    ticket_id=row.id,
                    at=utcnow(),
                    actor=actor,
                    action=action,
                    details=dict(details or {}),
                )
            )

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
        (the decision's time), defaulting to now.
        """
        with session_scope(self.url) as s:
            row = self._row(s, stats_id)
            existing = s.scalar(
                select(DecisionRow).where(
                    DecisionRow.ticket_id == row.id,
                    DecisionRow.round == round,
                    DecisionRow.step == step,
                )
            )
            if existing is None:
                existing = DecisionRow(
                    ticket_id=row.id,
                    round=round,
                    step=step,
                    role=role,
                    actor=actor,
                    outcome=outcome,
                    guidance=guidance,
                    exemption=exemption,
                    at=responded_at or utcnow(),
                )
                s.add(existing)
                s.flush()
                s.add_all(
                    DecisionFileRow(decision_id=existing.id, path=path, text=text)
                    for path, text in files
                )
                s.add(
                    AuditEventRow(
                        ticket_id=row.id,
                        at=existing.at,
                        actor=actor,
                        action="decision",
                        details={
                            "round": round,
                            "step": step,
                            "role": role,
                            "outcome": outcome,
                            "guidance": guidance,
                            "exemption": exemption,
                            "files": [list(f) for f in files],
                        },
                    )
                )
                s.flush()
                return _decision(existing, files)
            stored = s.scalars(
                select(DecisionFileRow)
                .where(DecisionFileRow.decision_id == existing.id)
                .order_by(DecisionFileRow.id)
            )
            return _decision(existing, [(f.path, f.text) for f in stored])

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
        with session_scope(self.url) as s:
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
                )
                if taken.rowcount != 1:
                    return False  # another attempt took it over first
                s.add(
                    AuditEventRow(
                        ticket_id=row.id,
                        at=now,
                        actor="pipeline",
                        action="email_claim_taken_over",
                        details={"key": key, "claimed_at": _aware(found.at).isoformat()},
                    )
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
        with session_scope(self.url) as s:
            row = self._row(s, stats_id)
            s.execute(
                update(SentEmailRow)
                .where(SentEmailRow.ticket_id == row.id, SentEmailRow.key == key)
                .values(status="sent")
            )
            s.add(
                AuditEventRow(
                    ticket_id=row.id,
                    at=utcnow(),
                    actor="pipeline",
                    action="email_sent",
                    details={"key": key},
                )
            )

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
    def _compare_and_set(
        s: Session,
        row: TicketRow,
        target: TicketState,
        *,
        actor: str,
        action: str,
        details: dict[str, Any],
        doing: str,
        details_column: dict[str, Any] | None = None,
        **values: Any,
    ) -> Ticket:
        """Move ``row`` to ``target`` only if nobody changed it since it was read; audit it."""
        now = utcnow()
        before, version = row.state, row.version  # read before the update syncs the session
        if details_column is not None:
            values["details"] = details_column
        result = s.execute(
            update(TicketRow)
            .where(
                TicketRow.id == row.id,
                TicketRow.state == before,
                TicketRow.version == version,
            )
            .values(state=target.value, updated_at=now, version=TicketRow.version + 1, **values)
        )
        if result.rowcount != 1:
            raise StaleState(f"{row.stats_id} changed while {doing}; nothing was changed")
        s.add(
            AuditEventRow(
                ticket_id=row.id,
                at=now,
                actor=actor,
                action=action,
                from_state=before,
                to_state=target.value,
                details=details,
            )
        )
        s.flush()
        s.refresh(row)
        return _ticket(row)

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
