"""Output requests, step by step (guidance section 3, "Output process flow").

Each function is one step of the ``output_request`` DAG and is idempotent: it reads the ticket,
does only what has not been done for this round, and moves the ticket with compare-and-set.
Nothing here imports Airflow; the DAG only wires these together.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from include.access import officers_needed
from include.checks.request_form import FormError, is_form_name, missing_fields, read_output_form
from include.notifications import Attachment, Email, disclaimer, render
from include.permissions import (
    NotPermitted,
    assign_officers,
    verify_data_owner,
    verify_officer_responses,
)
from include.pipeline import Pipeline
from include.registry import Project, UnknownProject
from include.request_policy import Refusal, output_eligibility
from include.signoff_record import Response
from include.signoffs import PASSING, validate_response
from include.states import TicketState
from include.storage import INGEST, Manifest, Place, StorageError, UnsafePath
from include.tickets import STATS_ID, Ticket, UnknownTicket

S = TicketState
READY = "Ready for Checking"
_PROJECT_TEXT = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class AlreadySubmitted(ValueError):
    """The folder is already another ticket's request."""


class ReleaseHeld(RuntimeError):
    """The release stopped before anything was sent; operations were told why."""


@dataclass(frozen=True)
class IntakeResult:
    accepted: bool
    stats_id: str
    round: int
    reasons: tuple[Refusal, ...] = ()

    def to_xcom(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "stats_id": self.stats_id,
            "round": self.round,
            "reasons": [str(r) for r in self.reasons],
        }


@dataclass(frozen=True)
class SignOffRequest:
    """What a sign-off task shows, and to whom it is assigned."""

    subject: str
    body: str
    assignees: tuple[tuple[str, str], ...]  # (username, display name)
    files: tuple[str, ...] = ()  # the request's files, each given its own guidance box


@dataclass(frozen=True)
class Flow:
    """What differs between request kinds. Every step in this module serves all three kinds:
    outputs' flow is :data:`OUTPUT` (below), ingest's and transfer's are in
    ``include.ingest_transfer``."""

    kind: str
    source: Callable[[Ticket], Place]  # the researcher's folder
    workspace: Callable[[Ticket, int], Place]  # where a round's snapshot and reports are kept
    eligibility: Callable[[Pipeline, Ticket], list[Refusal]]
    folder_and_form: Callable[[Pipeline, Ticket, str], list[Refusal]]  # (…, folder)
    officers: Callable[[Pipeline], int]  # how many independent officers sign off
    check: Callable[[Pipeline, Ticket, Path], Any]  # the CheckReport of a downloaded snapshot
    done: TicketState  # RELEASED or PLACED: what archive expects
    all_passed: str  # officers_decision's answer when every officer passes
    return_blocked: bool = False  # blocking check findings go straight back to the researcher


def flow_of(kind: str) -> Flow:
    if kind == "output":
        return OUTPUT
    from include.ingest_transfer import FLOWS

    return FLOWS[kind]


def involved_projects(p: Pipeline, ticket: Ticket) -> tuple[Project, Project | None]:
    """The ticket's project and, for a transfer, its destination (officers are on neither)."""
    destination = ticket.destination_project
    return p.project(ticket.project), p.project(destination) if destination else None


def next_version(folder: str) -> str:
    """``…_v1`` → ``…_v2``; a folder without a version gets ``_v2``."""
    match = re.search(r"_v(\d+)$", folder)
    if match:
        return f"{folder[: match.start()]}_v{int(match.group(1)) + 1}"
    return f"{folder}_v2"


# --- intake ------------------------------------------------------------------------------------


def intake(
    p: Pipeline,
    *,
    project: str,
    folder: str,
    requester: str,
    run_id: str,
    stats_id: str | None = None,
    kind: str = "output",
    destination: str | None = None,
    details: dict[str, Any] | None = None,
    started_by: str | None = None,
) -> IntakeResult:
    """Register the request (or its next round), decide eligibility, acknowledge or refuse.

    ``kind`` is output, ingest or transfer; a transfer names its ``destination`` project and
    keeps its source area in ``details``. ``started_by`` is the Airflow user who started the
    run, as Airflow authenticated them: only operations and the submission service may.
    """
    project, folder, requester = str(project).strip(), str(folder).strip(), str(requester).strip()
    _check_starter(p, started_by, run_id, stats_id)
    ticket = None
    if stats_id:
        ticket = _ticket_for_run(p, stats_id, run_id)
        if ticket.round > 1 or ticket.state == S.REVISIONS_REQUESTED:
            return _resubmission(
                p,
                stats_id=stats_id,
                folder=folder,
                requester=requester,
                run_id=run_id,
                started_by=started_by,
            )
        # Registered before its run started (`srs submit`, the intake sweep): the ticket says what.
        project, folder, requester = ticket.project, ticket.folder, ticket.requester
    else:
        found = p.store.find(details_match={"intake_run_id": run_id})
        ticket = found[0] if found else None
    if ticket is None:
        ticket = p.store.create(
            kind=kind,
            project=project[:64] or "?",
            requester=requester[:64] or "?",
            folder=folder[:255],
            actor=requester[:64] or "intake",
            destination_project=(str(destination).strip()[:10] or None) if destination else None,
            details={**(details or {}), "intake_run_id": run_id},
        )
    _note_start(p, ticket, run_id, started_by)
    if ticket.state == S.REJECTED:  # a retried intake of a refused request
        return IntakeResult(False, ticket.stats_id, ticket.round, _stored_refusals(ticket))
    if ticket.state == S.CLOSED_PROJECT_ENDED:
        return _closed(ticket)
    if ticket.state != S.RECEIVED:
        return IntakeResult(True, ticket.stats_id, ticket.round)

    flow = flow_of(ticket.kind)
    reasons = flow.eligibility(p, ticket)
    if not reasons:
        reasons = flow.folder_and_form(p, ticket, ticket.folder)
    if reasons:
        return _refuse(p, ticket, reasons)
    _accept(p, ticket, p.project(ticket.project), run_id)
    return IntakeResult(True, ticket.stats_id, ticket.round)


