"""Typed rounds, a hash-chained audit trail, one open ticket per request folder.

Schema: ``rounds`` (one row per round: folder, run, snapshot, checks, placement; versioned)
and ``round_files`` (the snapshot manifests, append-only); decisions link to their round;
audit events get ``seq``/``prev_hash``/``hash`` and a RESTRICT foreign key to their ticket;
tickets get the chain's head (``audit_seq``/``audit_head``), a trigger refusing DELETE, and a
partial unique index: one open ticket per request folder (project, kind, folder: an
ingest folder and a transfer from Working/ may share a name).

Data: every ticket gets its round rows, filled from the ``details`` bag (``run_r{n}``,
``run_started[_r{n}]``, ``snapshot_r{n}``, ``checks_r{n}``, ``placed_r{n}``) and from its
audit events (each round's folder); existing audit events are chained in the order written.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from include.audit_chain import GENESIS, event_hash
from include.round_facts import facts_from_bag, folder_version
from include.store_migrations.triggers import (
    drop_append_only,
    install_append_only,
    install_no_delete,
)

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OPEN_STATES = (
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
OPEN_WHERE = "state IN ({})".format(", ".join(f"'{s}'" for s in OPEN_STATES))


def _audit_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("from_state", sa.String(length=30), nullable=True),
        sa.Column("to_state", sa.String(length=30), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
    ]


def _aware(value):
    if isinstance(value, str):  # SQLite, read through a plain table
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    _refuse_duplicate_open_folders(bind)

    op.create_table(
        "rounds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("folder", sa.String(length=255), nullable=False),
        sa.Column("folder_version", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("triggered_run_id", sa.String(length=250), nullable=True),
        sa.Column("snapshot_place", sa.String(length=1024), nullable=True),
        sa.Column("snapshot_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("check_verdict", sa.String(length=10), nullable=True),
        sa.Column("check_counts", sa.JSON(), nullable=True),
        sa.Column("check_blocking", sa.JSON(), nullable=True),
        sa.Column("check_files", sa.JSON(), nullable=True),
        sa.Column("check_direct_identifiers", sa.Integer(), nullable=True),
        sa.Column("check_report_place", sa.String(length=1024), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("placed_place", sa.String(length=1024), nullable=True),
        sa.Column("placed_manifest_place", sa.String(length=1024), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", "number"),
    )
    op.create_index(op.f("ix_rounds_ticket_id"), "rounds", ["ticket_id"], unique=False)
    op.create_table(
        "round_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("round_id", "path"),
    )
    op.create_index(op.f("ix_round_files_round_id"), "round_files", ["round_id"], unique=False)

    op.add_column(
        "tickets", sa.Column("audit_seq", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "tickets",
        sa.Column("audit_head", sa.String(length=64), server_default=GENESIS, nullable=False),
    )
    if sqlite:  # ADD COLUMN may carry a REFERENCES clause; ALTER ... ADD CONSTRAINT may not
        op.execute("ALTER TABLE decisions ADD COLUMN round_id INTEGER REFERENCES rounds (id)")
    else:
        op.add_column("decisions", sa.Column("round_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "decisions_round_id_fkey", "decisions", "rounds", ["round_id"], ["id"]
        )

    _fill_rounds(bind)
    chained = _chain_events(bind)
    if sqlite:
        _rebuild_sqlite_audit(chained)
    else:
        _alter_postgres_audit(bind, chained)
    op.create_index("uq_audit_events_ticket_seq", "audit_events", ["ticket_id", "seq"], unique=True)

    op.create_index(
        "uq_tickets_open_folder",
        "tickets",
        ["project", "kind", "folder"],
        unique=True,
        sqlite_where=sa.text(OPEN_WHERE),
        postgresql_where=sa.text(OPEN_WHERE),
    )
    install_no_delete(bind, "tickets")
    install_append_only(bind, "round_files")


def _refuse_duplicate_open_folders(bind) -> None:
    dupes = bind.execute(
        sa.text(
            f"SELECT project, kind, folder, COUNT(*) FROM tickets WHERE {OPEN_WHERE} "  # noqa: S608
            "GROUP BY project, kind, folder HAVING COUNT(*) > 1"
        )
    ).all()
    if dupes:
        listed = "; ".join(
            f"project {p} {k} folder {f!r}: {n} open tickets" for p, k, f, n in dupes
        )
        raise RuntimeError(
            "cannot make one open ticket per request folder: some folders already have more "
            f"than one ({listed}). Close the duplicates (their state) and upgrade again."
        )


_tickets = sa.table(
    "tickets",
    sa.column("id", sa.Integer),
    sa.column("stats_id", sa.String),
    sa.column("folder", sa.String),
    sa.column("round", sa.Integer),
    sa.column("details", sa.JSON),
    sa.column("received_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("audit_seq", sa.Integer),
    sa.column("audit_head", sa.String),
)
_events = sa.table(
    "audit_events",
    *(sa.column(c.name, c.type) for c in _audit_columns()),
)
_JSON_COLUMNS = ("check_counts", "check_blocking", "check_files")
_TIME_COLUMNS = ("snapshot_at", "checked_at", "placed_at", "started_at", "updated_at")
_rounds = sa.table(
    "rounds",
    *(
        sa.column(
            name,
            sa.JSON() if name in _JSON_COLUMNS
            else sa.DateTime(timezone=True) if name in _TIME_COLUMNS
            else None,
        )
        for name in (
            "id", "ticket_id", "number", "folder", "folder_version", "run_id", "triggered_run_id",
            "snapshot_place", "snapshot_at", "check_verdict", "check_counts", "check_blocking",
            "check_files", "check_direct_identifiers", "check_report_place", "checked_at",
            "placed_place", "placed_manifest_place", "placed_at", "started_at", "updated_at",
            "version",
        )
    ),
)  # fmt: skip
_round_files = sa.table(
    "round_files", sa.column("round_id"), sa.column("path"), sa.column("sha256"), sa.column("size")
)


def _fill_rounds(bind) -> None:
    """One round row per round each ticket has had, with the facts the bag kept for it."""
    events: dict[int, list] = defaultdict(list)
    for e in bind.execute(
        sa.text("SELECT ticket_id, action, at, details FROM audit_events ORDER BY id")
    ).mappings():
        events[e["ticket_id"]].append(e)
    decided = dict(
        bind.execute(
            sa.text("SELECT ticket_id, MAX(round) FROM decisions GROUP BY ticket_id")
        ).all()
    )
    for t in bind.execute(sa.select(_tickets)).mappings().all():
        details = _json(t["details"])
        folders, started, fact_at = {}, {}, {}
        for e in events.get(t["id"], []):
            d = _json(e["details"])
            if e["action"] == "created":
                folders.setdefault(1, d.get("folder"))
                started.setdefault(1, _aware(e["at"]))
            elif e["action"] == "resubmitted" and isinstance(d.get("round"), int):
                folders[d["round"]], started[d["round"]] = d.get("folder"), _aware(e["at"])
            for where in facts_from_bag(d):
                fact_at[where] = _aware(e["at"])
        facts = facts_from_bag(details)
        last = max([t["round"], decided.get(t["id"]) or 1, *(n for n, _ in facts)])
        for n in range(1, last + 1):
            snapshot = (
                details.get(f"snapshot_r{n}")
                if isinstance(details.get(f"snapshot_r{n}"), dict)
                else {}
            )
            folder = (
                folders.get(n) or snapshot.get("folder") or (t["folder"] if n == t["round"] else "")
            )
            row = {
                "ticket_id": t["id"],
                "number": n,
                "folder": folder or t["folder"],
                "folder_version": folder_version(folder or t["folder"]),
                "started_at": started.get(n) or _aware(t["received_at"]),
                "updated_at": _aware(t["updated_at"]),
                "version": 1,
            }
            if (f := facts.get((n, "run"))) is not None:
                row["run_id"] = f["run_id"]
            if (f := facts.get((n, "trigger"))) is not None:
                row["triggered_run_id"] = f["run_id"]
            if (f := facts.get((n, "snapshot"))) is not None:
                row["snapshot_place"] = f["place"]
                row["snapshot_at"] = fact_at.get((n, "snapshot"))
            if (f := facts.get((n, "checks"))) is not None:
                row.update(
                    check_verdict=f["verdict"],
                    check_counts=f["counts"],
                    check_blocking=f["blocking"],
                    check_files=f["files"],
                    check_direct_identifiers=f["direct_identifiers"],
                    checked_at=fact_at.get((n, "checks")),
                )
                if facts.get((n, "snapshot")):  # the reports are kept beside the snapshot
                    row["check_report_place"] = facts[(n, "snapshot")]["place"].rsplit("/", 1)[0]
            if (f := facts.get((n, "placement"))) is not None:
                row.update(
                    placed_place=f["place"],
                    placed_manifest_place=f["manifest_place"],
                    placed_at=fact_at.get((n, "placement")),
                )
            round_id = bind.execute(
                sa.insert(_rounds).values(**row).returning(_rounds.c.id)
            ).scalar_one()
            if (f := facts.get((n, "snapshot"))) is not None and f["manifest"]:
                bind.execute(
                    sa.insert(_round_files),
                    [
                        {"round_id": round_id, "path": p, "sha256": h, "size": s}
                        for p, h, s in f["manifest"]
                    ],
                )
    drop_append_only(bind, "decisions")
    bind.execute(
        sa.text(
            "UPDATE decisions SET round_id = (SELECT r.id FROM rounds r "
            "WHERE r.ticket_id = decisions.ticket_id AND r.number = decisions.round)"
        )
    )
    install_append_only(bind, "decisions")


def _json(value):
    import json

    return json.loads(value) if isinstance(value, str) else (value or {})


def _chain_events(bind) -> list[dict]:
    """Every existing event with its place in its ticket's chain; tickets get their heads."""
    stats = dict(bind.execute(sa.select(_tickets.c.id, _tickets.c.stats_id)).all())
    heads: dict[int, tuple[int, str]] = {}
    out = []
    old = sa.table("audit_events", *(sa.column(c.name, c.type) for c in _audit_columns()[:8]))
    for e in bind.execute(sa.select(old).order_by(old.c.id)).mappings():
        seq, prev = heads.get(e["ticket_id"], (0, GENESIS))
        seq += 1
        row = dict(e)
        row["details"] = _json(row["details"])
        row["at"] = _aware(row["at"])
        row["seq"], row["prev_hash"] = seq, prev
        row["hash"] = event_hash(
            stats_id=stats.get(e["ticket_id"]) or "",
            seq=seq,
            action=row["action"],
            actor=row["actor"],
            at=row["at"],
            from_state=row["from_state"],
            to_state=row["to_state"],
            details=row["details"],
            prev_hash=prev,
        )
        heads[e["ticket_id"]] = (seq, row["hash"])
        out.append(row)
    for ticket_id, (seq, head) in heads.items():
        bind.execute(
            sa.update(_tickets)
            .where(_tickets.c.id == ticket_id)
            .values(audit_seq=seq, audit_head=head)
        )
    return out


