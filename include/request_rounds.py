"""A request round's facts (its run, snapshot, check summary, placement) as the steps, the
sign-off operator and the DAG helpers read and write them: through this module only.

The ticket store keeps them today in the ticket's JSON ``details`` under ``run_r{n}``,
``snapshot_r{n}``, ``checks_r{n}`` and ``placed_r{n}`` (the folders a ticket has used are kept
by the store itself); moving the steps to the store's typed rounds is a change to this module
alone.
"""

from __future__ import annotations

from typing import Any

from include.storage import Manifest
from include.tickets import Ticket, TicketStore


def _round(ticket: Ticket, rnd: int | None) -> int:
    return rnd or ticket.round


# --- the run of a round ------------------------------------------------------------------------


def run_of(ticket: Ticket, rnd: int | None = None) -> str | None:
    """The Airflow run id of round ``rnd`` (default: the current round), once intake noted it."""
    return ticket.details.get(f"run_r{_round(ticket, rnd)}")


def record_run(
    store: TicketStore, ticket: Ticket, run_id: str, *, action: str, **fields: Any
) -> Ticket:
    """Note the run of ``ticket``'s current round (with any other ticket ``fields``)."""
    return store.set_fields(
        ticket.stats_id,
        actor="intake",
        action=action,
        details={f"run_r{ticket.round}": run_id},
        **fields,
    )


# --- the snapshot of a round -------------------------------------------------------------------


def snapshot(ticket: Ticket, rnd: int | None = None) -> dict[str, Any] | None:
    """Round ``rnd``'s snapshot record (folder, place, manifest), or None if not yet taken."""
    return ticket.details.get(f"snapshot_r{_round(ticket, rnd)}")


def record_snapshot(store: TicketStore, ticket: Ticket, record: dict[str, Any]) -> Ticket:
    return store.set_fields(
        ticket.stats_id,
        actor="pipeline",
        action="snapshot_taken",
        details={f"snapshot_r{ticket.round}": record},
    )


def snapshot_manifest(ticket: Ticket, rnd: int | None = None) -> Manifest:
    """The manifest recorded at intake: the ticket store's copy is the one that counts."""
    record = snapshot(ticket, rnd)
    if record is None:
        raise KeyError(f"{ticket.stats_id} round {_round(ticket, rnd)} has no snapshot")
    return Manifest.from_dict(record["manifest"])


def snapshot_folders(ticket: Ticket) -> list[str]:
    """Every folder a round of the ticket was snapshotted from, sorted."""
    records = (snapshot(ticket, n) for n in range(1, ticket.round + 1))
    return sorted({r["folder"] for r in records if r})


def round_changes(ticket: Ticket, rnd: int | None = None) -> dict[str, list[str]]:
    """Files changed, added and removed in round ``rnd`` (default: the current one) since the
    round before (snapshot hashes compared); empty for round 1 or a round not yet snapshotted."""
    rnd = _round(ticket, rnd)
    now, before = snapshot(ticket, rnd), snapshot(ticket, rnd - 1) if rnd > 1 else None
    if not now or not before:
        return {}
    new = {e.path: e.sha256 for e in Manifest.from_dict(now["manifest"])}
    old = {e.path: e.sha256 for e in Manifest.from_dict(before["manifest"])}
    return {
        "changed": sorted(p for p in new.keys() & old.keys() if new[p] != old[p]),
        "added": sorted(new.keys() - old.keys()),
        "removed": sorted(old.keys() - new.keys()),
        "unchanged": sorted(p for p in new.keys() & old.keys() if new[p] == old[p]),
    }


# --- the automated checks of a round -----------------------------------------------------------


def checks(ticket: Ticket, rnd: int | None = None) -> dict[str, Any]:
    """Round ``rnd``'s check summary (verdict, summary, blocking, files); {} before the checks."""
    return ticket.details.get(f"checks_r{_round(ticket, rnd)}") or {}


def has_checks(ticket: Ticket) -> bool:
    return f"checks_r{ticket.round}" in ticket.details


def record_checks(store: TicketStore, ticket: Ticket, summary: dict[str, Any]) -> Ticket:
    return store.set_fields(
        ticket.stats_id,
        actor="pipeline",
        action="checks_completed",
        details={f"checks_r{ticket.round}": summary},
    )


def blocking_count(ticket: Ticket) -> int:
    """How many blocking findings the current round's checks made (0 before the checks)."""
    return checks(ticket).get("summary", {}).get("blocking", 0)


# --- the placement of a round (ingest, transfer) -----------------------------------------------


def placement(ticket: Ticket, rnd: int | None = None) -> dict[str, Any] | None:
    """Where round ``rnd`` was placed and verified (place, manifest, files), or None."""
    return ticket.details.get(f"placed_r{_round(ticket, rnd)}")


def record_placement(store: TicketStore, ticket: Ticket, record: dict[str, Any]) -> Ticket:
    return store.set_fields(
        ticket.stats_id,
        actor="pipeline",
        action="placed_and_verified",
        details={f"placed_r{ticket.round}": record},
    )