_RUN_OF_ROUND = re.compile(r"^(STATS\d{5,})-r(\d+)$")


def _check_starter(p: Pipeline, started_by: str | None, run_id: str, stats_id: str | None) -> None:
    """Refuse a run started by someone who may not start request runs (before any ticket)."""
    from include.access import start_refusal

    person = p.person(started_by) if started_by else None
    reason = start_refusal(started_by, person, [p.settings.api_user])
    if reason is None:
        return
    if stats_id and STATS_ID.match(stats_id):
        with contextlib.suppress(UnknownTicket):
            p.store.append_audit(
                stats_id,
                actor=started_by or "unknown",
                action="run_refused",
                details={"run_id": run_id, "reason": reason},
            )
    raise NotPermitted(f"run {run_id} refused: {reason}")


def _ticket_for_run(p: Pipeline, stats_id: str, run_id: str) -> Ticket:
    """The ticket a run with ``stats_id`` in its conf may act on: only its registered first
    round, or the next round after revisions were requested (run ``<STATS-ID>-r<n>``)."""
    ticket = p.store.get(stats_id)
    if ticket.state == S.REVISIONS_REQUESTED:
        expected = f"{stats_id}-r{ticket.round + 1}"
    else:
        expected = ticket.run_id
    if run_id == expected or ticket.details.get(f"run_r{ticket.round}") == run_id:
        return ticket
    raise NotPermitted(
        f"run {run_id} refused: {stats_id} is in state '{ticket.state}' at round {ticket.round}; "
        f"the only run that may act on it now is {expected!r}"
        + (
            " (its next round, after revisions were requested)"
            if ticket.state == S.REVISIONS_REQUESTED
            else " (a second run would ask its officers twice)"
        )
    )


def ticket_of_run(p: Pipeline, run_id: str) -> Ticket:
    """The ticket whose current round this run is (never taken from a task's XCom)."""
    match = _RUN_OF_ROUND.match(run_id)
    if match:
        ticket = p.store.get(match.group(1))
        if int(match.group(2)) != ticket.round:
            raise NotPermitted(
                f"run {run_id} is round {match.group(2)} of {ticket.stats_id}, which is at round "
                f"{ticket.round}: an earlier round's run cannot act on it"
            )
        return ticket
    found = p.store.find(details_match={"intake_run_id": run_id})
    if not found:
        raise UnknownTicket(f"no ticket was registered by run {run_id}")
    return found[0]


def _note_start(p: Pipeline, ticket: Ticket, run_id: str, started_by: str | None) -> None:
    """The audit keeps who started each run, beside the researcher it names (once per run)."""
    if any(
        e.action == "run_started" and e.details.get("run_id") == run_id
        for e in p.store.audit(ticket.stats_id)
    ):
        return
    p.store.append_audit(
        ticket.stats_id,
        actor=started_by or "unknown",
        action="run_started",
        details={"run_id": run_id, "started_by": started_by, "researcher": ticket.requester},
    )


def _closed(ticket: Ticket) -> IntakeResult:
    """A ticket closed because its project ended goes no further, without an error."""
    reason = Refusal("project_closed", f"{ticket.stats_id} was closed because its project ended")
    return IntakeResult(False, ticket.stats_id, ticket.round, (reason,))


def register(
    p: Pipeline,
    *,
    kind: str,
    project: str,
    folder: str,
    requester: str,
    via: str,
    destination: str | None = None,
    details: dict[str, Any] | None = None,
) -> Ticket:
    """A ticket for a submission whose run is about to be started (reused if already made).

    A folder another ticket already uses is refused: a revised request is a new version of the
    folder (``…_v2``), resubmitted on its ticket. Only a refused request's folder may come again.
    """
    for ticket in p.store.find(project=project, kind=kind):
        if folder not in ticket.folders_used() or ticket.state == S.REJECTED:
            continue
        if (
            ticket.state == S.RECEIVED
            and ticket.round == 1
            and ticket.destination_project == destination
        ):
            return ticket
        raise AlreadySubmitted(
            f"folder {folder!r} of project {project} is already request {ticket.stats_id} "
            f"(state {ticket.state}); to revise it, copy it to {next_version(ticket.folder)!r} "
            f"and resubmit {ticket.stats_id}"
        )
    return p.store.create(
        kind=kind,
        project=project,
        requester=requester,
        folder=folder,
        actor=requester,
        destination_project=destination,
        details={**(details or {}), "submitted_via": via},
    )


