"""A request round's facts (its run, the sweep's trigger, snapshot, check summary, placement)
as the steps, the sign-off operator, the sweeps and the DAG helpers read and write them:
through this module only.

They live in the ticket store's typed rounds (``Ticket.round_of(n)``: a :class:`Round` with its
:class:`Snapshot`, :class:`CheckSummary` and :class:`Placement`), written by the store's typed
writers, each audited with the fact's digest. The readers here hand the steps the plain shapes
they work with (a snapshot record, a check summary dict), built from those rows; never from the
ticket's free-form ``details`` (the store refuses round facts there).
"""

from __future__ import annotations

from typing import Any

from include.rounds import CheckSummary, Placement, Round, Snapshot
from include.storage import Manifest
from include.tickets import Ticket, TicketStore

__all__ = [
    "blocking_count",
    "check_summary",
    "checks",
    "has_checks",
    "placement",
    "placement_of",
    "record_checks",
    "record_placement",
    "record_run",
    "record_snapshot",
    "record_trigger",
    "round_changes",
    "run_of",
    "snapshot",
    "snapshot_folders",
    "snapshot_manifest",
    "snapshot_of",
    "triggered_run",
]


def _number(ticket: Ticket, rnd: int | None) -> int:
    return rnd or ticket.round


def _round(ticket: Ticket, rnd: int | None) -> Round | None:
    return ticket.round_of(_number(ticket, rnd))


# --- the run of a round ------------------------------------------------------------------------


def run_of(ticket: Ticket, rnd: int | None = None) -> str | None:
    """The Airflow run id of round ``rnd`` (default: the current round), once intake noted it."""
    found = _round(ticket, rnd)
    return found.run_id if found else None


def record_run(
    store: TicketStore, ticket: Ticket, run_id: str, *, action: str, **fields: Any
) -> Ticket:
    """Note the run of ``ticket``'s current round, then any other ticket ``fields`` (e.g. the
    officers assigned, audited as ``action``). The run is recorded first: a step retried after
    a crash between the two finds the run noted and the officers still to assign."""
    store.record_run(ticket.stats_id, ticket.round, run_id)
    if fields:
        return store.set_fields(ticket.stats_id, actor="intake", action=action, **fields)
    return store.get(ticket.stats_id)


def triggered_run(ticket: Ticket, rnd: int | None = None) -> str | None:
    """The run the intake sweep started for round ``rnd`` (default: the current round), if it
    did. (A trigger for a round not yet begun, a revised folder's, is kept in the audit trail
    until that round begins; ``record_trigger`` of it again adds nothing.)"""
    found = _round(ticket, rnd)
    return found.triggered_run_id if found else None


def record_trigger(
    store: TicketStore,
    ticket: Ticket,
    run_id: str,
    *,
    rnd: int | None = None,
    folder: str | None = None,
) -> None:
    """Note that the intake sweep started ``run_id`` for round ``rnd`` (default: the current
    round; ``ticket.round + 1`` for a revised folder). Recording the same run again adds
    nothing."""
    store.record_trigger(ticket.stats_id, _number(ticket, rnd), run_id, folder=folder)


# --- the snapshot of a round -------------------------------------------------------------------


def snapshot_of(ticket: Ticket, rnd: int | None = None) -> Snapshot | None:
    """Round ``rnd``'s verified snapshot, or None if not yet taken."""
    found = _round(ticket, rnd)
    return found.snapshot if found else None


def snapshot(ticket: Ticket, rnd: int | None = None) -> dict[str, Any] | None:
    """Round ``rnd``'s snapshot record (folder, place, manifest dict), or None if not yet taken."""
    found = _round(ticket, rnd)
    if found is None or found.snapshot is None:
        return None
    return found.snapshot.to_bag(found.folder)


def record_snapshot(store: TicketStore, ticket: Ticket, record: dict[str, Any]) -> Ticket:
    """Record the current round's snapshot (``record``: place and manifest, as ``snapshot``
    returns it); recorded once, never changed."""
    manifest = Manifest.from_dict(record["manifest"])
    store.record_snapshot(ticket.stats_id, ticket.round, str(record["place"]), manifest)
    return store.get(ticket.stats_id)


