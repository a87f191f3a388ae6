"""The archive's copy of a ticket's audit chain, ``chain.json``: the chain's head (``audit_seq``,
``audit_head``), every event with its link and hash, and each round's snapshot place.

Written when the ticket is archived, it lets the archive alone re-verify the chain together
with the archived decisions and manifests (:func:`verify_archive`), and it is the head kept
elsewhere that a ticket store whose whole chain was rewritten is checked against
(:func:`store_differs`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from include.audit_chain import GENESIS
from include.audit_verify import ChainReport, archived_event, verify_archived
from include.notifications import Email

if TYPE_CHECKING:
    from include.storage import Place
    from include.tickets import TicketStore

CHAIN_FILE = "chain.json"
_READS = 3  # the events and the verified head read again if an event came in between


def write_chain(p: Any, stats_id: str) -> dict[str, Any]:
    """Write ``chain.json`` into the ticket's archive folder and return it.

    A chain that does not verify is still archived as it is (the material has left; the
    archive is the evidence): ``verified`` says what broke, and operations are emailed.
    """
    for _ in range(_READS):
        events = p.store.audit(stats_id)
        report = p.store.verify_chain(stats_id)
        last = events[-1].hash if events else GENESIS
        if not report.ok or (report.events == len(events) and report.head == last):
            break
    ticket = p.store.get(stats_id)
    archived, prev = [], GENESIS
    for e in events:
        archived.append({**archived_event(e), "prev_hash": prev})
        prev = e.hash
    record = {
        "stats_id": stats_id,
        "audit_seq": report.events if report.ok else len(events),
        "audit_head": report.head if report.ok else prev,
        "verified": {
            "ok": report.ok,
            "problem": report.problem,
            "bad_seq": report.bad_seq,
            "detail": report.detail,
        },
        "rounds": [
            {
                "number": r.number,
                "folder": r.folder,
                "snapshot_place": r.snapshot.place if r.snapshot else None,
            }
            for r in ticket.rounds
        ],
        "events": archived,
    }
    p.archive_json(ticket, CHAIN_FILE, record)
    if not report.ok:
        p.email_operations(
            ticket,
            "chain-broken-at-archive",
            Email(
                subject=f"[{stats_id}] INCIDENT: audit chain broken when the request was archived",
                body=(
                    f"Request {stats_id} (project {ticket.project}, folder {ticket.folder}) was "
                    f"archived, and its audit trail does not verify:\n\n  {report.describe()}\n\n"
                    f"The archive's {CHAIN_FILE} keeps the chain as it was found. Investigate "
                    f"with `srs audit verify {stats_id}`.\n"
                ),
            ),
        )
    return record


def read_archive(
    storage: Any, place: Place
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """``chain.json``, ``decisions.json`` and each round's ``manifest.json`` of an archive."""
    chain = json.loads(storage.read_bytes(place, CHAIN_FILE))
    decisions = (
        json.loads(storage.read_bytes(place, "decisions.json"))
        if storage.exists(place, "decisions.json")
        else []
    )
    manifests = {}
    for r in chain.get("rounds") or []:
        name = f"round{int(r['number'])}/manifest.json"
        if storage.exists(place, name):
            manifests[int(r["number"])] = json.loads(storage.read_bytes(place, name))
    return chain, decisions, manifests


def verify_archive(storage: Any, place: Place) -> ChainReport:
    """Re-verify the archived chain at ``place`` (a ticket's archive folder) from it alone."""
    return verify_archived(*read_archive(storage, place))


def store_differs(store: TicketStore, chain: dict[str, Any]) -> str | None:
    """Why the ticket store's chain no longer begins with the archived one, or None.

    Catches what the store's own verification cannot: a whole chain rewritten with the ticket
    row's head to match.
    """
    stats_id = chain["stats_id"]
    events = {e.seq: e for e in store.audit(stats_id)}
    for kept in chain.get("events") or []:
        e = events.get(kept["seq"])
        if e is None:
            return f"event #{kept['seq']} of the archived chain is gone from the store"
        if e.hash != kept["hash"]:
            return f"event #{kept['seq']} in the store is not the archived one (hash differs)"
    head = events.get(int(chain.get("audit_seq") or 0))
    if chain.get("audit_seq") and (head is None or head.hash != chain.get("audit_head")):
        return f"the store's event #{chain['audit_seq']} is not the archived head"
    return None