def registered_project(p: Pipeline, project: str, role: str = "") -> Project | Refusal:
    """The registered project, or the refusal saying why ``project`` names none."""
    if not _PROJECT_TEXT.match(project or ""):
        return Refusal("project_not_live", f"{project!r} is not an SRS project number")
    try:
        return p.project(project)
    except UnknownProject:
        which = f"{role} project" if role else "project"
        return Refusal("project_not_live", f"{which} {project} is not registered with the SRS")


def _eligibility(p: Pipeline, project: str, requester: str) -> list[Refusal]:
    registered = registered_project(p, project)
    if isinstance(registered, Refusal):
        return [registered]
    return output_eligibility(registered, requester, p.today())


def _output_form(local: Path) -> tuple[Any, list[Any]]:
    form = read_output_form(local)
    return form, missing_fields(form)


def _folder_and_form(
    p: Pipeline,
    project: str,
    folder: str,
    *,
    area: str = READY,
    kind: str = "output",
    read_form: Callable[[Path], tuple[Any, list[Any]]] = _output_form,
    expect: dict[str, str] | None = None,
) -> list[Refusal]:
    """The folder exists in its area and holds a complete, matching request form.

    ``read_form`` reads the form (raising FormError) and lists its empty required fields;
    ``expect`` maps form fields to the values this request needs (default: project, folder).
    """
    where = {"ingest": "ingest area"}.get(area, area)
    try:
        place = Place(project, area, folder)
        if not folder:
            raise UnsafePath(folder, "no folder was named")
    except UnsafePath as exc:
        return [Refusal("link_or_escape", f"the folder name is not acceptable: {exc}")]
    if not p.storage.exists(place):
        return [
            Refusal(
                "request_form_missing",
                f"there is no folder {folder!r} in project {project}'s {where}",
            )
        ]
    try:
        files = p.storage.list_files(place)
    except UnsafePath as exc:
        return [
            Refusal(
                "link_or_escape", f"the folder holds something that cannot be copied safely: {exc}"
            )
        ]
    forms = [f.path for f in files if is_form_name(f.path) and f.path.lower().endswith(".xlsx")]
    if not forms:
        return [
            Refusal(
                "request_form_missing",
                f"folder {folder!r} has no completed {kind} request form (an .xlsx whose name "
                "contains 'request' and 'form', made from the template)",
            )
        ]
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "form.xlsx"
        local.write_bytes(p.storage.read_bytes(place, forms[0]))
        try:
            form, missing = read_form(local)
        except FormError as exc:
            return [Refusal("request_form_incomplete", f"{forms[0]}: {exc}")]
    problems = [f"{m.sheet} sheet: {m.message}" for m in missing]
    for key, wanted in (expect or {"project": project, "folder": folder}).items():
        named = str(getattr(form, key, "") or "").strip()
        if named and named != wanted:
            label = "destination project" if key == "destination" else key
            problems.append(f"the form names {label} {named!r}, but the request is for {wanted!r}")
    if problems:
        return [Refusal("request_form_incomplete", f"{forms[0]}: {'; '.join(problems)}")]
    return []


def _refuse(p: Pipeline, ticket: Ticket, reasons: Sequence[Refusal]) -> IntakeResult:
    stored = [{"rule": r.rule, "message": r.message} for r in reasons]
    ticket = p.store.transition(
        ticket.stats_id,
        S.REJECTED,
        actor="intake",
        expected=S.RECEIVED,
        details={"refusals": stored},
    )
    p.store.set_fields(
        ticket.stats_id, actor="intake", action="refused", details={"refusals": stored}
    )
    p.email_requester(ticket, "rejected", "rejected", reasons=list(reasons))
    return IntakeResult(False, ticket.stats_id, ticket.round, tuple(reasons))


def _stored_refusals(ticket: Ticket) -> tuple[Refusal, ...]:
    return tuple(Refusal(r["rule"], r["message"]) for r in ticket.details.get("refusals", []))


def _accept(p: Pipeline, ticket: Ticket, project: Project, run_id: str) -> None:
    if not ticket.assigned_officers:
        staff = p.officers()
        _, destination = involved_projects(p, ticket)
        chosen = assign_officers(
            staff,
            project,
            p.store.open_load(o.username for o in staff),
            count=flow_of(ticket.kind).officers(p),
            also=[destination] if destination else [],
        )
        ticket = p.store.set_fields(
            ticket.stats_id,
            actor="intake",
            action="officers_assigned",
            assigned_officers=chosen,
            details={f"run_r{ticket.round}": run_id},
        )
    p.email_requester(
        ticket,
        f"ack-r{ticket.round}",
        "acknowledgement",
        project=project,
        next_version=next_version(ticket.folder),
    )


