"""Verifying a ticket's audit chain against itself and against the rows it vouches for.

Walks the events in sequence: each must link to the previous hash and hash to its own content
(else *altered*, *inserted* or *removed*); the chain's end must be the head the ticket row
recorded (events cut from the end are *removed*). Then the rows the chain covers: each decision
must match the event that recorded it (*decision altered*), each round's manifest and other facts
the latest event that recorded them (*manifest altered*, *round altered*), and the ticket's
state, round and folder the latest events that set them (*state altered*).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from include.audit_chain import GENESIS, decision_digest, digest, event_hash, utc_text
from include.round_facts import (
    checks_fact,
    facts_from_bag,
    manifest_entries,
    placement_fact,
    run_fact,
    snapshot_fact,
)
from include.ticket_tables import AuditEventRow, DecisionRow, RoundRow, TicketRow


@dataclass(frozen=True)
class ChainReport:
    stats_id: str
    ok: bool
    head: str  # the hash of the last event that verified
    events: int
    bad_seq: int | None = None
    bad_event_id: int | None = None
    problem: str | None = None  # altered | inserted | removed | decision altered | ...
    detail: str = ""

    def describe(self) -> str:
        if self.ok:
            return f"{self.stats_id} ok: {self.events} events, head {self.head}"
        where = f"event #{self.bad_seq}" if self.bad_seq is not None else ""
        if self.bad_event_id:
            where += f" (row id {self.bad_event_id})"
        return f"{self.stats_id} BROKEN: {self.problem} {where}: {self.detail}".replace("  ", " ")


def row_facts(rnd: RoundRow) -> dict[str, dict[str, Any]]:
    """The canonical facts a round row holds (what its audit events' digests cover)."""
    facts: dict[str, dict[str, Any]] = {}
    if rnd.run_id:
        facts["run"] = run_fact(rnd.run_id)
    if rnd.triggered_run_id:
        facts["trigger"] = run_fact(rnd.triggered_run_id)
    if rnd.snapshot_place is not None:
        facts["snapshot"] = snapshot_fact(
            rnd.snapshot_place, ([f.path, f.sha256, f.size] for f in rnd.files)
        )
    if rnd.check_verdict is not None:
        facts["checks"] = checks_fact(
            rnd.check_verdict,
            rnd.check_counts or {},
            rnd.check_blocking or (),
            rnd.check_files or (),
            rnd.check_direct_identifiers or 0,
        )
    if rnd.placed_place is not None:
        facts["placement"] = placement_fact(rnd.placed_place, rnd.placed_manifest_place)
    return facts


def event_facts(e: AuditEventRow) -> dict[tuple[int, str], str]:
    """(round, fact) -> digest, for every round fact the event recorded."""
    return details_facts(e.details or {})


def details_facts(details: Mapping[str, Any]) -> dict[tuple[int, str], str]:
    """(round, fact) -> digest, for every round fact an event's ``details`` recorded."""
    found = {where: digest(fact) for where, fact in facts_from_bag(details).items()}
    if isinstance(details.get("fact"), str) and isinstance(details.get("digest"), str):
        found[(int(details.get("round") or 0), details["fact"])] = details["digest"]
    return found


def _decision_event_digest(e: AuditEventRow) -> str | None:
    return _recorded_decision_digest(e.actor, e.at, e.details or {})


def _recorded_decision_digest(actor: str, at: datetime, d: Mapping[str, Any]) -> str | None:
    """The digest of the decision a ``decision`` event recorded (None if it is not one)."""
    try:
        return decision_digest(
            round=int(d["round"]),
            step=d["step"],
            role=d["role"],
            actor=actor,
            outcome=d["outcome"],
            guidance=d.get("guidance", ""),
            exemption=d.get("exemption", ""),
            at=at,
            files=d.get("files", []),
        )
    except (KeyError, TypeError, ValueError):
        return None


def verify_ticket(
    ticket: TicketRow,
    events: Sequence[AuditEventRow],
    decisions: Sequence[tuple[DecisionRow, Sequence[tuple[str, str]]]],
) -> ChainReport:
    stats_id = ticket.stats_id or f"ticket #{ticket.id}"
    head, expected, count = GENESIS, 1, 0

    def broken(problem: str, detail: str, e: AuditEventRow | None = None) -> ChainReport:
        return ChainReport(
            stats_id,
            False,
            head,
            count,
            e.seq if e is not None else None,
            e.id if e is not None else None,
            problem,
            detail,
        )

    for e in sorted(events, key=lambda x: (x.seq if x.seq is not None else -1, x.id)):
        if e.seq is None or e.seq < expected:
            return broken("inserted", "an event out of sequence", e)
        if e.seq > expected:
            return broken("removed", f"events #{expected}..#{e.seq - 1} are missing", e)
        if e.prev_hash != head:
            return broken("inserted", "it does not link to the event before it", e)
        recomputed = event_hash(
            stats_id=stats_id,
            seq=e.seq,
            action=e.action,
            actor=e.actor,
            at=e.at,
            from_state=e.from_state,
            to_state=e.to_state,
            details=e.details or {},
            prev_hash=e.prev_hash,
        )
        if recomputed != e.hash:
            return broken("altered", "its content does not match its hash", e)
        head, expected, count = e.hash, expected + 1, count + 1
    if ticket.audit_seq > count:
        return broken(
            "removed", f"the ticket's head is event #{ticket.audit_seq}; the chain ends at #{count}"
        )
    if ticket.audit_seq < count or ticket.audit_head != head:
        # Named: the first event past the head the ticket row recorded (or, the count agreeing,
        # the last event, which is not the recorded head).
        seq = ticket.audit_seq + 1 if ticket.audit_seq < count else count
        extra = next((e for e in events if e.seq == seq), None)
        return broken(
            "inserted", f"events after the ticket's recorded head #{ticket.audit_seq}", extra
        )

    ordered = sorted(events, key=lambda x: x.seq)
    # The ticket's state, round and folder are what the latest events set.
    state_events = [e for e in ordered if e.to_state is not None]
    if state_events and state_events[-1].to_state != ticket.state:
        last = state_events[-1]
        return broken(
            "state altered", f"state is '{ticket.state}', the chain says '{last.to_state}'", last
        )
    folders = {1: (ordered[0].details or {}).get("folder")} if ordered else {}
    for e in ordered:
        if e.action == "resubmitted" and isinstance((e.details or {}).get("round"), int):
            folders[e.details["round"]] = e.details.get("folder")
    if ordered:
        latest = max(folders)
        if ticket.round != latest or (folders[latest] and ticket.folder != folders[latest]):
            return broken(
                "state altered",
                f"round {ticket.round} folder {ticket.folder!r}; the chain says round {latest} "
                f"folder {folders[latest]!r}",
            )
    # Each round's facts are what the latest events recorded.
    recorded: dict[tuple[int, str], tuple[str, AuditEventRow]] = {}
    for e in ordered:
        for where, d in event_facts(e).items():
            recorded[where] = (d, e)
    for rnd in ticket.rounds:
        if folders.get(rnd.number) and rnd.folder != folders[rnd.number]:
            return broken("round altered", f"round {rnd.number}'s folder is not the one recorded")
        have = {fact: digest(content) for fact, content in row_facts(rnd).items()}
        wanted = {f: d for (n, f), (d, _) in recorded.items() if n == rnd.number}
        for fact in sorted(set(have) | set(wanted)):
            if have.get(fact) != wanted.get(fact):
                e = recorded.get((rnd.number, fact), (None, None))[1]
                problem = "manifest altered" if fact == "snapshot" else "round altered"
                return broken(problem, f"round {rnd.number}'s {fact} is not what was recorded", e)
    # Each decision is what its event recorded.
    decision_events = {}
    for e in ordered:
        if e.action == "decision":
            d = e.details or {}
            decision_events[(d.get("round"), d.get("step"))] = e
    for row, files in decisions:
        e = decision_events.get((row.round, row.step))
        mine = decision_digest(
            round=row.round,
            step=row.step,
            role=row.role,
            actor=row.actor,
            outcome=row.outcome,
            guidance=row.guidance,
            exemption=row.exemption,
            at=row.at,
            files=files,
        )
        if e is None or _decision_event_digest(e) != mine:
            why = (
                "no event recorded it"
                if e is None
                else "it differs from the event that recorded it"
            )
            return broken("decision altered", f"decision {row.step} of round {row.round}: {why}", e)
    return ChainReport(stats_id, True, head, count)


def orphaned(ticket_id: int, events: int) -> ChainReport:
    return ChainReport(
        f"ticket #{ticket_id}",
        False,
        "",
        events,
        problem="ticket deleted",
        detail=f"{events} audit events remain for ticket row {ticket_id}, which is gone",
    )


# --- the archive's copy ------------------------------------------------------------------------


def archived_event(e: Any) -> dict[str, Any]:
    """An audit event as the archive keeps it (``chain.json``): its content, link and hash."""
    return {
        "seq": e.seq,
        "at": utc_text(e.at),
        "actor": e.actor,
        "action": e.action,
        "from_state": e.from_state,
        "to_state": e.to_state,
        "details": dict(e.details or {}),
        "prev_hash": getattr(e, "prev_hash", None),
        "hash": e.hash,
    }


def verify_archived(
    chain: Mapping[str, Any],
    decisions: Sequence[Mapping[str, Any]] = (),
    manifests: Mapping[int, Mapping[str, Any]] | None = None,
) -> ChainReport:
    """Re-verify a ticket's chain from its archive alone: ``chain`` is ``chain.json`` (head and
    events), ``decisions`` the archived ``decisions.json``, ``manifests`` each round's archived
    ``manifest.json``. Names the first event altered, inserted or removed, a head that is not
    the chain's end, and a decision or manifest the chain does not vouch for."""
    stats_id = str(chain.get("stats_id") or "")
    head, expected, count = GENESIS, 1, 0
    last: Mapping[str, Any] | None = None

    def broken(problem: str, detail: str, e: Mapping[str, Any] | None = None) -> ChainReport:
        seq = e.get("seq") if e is not None else None
        return ChainReport(stats_id, False, head, count, seq, None, problem, detail)

    events = sorted(chain.get("events") or [], key=lambda x: int(x.get("seq") or -1))
    for e in events:
        seq = int(e.get("seq") or -1)
        if seq < expected:
            return broken("inserted", "an event out of sequence", e)
        if seq > expected:
            return broken("removed", f"events #{expected}..#{seq - 1} are missing", e)
        if e.get("prev_hash") not in (None, head):
            return broken("inserted", "it does not link to the event before it", e)
        try:
            recomputed = event_hash(
                stats_id=stats_id,
                seq=seq,
                action=e["action"],
                actor=e["actor"],
                at=datetime.fromisoformat(e["at"]),
                from_state=e.get("from_state"),
                to_state=e.get("to_state"),
                details=e.get("details") or {},
                prev_hash=head,
            )
        except (KeyError, TypeError, ValueError):
            recomputed = None
        if recomputed != e.get("hash"):
            return broken("altered", "its content does not match its hash", e)
        head, expected, count, last = str(e["hash"]), expected + 1, count + 1, e
    if int(chain.get("audit_seq") or 0) > count:
        return broken(
            "removed",
            f"the archived head is event #{chain.get('audit_seq')}; the chain ends at #{count}",
        )
    if int(chain.get("audit_seq") or 0) < count or chain.get("audit_head") != head:
        return broken("inserted", f"events after the archived head #{chain.get('audit_seq')}", last)

    # Each archived decision is the one its event recorded, and each decision event has one.
    by_step: dict[tuple[Any, Any], Mapping[str, Any]] = {}
    for e in events:
        if e["action"] == "decision":
            d = e.get("details") or {}
            by_step[(d.get("round"), d.get("step"))] = e
    seen = set()
    for row in decisions:
        where = (row.get("round"), row.get("step"))
        seen.add(where)
        e = by_step.get(where)
        try:
            mine = decision_digest(
                round=int(row["round"]),
                step=row["step"],
                role=row["role"],
                actor=row["actor"],
                outcome=row["outcome"],
                guidance=row.get("guidance", ""),
                exemption=row.get("exemption", ""),
                at=datetime.fromisoformat(row["at"]),
                files=row.get("files", []),
            )
        except (KeyError, TypeError, ValueError):
            mine = None
        if e is None or mine is None or mine != _archived_decision_digest(e):
            why = (
                "no event recorded it"
                if e is None
                else "it differs from the event that recorded it"
            )
            return broken("decision altered", f"decision {where[1]} of round {where[0]}: {why}", e)
    for where, e in by_step.items():
        if where not in seen:
            return broken(
                "decision removed", f"decision {where[1]} of round {where[0]} is not archived", e
            )

    # Each archived manifest is the snapshot the latest event of its round recorded.
    recorded: dict[int, tuple[str, Mapping[str, Any]]] = {}
    for e in events:
        for (n, fact), d in details_facts(e.get("details") or {}).items():
            if fact == "snapshot":
                recorded[n] = (d, e)
    places = {int(r["number"]): r.get("snapshot_place") for r in chain.get("rounds") or []}
    for n, (wanted, e) in sorted(recorded.items()):
        manifest = (manifests or {}).get(n)
        if manifest is None:
            return broken("manifest removed", f"round {n}'s manifest is not archived", e)
        try:
            have = digest(snapshot_fact(str(places.get(n)), manifest_entries(manifest["files"])))
        except (KeyError, TypeError, ValueError):
            have = None
        if have != wanted:
            return broken("manifest altered", f"round {n}'s manifest is not what was recorded", e)
    return ChainReport(stats_id, True, head, count)


def _archived_decision_digest(e: Mapping[str, Any]) -> str | None:
    try:
        at = datetime.fromisoformat(e["at"])
    except (KeyError, TypeError, ValueError):
        return None
    return _recorded_decision_digest(str(e.get("actor")), at, e.get("details") or {})