def snapshot_manifest(ticket: Ticket, rnd: int | None = None) -> Manifest:
    """The manifest recorded at intake: the ticket store's copy is the one that counts."""
    found = snapshot_of(ticket, rnd)
    if found is None:
        raise KeyError(f"{ticket.stats_id} round {_number(ticket, rnd)} has no snapshot")
    return found.manifest


def snapshot_folders(ticket: Ticket) -> list[str]:
    """Every folder a round of the ticket was snapshotted from, sorted."""
    return sorted({r.folder for r in ticket.rounds if r.snapshot is not None})


def round_changes(ticket: Ticket, rnd: int | None = None) -> dict[str, list[str]]:
    """Files changed, added and removed in round ``rnd`` (default: the current one) since the
    round before (snapshot hashes compared); empty for round 1 or a round not yet snapshotted."""
    number = _number(ticket, rnd)
    now = snapshot_of(ticket, number)
    before = snapshot_of(ticket, number - 1) if number > 1 else None
    if now is None or before is None:
        return {}
    new = {e.path: e.sha256 for e in now.manifest}
    old = {e.path: e.sha256 for e in before.manifest}
    return {
        "changed": sorted(p for p in new.keys() & old.keys() if new[p] != old[p]),
        "added": sorted(new.keys() - old.keys()),
        "removed": sorted(old.keys() - new.keys()),
        "unchanged": sorted(p for p in new.keys() & old.keys() if new[p] == old[p]),
    }


# --- the automated checks of a round -----------------------------------------------------------


def check_summary(ticket: Ticket, rnd: int | None = None) -> CheckSummary | None:
    """Round ``rnd``'s check summary, or None before the checks."""
    found = _round(ticket, rnd)
    return found.checks if found else None


def checks(ticket: Ticket, rnd: int | None = None) -> dict[str, Any]:
    """Round ``rnd``'s check summary as a dict (verdict, summary, blocking, files,
    direct_identifiers); {} before the checks."""
    found = check_summary(ticket, rnd)
    return found.to_bag() if found else {}


def has_checks(ticket: Ticket) -> bool:
    return check_summary(ticket) is not None


def record_checks(
    store: TicketStore,
    ticket: Ticket,
    summary: dict[str, Any],
    report_place: str | None = None,
) -> Ticket:
    """Record the current round's check summary (``include.request_checks.check_summary``'s
    dict) and where its reports are kept: by default beside the snapshot (the kind's workspace,
    which holds ``<folder>`` and ``<folder>.check.json|html``)."""
    if report_place is None:
        taken = snapshot_of(ticket)
        if taken is None:
            raise KeyError(f"{ticket.stats_id} round {ticket.round} has no snapshot to check")
        report_place = taken.place.rsplit("/", 1)[0]
    typed = CheckSummary.from_bag(summary, report_place)
    store.record_checks(ticket.stats_id, ticket.round, typed, report_place)
    return store.get(ticket.stats_id)


def blocking_count(ticket: Ticket) -> int:
    """How many blocking findings the current round's checks made (0 before the checks)."""
    found = check_summary(ticket)
    return int(found.counts.get("blocking", 0)) if found else 0


# --- the placement of a round (ingest, transfer) -----------------------------------------------


def placement_of(ticket: Ticket, rnd: int | None = None) -> Placement | None:
    """Where round ``rnd``'s verified copy was placed, or None."""
    found = _round(ticket, rnd)
    return found.placement if found else None


def placement(ticket: Ticket, rnd: int | None = None) -> dict[str, Any] | None:
    """Where round ``rnd`` was placed and verified (place, manifest, files, verified), or None.

    A placement is recorded only once its copy was verified against the snapshot manifest,
    whose paths are the files placed.
    """
    found = _round(ticket, rnd)
    if found is None or found.placement is None:
        return None
    files = list(found.snapshot.manifest.paths) if found.snapshot else []
    return {
        "place": found.placement.place,
        "manifest": found.placement.manifest_place,
        "files": files,
        "verified": True,
    }


def record_placement(store: TicketStore, ticket: Ticket, record: dict[str, Any]) -> Ticket:
    """Record where the current round's verified copy was placed (``record``: place and the
    manifest's place, as ``placement`` returns it); recorded once."""
    if not record.get("verified", True):
        raise ValueError(f"{ticket.stats_id}: only a verified copy is recorded as placed")
    store.record_placement(
        ticket.stats_id, ticket.round, str(record["place"]), record.get("manifest")
    )
    return store.get(ticket.stats_id)