def _resubmission(
    p: Pipeline, *, stats_id: str, folder: str, requester: str, run_id: str, started_by: str | None
) -> IntakeResult:
    ticket = p.store.get(stats_id)
    if ticket.state == S.CLOSED_PROJECT_ENDED:
        return _closed(ticket)
    if ticket.details.get(f"run_r{ticket.round}") == run_id:  # a retried intake of this round
        return IntakeResult(True, ticket.stats_id, ticket.round)
    if ticket.state != S.REVISIONS_REQUESTED:
        raise ValueError(
            f"{stats_id} is in state '{ticket.state}'; only a request whose revisions were requested can be resubmitted"
        )
    if folder == ticket.folder:
        raise ValueError(
            f"resubmit a revised copy of the folder (e.g. {next_version(ticket.folder)!r}), not {folder!r} again"
        )
    project = p.project(ticket.project)
    flow = flow_of(ticket.kind)
    reasons = flow.eligibility(p, replace(ticket, requester=requester)) + flow.folder_and_form(
        p, ticket, folder
    )
    if reasons:
        raise ValueError(f"{stats_id} was not resubmitted: " + "; ".join(str(r) for r in reasons))
    ticket = p.store.start_round(stats_id, folder=folder, actor=requester)
    ticket = p.store.set_fields(
        stats_id, actor="intake", action="round_started", details={f"run_r{ticket.round}": run_id}
    )
    _note_start(p, ticket, run_id, started_by)
    p.email_requester(
        ticket,
        f"ack-r{ticket.round}",
        "acknowledgement",
        project=project,
        next_version=next_version(folder),
    )
    return IntakeResult(True, ticket.stats_id, ticket.round)


# --- snapshot and checks -----------------------------------------------------------------------


def _output_workspace(ticket: Ticket, _round: int) -> Place:
    return Place(ticket.project, "Output", ticket.stats_id)


def reports_place(ticket: Ticket, rnd: int | None = None) -> Place:
    """Where a round's ``<folder>.manifest.json`` and ``<folder>.check.json|html`` are kept
    (outputs: ``Output/<STATS-ID>``; ingest and transfer: the round's quarantine)."""
    return flow_of(ticket.kind).workspace(ticket, rnd or ticket.round)


def snapshot_place(ticket: Ticket) -> Place:
    """Outputs: ``Output/<STATS-ID>/<folder>``; ingest and transfer: their quarantine."""
    return flow_of(ticket.kind).workspace(ticket, ticket.round).child(ticket.folder)


def take_snapshot(p: Pipeline, stats_id: str) -> dict[str, Any]:
    """Copy the submitted folder to its snapshot place (outputs: ``Output/<STATS-ID>/<folder>/``)
    with a SHA-256 manifest."""
    ticket = p.store.get(stats_id)
    key = f"snapshot_r{ticket.round}"
    if key in ticket.details:  # already taken: never re-copy (the original may have changed since)
        return _snapshot_summary(ticket.details[key])
    flow = flow_of(ticket.kind)
    manifest = p.storage.copy_folder(flow.source(ticket), snapshot_place(ticket))
    p.storage.write_bytes(
        flow.workspace(ticket, ticket.round),
        f"{ticket.folder}.manifest.json",
        manifest.to_json().encode(),
    )
    record = {
        "folder": ticket.folder,
        "place": snapshot_place(ticket).key,
        "manifest": manifest.to_dict(),
    }
    p.store.set_fields(stats_id, actor="pipeline", action="snapshot_taken", details={key: record})
    return _snapshot_summary(record)


def _snapshot_summary(record: dict[str, Any]) -> dict[str, Any]:
    manifest = Manifest.from_dict(record["manifest"])
    return {"folder": record["folder"], "files": len(manifest), "bytes": manifest.total_bytes}


def snapshot_manifest(ticket: Ticket) -> Manifest:
    """The manifest recorded at intake: the ticket store's copy is the one that counts."""
    return Manifest.from_dict(ticket.details[f"snapshot_r{ticket.round}"]["manifest"])


def _output_check(p: Pipeline, ticket: Ticket, local: Path) -> Any:
    from include.checks.engine import check_path
    from include.projects import policy_of

    policy = policy_of(
        p.project(ticket.project), kind="output", max_file_bytes=p.settings.max_file_bytes
    )
    return check_path(local, policy, request=True)


def run_checks(p: Pipeline, stats_id: str) -> dict[str, Any]:
    """Run ``srs check`` on the snapshot with the project's policy; store the reports.

    For a kind whose flow returns blocked requests (ingest, transfer), a failed check leaves
    the ticket in ``checking`` for ``request_revisions``; otherwise it awaits the officers.
    """
    from include.checks.report import render_html

    ticket = p.store.get(stats_id)
    flow = flow_of(ticket.kind)
    key = f"checks_r{ticket.round}"
    if key in ticket.details and ticket.state != S.RECEIVED:
        summary = ticket.details[key]
    else:
        if f"snapshot_r{ticket.round}" not in ticket.details:
            # A snapshot is recorded only once copied whole and verified: whatever a failed
            # copy left at the snapshot place is never checked.
            raise StorageError(
                f"{stats_id} round {ticket.round} has no verified snapshot; nothing was checked"
            )
        if ticket.state == S.RECEIVED:
            ticket = p.store.transition(stats_id, S.CHECKING, actor="pipeline", expected=S.RECEIVED)
        place = snapshot_place(ticket)
        mismatches = p.storage.verify(place, snapshot_manifest(ticket))
        if mismatches:
            raise StorageError(
                f"the snapshot of {stats_id} no longer matches its manifest: "
                + "; ".join(f"{m.path} {m.problem}" for m in mismatches)
            )
        with tempfile.TemporaryDirectory() as tmp:
            local = p.storage.download_folder(place, Path(tmp) / ticket.folder)
            report = flow.check(p, ticket, local)
        data = report.to_dict()
        out = flow.workspace(ticket, ticket.round)
        p.storage.write_bytes(out, f"{ticket.folder}.check.json", _json(data))
        p.storage.write_bytes(
            out,
            f"{ticket.folder}.check.html",
            render_html(report, title=f"{stats_id} — {ticket.folder}").encode(),
        )
        summary = _check_summary(data)
        p.store.set_fields(
            stats_id, actor="pipeline", action="checks_completed", details={key: summary}
        )
        _report_incident(p, ticket, data)
    if flow.return_blocked and summary["verdict"] == "fail":
        return summary  # stays in checking: request_revisions sends it back with the findings
    p.store.transition(stats_id, S.AWAITING_OFFICERS, actor="pipeline", expected=(S.CHECKING,))
    return summary