def _rebuild_sqlite_audit(rows: list[dict]) -> None:
    """SQLite cannot alter a foreign key: a new table, the rows copied, then renamed."""
    op.create_table(
        "audit_events_new",
        *_audit_columns(),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    new = sa.table("audit_events_new", *(sa.column(c.name, c.type) for c in _audit_columns()))
    if rows:
        op.get_bind().execute(sa.insert(new), rows)
    op.drop_table("audit_events")  # its triggers go with it
    op.rename_table("audit_events_new", "audit_events")
    op.create_index(op.f("ix_audit_events_ticket_id"), "audit_events", ["ticket_id"], unique=False)
    install_append_only(op.get_bind(), "audit_events")


def _alter_postgres_audit(bind, rows: list[dict]) -> None:
    for name, type_ in (
        ("seq", sa.Integer()),
        ("prev_hash", sa.String(64)),
        ("hash", sa.String(64)),
    ):
        op.add_column("audit_events", sa.Column(name, type_, nullable=True))
    drop_append_only(bind, "audit_events")
    for r in rows:
        bind.execute(
            sa.update(_events)
            .where(_events.c.id == r["id"])
            .values(seq=r["seq"], prev_hash=r["prev_hash"], hash=r["hash"])
        )
    for name in ("seq", "prev_hash", "hash"):
        op.alter_column("audit_events", name, nullable=False)
    op.drop_constraint("audit_events_ticket_id_fkey", "audit_events", type_="foreignkey")
    op.create_foreign_key(
        "audit_events_ticket_id_fkey",
        "audit_events",
        "tickets",
        ["ticket_id"],
        ["id"],
        ondelete="RESTRICT",
    )
    install_append_only(bind, "audit_events")


def downgrade() -> None:
    raise NotImplementedError("the ticket store is a permanent record; it is never downgraded")
