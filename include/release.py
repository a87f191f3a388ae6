"""Release of an output request: the cleared files emailed to the researcher, each verified
against the snapshot's manifest just before sending; held for operations if it cannot be sent.

Both hand-overs (this release, and placement in :mod:`include.placement`) first verify the
ticket's audit chain (:func:`hold_if_chain_broken`): a record that does not verify lets
nothing leave.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

from include import release_ledger, request_rounds
from include.audit_verify import ChainReport
from include.notifications import Attachment, disclaimer, render
from include.registry import Project
from include.states import TicketState
from include.storage import Place
from include.tickets import StaleState, Ticket

S = TicketState


class ReleaseHeld(RuntimeError):
    """The release stopped before anything was sent; operations were told why."""


class ChainBroken(ReleaseHeld):
    """The ticket's audit chain does not verify: nothing is released or placed, the ticket
    stays in its state, operations were told which event broke it."""


CHAIN_HELD = "chain_broken_held"  # the audit event a hold for a broken chain writes


def datasets_for_approval(project: Project) -> list[str]:
    """The project's datasets whose data owners must approve each release."""
    return [d.name for d in project.datasets if d.review == "for_approval"]


def release(p: Any, ticket: Ticket, snapshot: Place) -> dict[str, Any]:
    """Email the cleared output files of ``ticket`` (sign-offs already verified) from its
    ``snapshot``; data owners of *for information* datasets in Bcc."""
    stats_id = ticket.stats_id
    if ticket.state in (S.RELEASED, S.ARCHIVED):
        if ticket.state == S.RELEASED:  # released, then the task died before the ledger
            release_ledger.record_from_snapshot(p, ticket, snapshot)
        return {"released": True, "already": True}
    hold_if_chain_broken(p, ticket, "release")
    project = p.project(ticket.project)
    ticket = p.store.transition(
        stats_id,
        S.RELEASING,
        actor="pipeline",
        expected=(S.AWAITING_OFFICERS, S.AWAITING_DATA_OWNER, S.RELEASE_HELD),
    )
    manifest = request_rounds.snapshot_manifest(ticket)
    roles = {f["path"]: f["role"] for f in request_rounds.checks(ticket).get("files", [])}
    outputs = [e for e in manifest if roles.get(e.path) == "output"]
    if not outputs:
        _hold(p, ticket, "no file in the request is marked for output")
    if sum(e.size for e in outputs) > p.settings.max_attachment_bytes:
        _hold(
            p,
            ticket,
            f"the output files total {sum(e.size for e in outputs)} bytes, over the "
            f"{p.settings.max_attachment_bytes}-byte attachment limit (SRS_MAX_ATTACHMENT_BYTES)",
        )
    attachments = []
    for entry in outputs:
        data = p.storage.read_bytes(snapshot, entry.path)
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            _hold(
                p,
                ticket,
                f"{entry.path} no longer matches its SHA-256 in the manifest; it was not released",
            )
        attachments.append(Attachment(entry.path.replace("/", "_"), data))
    bcc = sorted(
        {o.email for d in project.datasets if d.review == "for_information" for o in d.data_owners}
    )
    p.email_requester(
        ticket,
        "release",
        "release",
        bcc=bcc,
        attachments=attachments,
        files=outputs,
        disclaimer=disclaimer(),
        data_owner_approved=bool(datasets_for_approval(project)),
    )
    p.store.transition(
        stats_id,
        S.RELEASED,
        actor="pipeline",
        expected=S.RELEASING,
        details={"files": [e.path for e in outputs], "bcc": bcc},
    )
    # The project's ledger of released tables (issue #13): what the next checks compare with.
    release_ledger.record_release(
        p.store, ticket, {e.path: a.content for e, a in zip(outputs, attachments, strict=True)}
    )
    return {"released": True, "files": [e.path for e in outputs], "bcc": bcc}


def _hold(p: Any, ticket: Ticket, reason: str) -> None:
    p.store.transition(
        ticket.stats_id,
        S.RELEASE_HELD,
        actor="pipeline",
        expected=S.RELEASING,
        details={"reason": reason},
    )
    count = sum(1 for e in p.store.audit(ticket.stats_id) if e.to_state == S.RELEASE_HELD)
    email = render(
        "release_held",
        ticket.stats_id,
        ticket=ticket,
        reason=reason,
        run_url=p.settings.ui_url(f"dags/output_request/runs/{ticket.run_id}"),
    )
    p.email_operations(ticket, f"held-r{ticket.round}-{count}", email)
    raise ReleaseHeld(f"{ticket.stats_id}: release held, nothing sent: {reason}")


def hold_if_chain_broken(p: Any, ticket: Ticket, step: str) -> None:
    """Verify ``ticket``'s audit chain before ``step`` (``release`` or ``place``); if it is
    broken, hold the request: raise :class:`ChainBroken` naming the first bad event.

    The ticket's state is left as it is (a state change is itself an event on the chain that
    does not verify, and placement has no held state). One ``chain_broken_held`` event is
    appended if the chain can take it: it links to the head the ticket row recorded, and the
    verifier names the *first* bad event, so appending never hides or moves an earlier break.
    A chain whose tail was forged past that head cannot take it (the event number is taken):
    then operations are told the audit could not record the hold.
    """
    report = p.store.verify_chain(ticket.stats_id)
    if report.ok:
        return
    nothing = "nothing was sent" if step == "release" else "nothing was placed"
    recorded = _audit_hold(p, ticket, step, report)
    email = render(
        "chain_broken",
        ticket.stats_id,
        ticket=ticket,
        step=step,
        what="release" if step == "release" else "placement",
        report=report,
        nothing=nothing,
        recorded=recorded,
    )
    problem = (report.problem or "broken").replace(" ", "-")
    # Marking an email sent is an event on the chain too: a chain that cannot take one (a
    # forged tail) has its incident email sent but not marked, and not sent again.
    with contextlib.suppress(StaleState):
        p.email_operations(
            ticket, f"chain-held-r{ticket.round}-{step}-{problem}-{report.bad_seq or 0}", email
        )
    raise ChainBroken(
        f"{ticket.stats_id}: {step} held, {nothing}: the audit chain does not verify: "
        f"{report.describe()}"
    )


def _audit_hold(p: Any, ticket: Ticket, step: str, report: ChainReport) -> str:
    """Append the hold to the chain once per break; say what happened, for operations."""
    details = {
        "step": step,
        "round": ticket.round,
        "problem": report.problem,
        "bad_seq": report.bad_seq,
        "bad_event_id": report.bad_event_id,
        "detail": report.detail,
        "verified_events": report.events,
        "verified_head": report.head,
    }
    same = ("step", "round", "problem", "bad_seq", "bad_event_id")
    for e in p.store.audit(ticket.stats_id):
        if e.action == CHAIN_HELD and all(e.details.get(k) == details[k] for k in same):
            return "The ticket's audit trail already records this hold"
    try:
        p.store.append_audit(ticket.stats_id, actor="pipeline", action=CHAIN_HELD, details=details)
    except StaleState as exc:
        return f"The audit trail could not record this hold ({exc})"
    return f"The ticket's audit trail records this hold ({CHAIN_HELD})"