def _json(data: Any) -> bytes:
    import json

    return json.dumps(data, indent=2).encode()


def _where(finding: dict[str, Any], path: str | None = None) -> str:
    loc = finding.get("location", {})
    parts = [loc.get("file") or path or ""]
    for label in ("sheet", "cell", "row", "column", "line"):
        if loc.get(label) is not None:
            parts.append(f"{label} {loc[label]}")
    return ", ".join(p for p in parts if p)


def _check_summary(data: dict[str, Any]) -> dict[str, Any]:
    blocking = []
    for f in data["findings"]:
        if f["severity"] == "block":
            blocking.append({**f, "where": _where(f)})
    for fr in data["files"]:
        for f in fr["findings"]:
            if f["severity"] == "block":
                blocking.append({**f, "where": _where(f, fr["path"])})
    return {
        "verdict": data["verdict"],
        "summary": data["summary"],
        "blocking": blocking[:50],
        "files": [
            {"path": fr["path"], "role": fr["role"], "type": fr["type"]} for fr in data["files"]
        ],
        "direct_identifiers": sum(1 for fr in data["files"] for f in fr["findings"] if _found(f)),
    }


def _found(finding: dict[str, Any]) -> bool:
    """A direct identifier the checks found (a blocking one: a chance match an officer is
    asked to look at is not an incident)."""
    return finding["rule"] == "direct_identifier" and finding["severity"] == "block"


def _report_incident(p: Pipeline, ticket: Ticket, data: dict[str, Any]) -> None:
    """A direct identifier in any request is an incident (guidance section 2)."""
    found = [
        {**f, "where": _where(f, fr["path"])}
        for fr in data["files"]
        for f in fr["findings"]
        if _found(f)
    ]
    if not found:
        return
    p.store.append_audit(
        ticket.stats_id,
        actor="pipeline",
        action="incident",
        details={
            "round": ticket.round,
            "direct_identifiers": [(f["kind"], f["where"]) for f in found[:50]],
        },
    )
    email = render(
        "incident",
        ticket.stats_id,
        ticket=ticket,
        kind=ticket.kind,
        findings=found[:50],
        report_url=p.settings.ui_url(f"srs/requests/{ticket.stats_id}"),
    )
    p.email_operations(ticket, f"incident-r{ticket.round}", email)


# --- sign-offs ---------------------------------------------------------------------------------


def officer_request(p: Pipeline, stats_id: str, slot: int) -> SignOffRequest:
    """The sign-off shown to officer ``slot`` (0 or 1) of the current round."""
    ticket = p.store.get(stats_id)
    username = ticket.assigned_officers[slot]
    person = p.person(username)
    checks = ticket.details.get(f"checks_r{ticket.round}", {})
    of = len(ticket.assigned_officers)
    subject = f"[{stats_id}] {ticket.kind.capitalize()} check {slot + 1} of {of}: project {ticket.project}, {ticket.folder} (round {ticket.round})"
    return SignOffRequest(
        subject,
        _signoff_body(p, ticket, checks, officer=True),
        ((username, person.name if person else username),),
        tuple(f["path"] for f in checks.get("files", []) if f.get("role") != "form"),
    )


def data_owner_request(p: Pipeline, stats_id: str, dataset: str) -> SignOffRequest:
    ticket = p.store.get(stats_id)
    ds = _dataset(p.project(ticket.project), dataset)
    checks = ticket.details.get(f"checks_r{ticket.round}", {})
    subject = (
        f"[{stats_id}] Data owner approval ({dataset}): project {ticket.project}, {ticket.folder}"
    )
    return SignOffRequest(
        subject,
        _signoff_body(p, ticket, checks, officer=False),
        tuple((o.username, o.name) for o in ds.data_owners),
    )


