"""The ticket store's tables. Alembic (``include/store_migrations``) owns their schema; these
models must match it (``tests/unit/store/test_migrations.py`` compares them).

Tickets and rounds are updated by compare-and-set: ``version_id_col`` makes every UPDATE carry
``WHERE version = :read`` and raise ``StaleDataError`` when someone else wrote first. Audit
events, decisions and manifest entries are append-only (here and in database triggers).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from include.audit_chain import GENESIS
from include.db import Base

# The states in which a ticket holds its request folder (include.states.OPEN_STATES when the
# index was made; a change to the open states needs a migration that remakes the index).
OPEN_FOLDER_STATES = (
    "awaiting_data_owner",
    "awaiting_officers",
    "checking",
    "placing",
    "received",
    "release_held",
    "releasing",
    "revisions_requested",
    "signoff_held",
)
OPEN_FOLDER_WHERE = "state IN ({})".format(", ".join(f"'{s}'" for s in OPEN_FOLDER_STATES))
OPEN_FOLDER_INDEX = "uq_tickets_open_folder"


class TicketRow(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        # One open ticket per request folder, by construction: a second INSERT fails. The kind
        # is part of the folder's identity (ingest/<project>/X is not <project>/Working/X).
        Index(
            OPEN_FOLDER_INDEX,
            "project",
            "kind",
            "folder",
            unique=True,
            sqlite_where=text(OPEN_FOLDER_WHERE),
            postgresql_where=text(OPEN_FOLDER_WHERE),
        ),
        # The queue's two orders (open sections by queue order, finished newest first).
        Index("ix_tickets_queue_order", "queued_at", "id"),
        Index("ix_tickets_updated_order", "updated_at", "id"),
        {"sqlite_autoincrement": True},  # never reuse a deleted row's id
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stats_id: Mapped[str | None] = mapped_column(String(20), unique=True, index=True)
    kind: Mapped[str] = mapped_column(String(10))
    project: Mapped[str] = mapped_column(String(10), index=True)
    destination_project: Mapped[str | None] = mapped_column(String(10), nullable=True, index=True)
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
    # The audit chain's head as of the last event written: verification compares it with the
    # chain, so events removed from its end are noticed too.
    audit_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    audit_head: Mapped[str] = mapped_column(String(64), default=GENESIS, server_default=GENESIS)

    rounds: Mapped[list[RoundRow]] = relationship(
        back_populates="ticket", order_by="RoundRow.number", lazy="selectin"
    )

    __mapper_args__ = {"version_id_col": version}


class RoundRow(Base):
    """One round of a request: its folder, run, snapshot, checks and placement."""

    __tablename__ = "rounds"
    __table_args__ = (UniqueConstraint("ticket_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    folder: Mapped[str] = mapped_column(String(255))
    folder_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(250), nullable=True)
    triggered_run_id: Mapped[str | None] = mapped_column(String(250), nullable=True)
    snapshot_place: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    snapshot_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    check_verdict: Mapped[str | None] = mapped_column(String(10), nullable=True)
    check_counts: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    check_blocking: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    check_files: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    check_direct_identifiers: Mapped[int | None] = mapped_column(Integer, nullable=True)
    check_report_place: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    placed_place: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    placed_manifest_place: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    placed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)

    ticket: Mapped[TicketRow] = relationship(back_populates="rounds")
    files: Mapped[list[RoundFileRow]] = relationship(order_by="RoundFileRow.path", lazy="selectin")

    __mapper_args__ = {"version_id_col": version}


class RoundFileRow(Base):
    """One entry of a round's snapshot manifest (append-only: a snapshot never changes)."""

    __tablename__ = "round_files"
    __table_args__ = (UniqueConstraint("round_id", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    path: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)


class AuditEventRow(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("uq_audit_events_ticket_seq", "ticket_id", "seq", unique=True),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="RESTRICT"), index=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(30), nullable=True)
    to_state: Mapped[str | None] = mapped_column(String(30), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seq: Mapped[int] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class DecisionRow(Base):
    __tablename__ = "decisions"
    __table_args__ = (UniqueConstraint("ticket_id", "round", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id"), nullable=True)
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


APPEND_ONLY_TABLES = ("audit_events", "decisions", "decision_files", "round_files")


class AuditIsAppendOnly(RuntimeError):
    """Audit events and decisions are a permanent record: never updated or deleted."""


def _refuse_change(_mapper, _conn, target) -> None:
    raise AuditIsAppendOnly(f"{type(target).__tablename__} rows are append-only")


for _table in (AuditEventRow, DecisionRow, DecisionFileRow, RoundFileRow):
    event.listen(_table, "before_update", _refuse_change)
    event.listen(_table, "before_delete", _refuse_change)
