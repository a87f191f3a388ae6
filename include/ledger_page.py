"""The request page's ledger section: the project's released tables sharing dimensions with
this round's tables, and the check report's cross-table findings with both tables side by side.

Kept apart from ``include.release_ledger`` (which the release imports): it reads the kinds'
workspaces (``include.request_kinds``), and the kinds import the release.
"""

from __future__ import annotations

from typing import Any

from include import release_ledger as ledger
from include import request_rounds
from include.checks.table_profile import MAX_PROFILE_BYTES, TableProfile
from include.request_kinds import kind_for, reports_place
from include.tickets import Ticket


def request_tables(p: Any, ticket: Ticket, rnd: int) -> list[TableProfile]:
    """Round ``rnd``'s output tables: as the ledger recorded them once released, else profiled
    from the round's snapshot (output files within the profiler's size limit)."""
    recorded_here = [
        e.profile for e in ledger.entries(p.store, stats_id=ticket.stats_id) if e.round == rnd
    ]
    if recorded_here:
        return recorded_here
    snap, rnd_row = request_rounds.snapshot_of(ticket, rnd), ticket.round_of(rnd)
    if snap is None or rnd_row is None:
        return []
    roles = {f["path"]: f["role"] for f in request_rounds.checks(ticket, rnd).get("files", [])}
    place = reports_place(ticket, rnd).child(rnd_row.folder)
    files = {
        e.path: p.storage.read_bytes(place, e.path)
        for e in snap.manifest
        if roles.get(e.path) == "output"
        and e.path.lower().endswith(ledger.TABLE_SUFFIXES)
        and e.size <= MAX_PROFILE_BYTES
    }
    return [profile for _, profile in ledger.profile_release(ticket.stats_id, files)]


def page_view(p: Any, ticket: Ticket, rnd: int, report: Any) -> dict[str, Any] | None:
    """What the request page's ledger section shows: the project's released tables sharing
    dimensions with this round's tables, and the report's cross-table findings, each with
    both tables side by side (None for a kind that releases nothing). Never fails the page:
    a problem is shown instead."""
    if kind_for(ticket.kind).hand_over_step != "release":
        return None
    view: dict[str, Any] = {"shared": [], "cross": [], "problem": None}
    findings = report.all_findings() if report is not None else []
    for f in findings:
        if getattr(f, "related", None) is None:
            continue
        view["cross"].append(
            {
                "rule": f.rule,
                "severity": str(f.severity),
                "message": f.message,
                "here": str(f.location),
                "there": f.related,
            }
        )
    try:
        tables = request_tables(p, ticket, rnd)
        shared = ledger.sharing_dimensions(p.store, ticket.project, tables, exclude=ticket.stats_id)
    except Exception as exc:  # noqa: BLE001 - the page shows the rest; the ledger says why not
        view["problem"] = f"the released tables could not be compared: {exc}"
        return view
    for s in shared:
        view["shared"].append(
            {
                "stats_id": s.stats_id,
                "file": s.file,
                "sheet": s.sheet,
                "released_at": s.released_at,
                "shared": list(s.shared),
                "table": s.table.file + (f" [{s.table.sheet}]" if s.table.sheet else ""),
            }
        )
    return view