def _signoff_body(p: Pipeline, ticket: Ticket, checks: dict[str, Any], *, officer: bool) -> str:
    summary = checks.get("summary", {})
    sev = summary.get("by_severity", {})
    requester = p.person(ticket.requester)
    by = f"{requester.name} ({ticket.requester})" if requester else ticket.requester
    lines = [
        f"**Request** {ticket.stats_id}, round {ticket.round}: {_what(ticket)}, "
        f"folder `{ticket.folder}`, requested by {by}.",
        "",
        f"**Automated checks: {checks.get('verdict', 'not run').upper()}** — "
        f"{sev.get('block', 0)} blocking, {sev.get('review', 0)} to review, {sev.get('info', 0)} for information.",
    ]
    by_rule = summary.get("by_rule", {})
    if by_rule:
        lines.append(
            "Findings by rule: " + ", ".join(f"`{rule}` {n}" for rule, n in by_rule.items())
        )
    if checks.get("blocking"):
        lines += ["", "Blocking findings:"]
        lines += [
            f"- `{f['rule']}`{'/' + f['kind'] if f.get('kind') else ''} at {f['where']}: {f['message']}"
            for f in checks["blocking"][:15]
        ]
        if len(checks["blocking"]) > 15:
            lines.append(f"- … and {len(checks['blocking']) - 15} more in the full report")
    files = checks.get("files", [])
    if files:
        lines += ["", "Files: " + ", ".join(f"`{f['path']}` ({f['role']})" for f in files)]
    if ticket.round > 1:
        lines += ["", f"**Since round {ticket.round - 1}:** " + _changes_since_last_round(ticket)]
    lines += [
        "",
        f"[Full check report and request page]({p.settings.ui_url(f'srs/requests/{ticket.stats_id}')})",
        "",
    ]
    if officer:
        lines.append(
            "Choose **Pass**, **Request revisions** or **Query researcher**. Revisions and queries need "
            "guidance text for the researcher. Passing with blocking findings needs an exemption reason."
        )
    else:
        lines.append(
            "Choose **Approve**, or **Request revisions** with guidance for the researcher."
        )
    return "\n".join(lines)


def round_changes(ticket: Ticket, rnd: int | None = None) -> dict[str, list[str]]:
    """Files changed, added and removed in round ``rnd`` (default: the current one) since the
    round before (snapshot hashes compared); empty for round 1 or a round not yet snapshotted."""
    rnd = rnd or ticket.round
    now = ticket.details.get(f"snapshot_r{rnd}")
    before = ticket.details.get(f"snapshot_r{rnd - 1}")
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


def _changes_since_last_round(ticket: Ticket) -> str:
    changes = round_changes(ticket)
    if not changes:
        return "no snapshot of the previous round to compare with."
    parts = [
        f"{label} " + ", ".join(f"`{p}`" for p in changes[label])
        for label in ("changed", "added", "removed")
        if changes[label]
    ]
    return "; ".join(parts) + "." if parts else "no file changed (every hash is the same)."


def _what(ticket: Ticket) -> str:
    if ticket.kind == "transfer":
        return f"transfer from project **{ticket.project}** to project **{ticket.destination_project}**"
    return f"{ticket.kind} {'into' if ticket.kind == 'ingest' else 'from'} project **{ticket.project}**"


def officers_decision(p: Pipeline, stats_id: str, responses: Sequence[Response]) -> str:
    """Record the officers' answers; return ``release`` (ingest, transfer: ``place``),
    ``data_owner`` or ``revisions``."""
    ticket = p.store.get(stats_id)
    project, destination = involved_projects(p, ticket)
    needed = officers_needed(ticket)
    users = [r.user for r in responses]
    try:
        if len(responses) != needed:
            raise NotPermitted(
                f"{_COUNT.get(needed, needed)} officer sign-off(s) are needed, {len(responses)} were given"
            )
        verify_officer_responses(users, p.officers(), project, [destination] if destination else [])
        for r in responses:
            slot = int(r.step.rsplit("_", 1)[-1]) - 1
            if ticket.assigned_officers[slot] != r.user:
                raise NotPermitted(
                    f"{r.step} was assigned to {ticket.assigned_officers[slot]!r}, not {r.user!r}"
                )
    except NotPermitted as exc:
        p.store.append_audit(
            stats_id,
            actor="pipeline",
            action="signoff_refused",
            details={"reason": str(exc), "responders": users},
        )
        raise
    blocking = (
        ticket.details.get(f"checks_r{ticket.round}", {}).get("summary", {}).get("blocking", 0)
    )
    _record(p, ticket, responses, role="officer", blocking=blocking)
    if any(r.option != "Pass" for r in responses):
        return "revisions"
    if ticket.kind != "output":
        return flow_of(ticket.kind).all_passed
    if datasets_for_approval(project):
        p.store.transition(
            stats_id, S.AWAITING_DATA_OWNER, actor="pipeline", expected=S.AWAITING_OFFICERS
        )
        return "data_owner"
    return "release"


def _record(
    p: Pipeline, ticket: Ticket, responses: Sequence[Response], *, role: str, blocking: int
) -> None:
    """Record each answer as a decision, once every answer has been found acceptable."""
    for r in responses:
        problem = validate_response(
            r.option, r.guidance, r.exemption, blocking=blocking, files=r.files
        )
        if problem:
            raise NotPermitted(f"{r.step} by {r.user}: {problem}")
    for r in responses:
        p.store.record_decision(
            ticket.stats_id,
            round=ticket.round,
            step=r.step,
            role=role,
            actor=r.user,
            outcome=r.option,
            guidance=r.guidance,
            exemption=r.exemption,
            files=r.files,
            responded_at=r.at,
        )


