"""Placement of an ingest or transfer: the signed-off snapshot copied into the receiving
project's ``Input/<STATS-ID>/`` with a manifest (``placing`` → ``placed``), verified, and the
requester told; an ingest's landing folder is cleared only after that (a transfer's source is
never modified). Nothing is placed while the ticket's audit chain does not verify."""

from __future__ import annotations

from typing import Any

from include import request_rounds
from include.permissions import NotPermitted
from include.release import hold_if_chain_broken
from include.states import TicketState, may_place
from include.storage import INGEST, Place, StorageError
from include.tickets import Ticket

S = TicketState
INPUT = "Input"


def receiving_project(ticket: Ticket) -> str:
    """The project the files go into: the transfer's destination, else the ticket's project."""
    return ticket.destination_project or ticket.project


def placement(ticket: Ticket) -> Place:
    """``Input/<STATS-ID>`` of the receiving project."""
    return Place(receiving_project(ticket), INPUT, ticket.stats_id)


def place(p: Any, ticket: Ticket, snapshot: Place, *, clear_landing: bool) -> dict[str, Any]:
    """Copy ``ticket``'s ``snapshot`` (sign-offs already verified) into its :func:`placement`.

    First the ticket's audit chain is verified: if it is broken the request is held
    (:class:`include.release.ChainBroken`), nothing copied, the ticket left in its state.
    Each part is done once: the copy (verified against the intake manifest), the move to
    ``placed``, the email, and with ``clear_landing`` (an ingest) the clearing of the landing
    folders, which happens only after the copy in ``Input/`` is verified.
    """
    stats_id = ticket.stats_id
    if ticket.state not in (S.PLACED, S.ARCHIVED):
        hold_if_chain_broken(p, ticket, "place")
        if request_rounds.checks(ticket).get("verdict") != "pass":
            raise NotPermitted(f"{stats_id}: the automated checks did not pass; nothing is placed")
        ticket = p.store.transition(
            stats_id, S.PLACING, actor="pipeline", expected=(S.AWAITING_OFFICERS, S.PLACING)
        )
        if not may_place(ticket.state):
            raise NotPermitted(f"{stats_id} is in state '{ticket.state}'; nothing is placed")
        record = _copy_to_input(p, ticket, snapshot)
        ticket = p.store.transition(
            stats_id,
            S.PLACED,
            actor="pipeline",
            expected=S.PLACING,
            details={"input": record["place"], "files": len(record["files"])},
        )
    record = request_rounds.placement(ticket)
    p.email_requester(
        ticket,
        "placed",
        "placed",
        destination=receiving_project(ticket),
        files=list(request_rounds.snapshot_manifest(ticket)),
        officers=len(ticket.assigned_officers),
    )
    if clear_landing:
        _clear_landing(p, ticket)
    return {"placed": True, "input": record["place"], "files": record["files"]}


def _copy_to_input(p: Any, ticket: Ticket, source: Place) -> dict[str, Any]:
    done = request_rounds.placement(ticket)
    if done is not None:
        return done
    manifest = request_rounds.snapshot_manifest(ticket)
    changed = p.storage.verify(source, manifest)
    if changed:
        raise StorageError(
            f"the quarantined snapshot of {ticket.stats_id} no longer matches its manifest "
            f"({'; '.join(f'{m.path} {m.problem}' for m in changed)}); nothing was placed"
        )
    target = placement(ticket)
    copied = p.storage.copy_folder(source, target.child(ticket.folder))
    problems = p.storage.verify(target.child(ticket.folder), manifest)
    if copied != manifest or problems:
        raise StorageError(
            f"the copy of {ticket.stats_id} in {target.key} does not match the manifest; "
            "the landing folder was left as it is"
        )
    p.storage.write_bytes(target, "manifest.json", manifest.to_json().encode())
    record = {
        "place": target.child(ticket.folder).key,
        "manifest": f"{target.key}/manifest.json",
        "files": list(manifest.paths),
        "verified": True,
    }
    request_rounds.record_placement(p.store, ticket, record)
    return record


def _clear_landing(p: Any, ticket: Ticket) -> None:
    """Remove every round's folder from the ingest area, once the copy in Input is verified."""
    if "landing_cleared" in ticket.details:
        return
    if not (request_rounds.placement(ticket) or {}).get("verified"):
        raise StorageError(f"{ticket.stats_id}: the copy in Input is not verified; nothing cleared")
    folders = request_rounds.snapshot_folders(ticket)
    for folder in folders:
        p.storage.delete_folder(Place(ticket.project, INGEST, folder))
    p.store.set_fields(
        ticket.stats_id,
        actor="pipeline",
        action="landing_cleared",
        details={"landing_cleared": folders},
    )
