"""The release ledger: every table a project has had released, for checks against what is out.

``record_release`` profiles each released table (``include.checks.table_profile``) and writes
one ``released_tables`` row per table; ``released_tables`` reads a project's ledger back as
profiles (their ``source`` is the STATS-ID that released them) for the checks' ``released=``;
``sharing_dimensions`` answers the request page's "released tables of this project that share
dimensions with this one". Rows are append-only; a retried release writes nothing twice.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from include.checks.secondary import LedgerIndex
from include.checks.table_profile import TableProfile, canonical, profile_tables
from include.db import get_engine, session_scope
from include.ledger_tables import ReleasedTableRow
from include.storage import Place
from include.tickets import Ticket, TicketStore

TABLE_SUFFIXES = (".csv", ".tsv", ".xlsx")
# The profile's fields with a column of their own (TableProfile.to_dict() keys); ``cells``
# holds the rest (rows, suppressed cells, rates, letters).
_FIELDS = ("dimensions", "categories", "counts", "magnitudes", "totals", "cells")
_SEP = "\x1f"  # between a signature's names: the ASCII unit separator, not in a header


def signature(profile: TableProfile) -> str:
    """Tables over the same dimension columns (canonical names, any order) share one."""
    return _SEP.join(sorted(profile.signature))


def profile_release(
    source: str, released: Path | Mapping[str, bytes]
) -> list[tuple[str, TableProfile]]:
    """Each released table's profile with its file path relative to the release: ``released``
    is a folder, or the released files' bytes by path (what the release email attached)."""
    if isinstance(released, Path):
        return _profile_folder(source, released)
    with tempfile.TemporaryDirectory(prefix="srs-ledger-") as tmp:
        root = Path(tmp)
        for rel, data in released.items():
            if rel.lower().endswith(TABLE_SUFFIXES):
                target = root.joinpath(*rel.split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        return _profile_folder(source, root)


def _profile_folder(source: str, root: Path) -> list[tuple[str, TableProfile]]:
    out = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name.lower().endswith(TABLE_SUFFIXES):
            rel = path.relative_to(root).as_posix()
            out.extend((rel, t) for t in profile_tables(path, source=source, file=rel))
    return out


def record_release(
    store: TicketStore,
    ticket: Ticket,
    released: Path | Mapping[str, bytes],
    *,
    at: datetime | None = None,
) -> int:
    """Record every table of ``ticket``'s release (this round) in its project's ledger;
    returns the rows written (0 when a retried release had recorded them already)."""
    at = at or datetime.now(UTC)
    rows = [
        _row(ticket, rel, profile, at)
        for rel, profile in profile_release(ticket.stats_id, released)
    ]
    if not rows:
        return 0
    engine = get_engine(store.url)
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(ReleasedTableRow).on_conflict_do_nothing(
        index_elements=["stats_id", "round", "file", "sheet"]
    )
    with session_scope(store.url) as s:
        result = s.execute(stmt.returning(ReleasedTableRow.id), rows)
        return len(result.all())


def record_from_snapshot(p: Any, ticket: Ticket, snapshot: Place) -> int:
    """A release that finished before its ledger rows were written (the task died between the
    two, and its retry finds the ticket released): the output tables read again from the
    snapshot, each only if it still matches its manifest hash (what was sent)."""
    from include import request_rounds

    if recorded(p.store, ticket.stats_id, ticket.round):
        return 0
    roles = {f["path"]: f["role"] for f in request_rounds.checks(ticket).get("files", [])}
    files = {}
    for entry in request_rounds.snapshot_manifest(ticket):
        if roles.get(entry.path) == "output" and entry.path.lower().endswith(TABLE_SUFFIXES):
            data = p.storage.read_bytes(snapshot, entry.path)
            if hashlib.sha256(data).hexdigest() == entry.sha256:
                files[entry.path] = data
    return record_release(p.store, ticket, files)


def recorded(store: TicketStore, stats_id: str, round: int) -> bool:
    """Whether the ledger holds any table of this request's round."""
    query = select(ReleasedTableRow.id).where(
        ReleasedTableRow.stats_id == stats_id, ReleasedTableRow.round == round
    )
    with session_scope(store.url) as s:
        return s.execute(query.limit(1)).first() is not None


def _row(ticket: Ticket, rel: str, profile: TableProfile, at: datetime) -> dict[str, Any]:
    data = profile.to_dict()
    return {
        **{name: data[name] for name in _FIELDS},
        "project": ticket.project,
        "stats_id": ticket.stats_id,
        "round": ticket.round,
        "file": rel,
        "sheet": profile.sheet or "",
        "sha256": profile.sha256 or "",
        "signature": signature(profile),
        "released_at": at,
    }


def _profile(row: ReleasedTableRow) -> TableProfile:
    data: dict[str, Any] = {name: getattr(row, name) for name in _FIELDS}
    data.update(source=row.stats_id, file=row.file, sheet=row.sheet or None, sha256=row.sha256)
    return TableProfile.from_dict(data)


@dataclass(frozen=True)
class LedgerEntry:
    """One released table as the ledger keeps it: who released it, when, and its profile."""

    stats_id: str
    round: int
    file: str
    sheet: str | None
    released_at: datetime
    profile: TableProfile


def entries(
    store: TicketStore, *, project: str | None = None, stats_id: str | None = None
) -> list[LedgerEntry]:
    """Ledger rows of a project or of one request, in the order they were recorded."""
    query = select(ReleasedTableRow).order_by(ReleasedTableRow.id)
    if project is not None:
        query = query.where(ReleasedTableRow.project == project)
    if stats_id is not None:
        query = query.where(ReleasedTableRow.stats_id == stats_id)
    with session_scope(store.url) as s:
        return [
            LedgerEntry(
                r.stats_id,
                r.round,
                r.file,
                r.sheet or None,
                _aware(r.released_at),
                _profile(r),
            )
            for r in s.scalars(query)
        ]


def released_tables(store: TicketStore, project: str) -> list[TableProfile]:
    """Every table the project has had released (``source``: the STATS-ID), oldest first."""
    return [e.profile for e in entries(store, project=project)]


class StoredLedger(LedgerIndex):
    """A project's ledger as the secondary-disclosure rules look it up: every table's
    dimension signature read at once (short strings), a table's profile (its cells) loaded
    only when a new table shares a dimension with it, and then kept.

    Pass it as ``check_path(..., released=...)``: with 1,000 released tables, a request whose
    tables share no dimension with most of them loads only the few that do."""

    def __init__(self, store: TicketStore, project: str, *, exclude: str | None = None) -> None:
        query = (
            select(ReleasedTableRow.id, ReleasedTableRow.signature)
            .where(ReleasedTableRow.project == project)
            .order_by(ReleasedTableRow.id)
        )
        if exclude is not None:
            query = query.where(ReleasedTableRow.stats_id != exclude)
        self._store = store
        with session_scope(store.url) as s:
            self._ids = [(row_id, sig) for row_id, sig in s.execute(query)]
        self.by_dimension: dict[str, list[int]] = {}
        for i, (_, sig) in enumerate(self._ids):
            for name in sig.split(_SEP) if sig else ():
                self.by_dimension.setdefault(name, []).append(i)
        self._loaded: dict[int, TableProfile] = {}

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def tables(self) -> list[TableProfile]:  # type: ignore[override]
        """Every table (all loaded): for callers that want the whole ledger."""
        self._load(range(len(self._ids)))
        return [self._loaded[i] for i in range(len(self._ids))]

    def sharing(self, table: TableProfile) -> list[TableProfile]:
        hits = sorted({i for d in table.signature for i in self.by_dimension.get(d, ())})
        self._load(hits)
        return [self._loaded[i] for i in hits]

    def _load(self, indices: Iterable[int]) -> None:
        wanted = {self._ids[i][0]: i for i in indices if i not in self._loaded}
        ids = list(wanted)
        columns = [getattr(ReleasedTableRow, c) for c in (*_FIELDS, "stats_id", "file", "sheet")]
        with session_scope(self._store.url) as s:
            for start in range(0, len(ids), 500):  # bounded IN lists
                chunk = ids[start : start + 500]
                query = select(ReleasedTableRow.id, ReleasedTableRow.sha256, *columns).where(
                    ReleasedTableRow.id.in_(chunk)
                )
                for row in s.execute(query).mappings():
                    data = {name: row[name] for name in _FIELDS}
                    data.update(
                        source=row["stats_id"],
                        file=row["file"],
                        sheet=row["sheet"] or None,
                        sha256=row["sha256"],
                    )
                    self._loaded[wanted[row["id"]]] = TableProfile.from_dict(data)


@dataclass(frozen=True)
class SharedTable:
    """A released table sharing dimension columns with one of the tables asked about."""

    stats_id: str  # the request that released it
    file: str
    sheet: str | None
    released_at: datetime
    table: TableProfile  # the table asked about
    shared: tuple[str, ...]  # the released table's dimension columns the asked one has too


def sharing_dimensions(
    store: TicketStore,
    project: str,
    profiles: Sequence[TableProfile],
    *,
    exclude: str | None = None,
) -> list[SharedTable]:
    """The project's released tables sharing at least one dimension with one of ``profiles``
    (tables released by ``exclude``, usually the request itself, left out). Reads names only,
    never the released tables' cells."""
    wanted = [(p, p.signature) for p in profiles if p.dimensions]
    if not wanted:
        return []
    r = ReleasedTableRow
    query = (
        select(r.stats_id, r.file, r.sheet, r.released_at, r.dimensions)
        .where(r.project == project)
        .order_by(r.id)
    )
    if exclude is not None:
        query = query.where(r.stats_id != exclude)
    out = []
    with session_scope(store.url) as s:
        found = s.execute(query).all()
    for stats_id, file, sheet, at, dimensions in found:
        for table, dims in wanted:
            shared = tuple(d for d in dimensions if canonical(d) in dims)
            if shared:
                out.append(SharedTable(stats_id, file, sheet or None, _aware(at), table, shared))
    return out


def ledger_json(store: TicketStore, stats_id: str) -> list[dict[str, Any]]:
    """A request's ledger rows as the archive keeps them (``ledger.json``)."""
    return [
        {
            "stats_id": e.stats_id,
            "round": e.round,
            "file": e.file,
            "sheet": e.sheet,
            "released_at": e.released_at.isoformat(),
            "profile": e.profile.to_dict(),
        }
        for e in entries(store, stats_id=stats_id)
    ]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