def hold_tampered_signoffs(
    p: Pipeline, stats_id: str, problems: Sequence[str], changes: Sequence[dict[str, Any]]
) -> Ticket:
    """A sign-off task's state or result is not what Airflow recorded: hold the request.

    Nothing is released or placed; the audit keeps what was wrong and who changed what in the
    run (Airflow's own log); operations are emailed at once, as for any incident.
    """
    ticket = p.store.get(stats_id)
    details = {"round": ticket.round, "problems": list(problems), "changes": list(changes)[:50]}
    if ticket.state != S.SIGNOFF_HELD:
        ticket = p.store.transition(
            stats_id,
            S.SIGNOFF_HELD,
            actor="pipeline",
            expected=(S.AWAITING_OFFICERS, S.AWAITING_DATA_OWNER),
            details=details,
        )
    p.store.append_audit(stats_id, actor="pipeline", action="signoff_tampering", details=details)
    who = "\n".join(
        f"  - {c.get('when')}: {c.get('owner')} {c.get('event')} {c.get('task_id') or ''}"
        for c in changes[:20]
    )
    email = Email(
        subject=f"[{stats_id}] Incident: a sign-off was not what Airflow recorded; request held",
        body=(
            f"Request {stats_id} (project {ticket.project}, folder {ticket.folder}, round "
            f"{ticket.round}) is held in state signoff_held. Nothing was released or placed.\n\n"
            "What does not agree with Airflow's record of the sign-offs:\n"
            + "\n".join(f"  - {x}" for x in problems)
            + "\n\nChanges people made to the run (Airflow's audit log):\n"
            + (who or "  (none recorded)")
            + "\n\nInvestigate with `srs ticket "
            + stats_id
            + "`. The request can only go on with fresh sign-offs in a new run.\n"
        ),
    )
    p.email_operations(ticket, f"signoff-tampering-r{ticket.round}", email)
    return ticket


SIGNOFF_TASKS = {
    "output": ("officer_1", "officer_2", "data_owner_signoff"),
    "ingest": ("officer_1", "officer_2"),
    "transfer": ("officer_1", "officer_2"),
}


def reopen_signoffs(p: Pipeline, stats_id: str, *, actor: str, reason: str) -> Ticket:
    """Operations, having investigated a held request, send it back for fresh sign-offs.

    The sign-off tasks of the run are cleared by the caller; each asks its person again
    (or takes the answer Airflow already recorded for it, if one was genuinely given).
    """
    from include.access import start_refusal

    if not reason.strip():
        raise NotPermitted("say why the request may go on (what the investigation found)")
    refusal = start_refusal(actor, p.person(actor), [p.settings.api_user])
    if refusal:
        raise NotPermitted(refusal.replace("start request runs", "reopen held sign-offs"))
    return p.store.transition(
        stats_id,
        S.AWAITING_OFFICERS,
        actor=actor,
        expected=S.SIGNOFF_HELD,
        details={"reopened_because": reason.strip()},
    )


def datasets_for_approval(project: Project) -> list[str]:
    return [d.name for d in project.datasets if d.review == "for_approval"]


def _dataset(project: Project, name: str):
    for d in project.datasets:
        if d.name == name:
            return d
    raise NotPermitted(f"dataset {name!r} is not one of project {project.number}'s datasets")


def data_owner_decision(p: Pipeline, stats_id: str, responses: Sequence[Response]) -> str:
    """Record data owners' answers; every for-approval dataset must approve to release."""
    ticket = p.store.get(stats_id)
    project = p.project(ticket.project)
    answered = {r.dataset for r in responses}
    missing = set(datasets_for_approval(project)) - answered
    try:
        if missing:
            raise NotPermitted(f"no data owner answer for dataset(s) {sorted(missing)}")
        for r in responses:
            verify_data_owner(r.user, _dataset(project, r.dataset or ""))
    except NotPermitted as exc:
        p.store.append_audit(
            stats_id, actor="pipeline", action="signoff_refused", details={"reason": str(exc)}
        )
        raise
    _record(p, ticket, responses, role="data_owner", blocking=0)
    return "release" if all(r.option == "Approve" for r in responses) else "revisions"


# --- revisions, release, archive ---------------------------------------------------------------


def request_revisions(p: Pipeline, stats_id: str) -> None:
    """One email with every sign-off's guidance; the ticket is blocked until resubmitted."""
    ticket = p.store.get(stats_id)
    if ticket.state == S.REVISIONS_REQUESTED:
        return
    decisions = p.store.decisions(stats_id, round=ticket.round)
    guidance: list[dict[str, str]] = []
    by_file: dict[str, list[dict[str, str]]] = {}
    for d in decisions:
        if d.role == "officer":
            who = f"SRS officer {d.step.rsplit('_', 1)[-1]}"
        else:
            who = f"the data owner of {d.step.removeprefix('data_owner_')}"
        if d.outcome not in PASSING or d.guidance:
            text = d.guidance or ("(see the files below)" if d.files else "(no comments)")
            guidance.append({"who": who, "outcome": d.outcome, "text": text})
        for path, text in d.files:
            by_file.setdefault(path, []).append({"who": who, "text": text})
    blocking = ticket.details.get(f"checks_r{ticket.round}", {}).get("blocking", [])
    p.email_requester(
        ticket,
        f"revisions-r{ticket.round}",
        "revisions",
        guidance=guidance,
        by_file=list(by_file.items()),
        blocking=blocking,
        next_version=next_version(ticket.folder),
        area=_area_name(flow_of(ticket.kind).source(ticket)),
    )
    p.store.transition(
        stats_id,
        S.REVISIONS_REQUESTED,
        actor="pipeline",
        expected=(S.AWAITING_OFFICERS, S.AWAITING_DATA_OWNER, S.CHECKING),
        details={"round": ticket.round},
    )


