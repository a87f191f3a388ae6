"""Release of an output request: the cleared files emailed to the researcher, each verified
against the snapshot's manifest just before sending; held for operations if it cannot be sent."""

from __future__ import annotations

import hashlib
from typing import Any

from include import request_rounds
from include.notifications import Attachment, disclaimer, render
from include.registry import Project
from include.states import TicketState
from include.storage import Place
from include.tickets import Ticket

S = TicketState


class ReleaseHeld(RuntimeError):
    """The release stopped before anything was sent; operations were told why."""


def datasets_for_approval(project: Project) -> list[str]:
    """The project's datasets whose data owners must approve each release."""
    return [d.name for d in project.datasets if d.review == "for_approval"]


def release(p: Any, ticket: Ticket, snapshot: Place) -> dict[str, Any]:
    """Email the cleared output files of ``ticket`` (sign-offs already verified) from its
    ``snapshot``; data owners of *for information* datasets in Bcc."""
    stats_id = ticket.stats_id
    if ticket.state in (S.RELEASED, S.ARCHIVED):
        return {"released": True, "already": True}
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