def _area_name(place: Place) -> str:
    return "the ingest area" if place.area == INGEST else place.area


_COUNT = {1: "one", 2: "two"}


def _verify_signoffs(p: Pipeline, ticket: Ticket, project: Project) -> None:
    """Never release (or place) without the independent officer passes and every approval."""
    if ticket.state == S.SIGNOFF_HELD:
        raise NotPermitted(
            f"{ticket.stats_id} is held (signoff_held): its sign-offs were not what Airflow "
            "recorded; nothing is released or placed until operations have investigated"
        )
    decisions = p.store.decisions(ticket.stats_id, round=ticket.round)
    passes = {d.actor for d in decisions if d.role == "officer" and d.outcome == "Pass"}
    needed = officers_needed(ticket)
    if len(passes) < needed or any(d.role == "officer" and d.outcome != "Pass" for d in decisions):
        raise NotPermitted(
            f"{ticket.stats_id} round {ticket.round} lacks {_COUNT.get(needed, needed)} "
            f"independent officer pass{'es' if needed > 1 else ''}"
        )
    if ticket.kind != "output":
        return
    approved = {
        d.step.removeprefix("data_owner_")
        for d in decisions
        if d.role == "data_owner" and d.outcome == "Approve"
    }
    missing = set(datasets_for_approval(project)) - approved
    if missing:
        raise NotPermitted(f"{ticket.stats_id} lacks data owner approval for {sorted(missing)}")


def release(p: Pipeline, stats_id: str) -> dict[str, Any]:
    """Email the cleared output files, verified against the manifest just before sending."""
    ticket = p.store.get(stats_id)
    if ticket.state in (S.RELEASED, S.ARCHIVED):
        return {"released": True, "already": True}
    project = p.project(ticket.project)
    _verify_signoffs(p, ticket, project)
    ticket = p.store.transition(
        stats_id,
        S.RELEASING,
        actor="pipeline",
        expected=(S.AWAITING_OFFICERS, S.AWAITING_DATA_OWNER, S.RELEASE_HELD),
    )
    manifest = snapshot_manifest(ticket)
    roles = {
        f["path"]: f["role"]
        for f in ticket.details.get(f"checks_r{ticket.round}", {}).get("files", [])
    }
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
    place = snapshot_place(ticket)
    attachments = []
    for entry in outputs:
        data = p.storage.read_bytes(place, entry.path)
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


def _hold(p: Pipeline, ticket: Ticket, reason: str) -> None:
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


def archive(p: Pipeline, stats_id: str) -> dict[str, Any]:
    """Close the ticket with a permanent folder: snapshots, manifests, reports, decisions, emails."""
    ticket = p.store.get(stats_id)
    if ticket.state == S.ARCHIVED:
        # The move to archived may have been applied without this task hearing so (the
        # database went away before its COMMIT was acknowledged): the audit trail, written
        # last, is then still to be written.
        where = p.archive_place(ticket)
        if not p.storage.exists(where, "audit.json"):
            p.archive_json(ticket, "audit.json", p.store.audit(stats_id))
        return {"archived": True, "already": True, "place": where.key}
    where = p.archive_place(ticket)
    flow = flow_of(ticket.kind)
    for rnd in range(1, ticket.round + 1):
        record = ticket.details.get(f"snapshot_r{rnd}")
        if not record:
            continue
        folder = record["folder"]
        src = flow.workspace(ticket, rnd)
        if src.child(folder) != where.child(f"round{rnd}/{folder}"):  # a quarantine is kept as is
            p.storage.copy_folder(src.child(folder), where.child(f"round{rnd}/{folder}"))
        p.archive_json(ticket, f"round{rnd}/manifest.json", record["manifest"])
        for suffix in ("check.json", "check.html"):
            if p.storage.exists(src, f"{folder}.{suffix}"):
                p.storage.write_bytes(
                    where, f"round{rnd}/{suffix}", p.storage.read_bytes(src, f"{folder}.{suffix}")
                )
    p.archive_json(ticket, "decisions.json", p.store.decisions(stats_id))
    p.archive_json(ticket, "ticket.json", ticket)
    p.store.transition(stats_id, S.ARCHIVED, actor="pipeline", expected=flow.done)
    p.archive_json(ticket, "audit.json", p.store.audit(stats_id))
    return {"archived": True, "place": where.key}


OUTPUT = Flow(
    kind="output",
    source=lambda ticket: Place(ticket.project, READY, ticket.folder),
    workspace=_output_workspace,
    eligibility=lambda p, ticket: _eligibility(p, ticket.project, ticket.requester),
    folder_and_form=lambda p, ticket, folder: _folder_and_form(p, ticket.project, folder),
    officers=lambda _p: 2,
    check=_output_check,
    done=S.RELEASED,
    all_passed="release",
)
