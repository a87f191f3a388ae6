"""The steps every request goes through, whatever its kind (guidance sections 3 and 4).

intake (registration, eligibility, the folder and form, officers assigned) → snapshot →
automated checks → officers' decision → data owners' decision (outputs) → revisions, or the
hand-over (release or placement) → archive. What differs between kinds is asked of the ticket's
kind (:mod:`include.request_kinds`); a round's facts are read and written through
:mod:`include.request_rounds`.

Each function is one task's step and is idempotent: it reads the ticket, does only what has
not been done for this round, and moves the ticket with compare-and-set. Nothing here imports
Airflow; the DAG factory only wires these together.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from include import release_ledger, request_rounds
from include.access import start_refusal
from include.archive_chain import CHAIN_FILE, write_chain
from include.eligibility import Refusal
from include.notifications import Email
from include.permissions import (
    NotPermitted,
    assign_officers,
    verify_data_owner,
    verify_officer_responses,
)
from include.pipeline import Pipeline
from include.registry import Project
from include.release import hold_if_chain_broken
from include.request_checks import check_summary, report_incident
from include.request_kinds import RequestKind, kind_for, snapshot_place
from include.request_rounds import snapshot_manifest
from include.signoff_record import Response
from include.signoff_text import SignOffRequest, signoff_body
from include.signoffs import PASSING, validate_response
from include.states import TicketState
from include.storage import Manifest, StorageError
from include.tickets import STATS_ID, DuplicateRequest, Registration, Ticket, UnknownTicket

S = TicketState
_RUN_OF_ROUND = re.compile(r"^(STATS\d{5,})-r(\d+)$")
_COUNT = {1: "one", 2: "two"}


class AlreadySubmitted(ValueError):
    """The folder is already another ticket's request."""


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
    A run naming a STATS-ID that is no request of this kind, or naming no STATS-ID and no
    project or researcher, is refused (NotPermitted) before anything is registered.
    """
    project, folder, requester = str(project).strip(), str(folder).strip(), str(requester).strip()
    _check_starter(p, started_by, run_id, stats_id)
    ticket = None
    if stats_id:
        ticket = _ticket_for_run(p, stats_id, run_id, kind)
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
        _check_names_a_request(run_id, project, requester)
        try:
            ticket = p.store.create(
                kind=kind,
                project=project[:64],
                requester=requester[:64],
                folder=folder[:255],
                actor=requester[:64],
                destination_project=(str(destination).strip()[:10] or None)
                if destination
                else None,
                details={**(details or {}), "intake_run_id": run_id},
            )
        except DuplicateRequest as exc:
            # The open-folder unique index: this folder is already an open request's.
            raise NotPermitted(
                f"run {run_id} refused: {exc}; to revise it, copy it to "
                f"{next_version(folder)!r} and resubmit {exc.existing.stats_id}"
            ) from None
    _note_start(p, ticket, run_id, started_by)
    if ticket.state == S.REJECTED:  # a retried intake of a refused request
        return IntakeResult(False, ticket.stats_id, ticket.round, _stored_refusals(ticket))
    if ticket.state == S.CLOSED_PROJECT_ENDED:
        return _closed(ticket)
    if ticket.state != S.RECEIVED:
        return IntakeResult(True, ticket.stats_id, ticket.round)

    request_kind = kind_for(ticket.kind)
    reasons = request_kind.eligibility(p, ticket)
    if not reasons:
        reasons = request_kind.folder_and_form(p, ticket, ticket.folder, ticket.requester)
    if reasons:
        return _refuse(p, ticket, reasons)
    _accept(p, ticket, request_kind, run_id)
    return IntakeResult(True, ticket.stats_id, ticket.round)


def _check_starter(p: Pipeline, started_by: str | None, run_id: str, stats_id: str | None) -> None:
    """Refuse a run started by someone who may not start request runs (before any ticket)."""
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


def _check_names_a_request(run_id: str, project: str, requester: str) -> None:
    """A new request names its project and researcher: without them there is nothing to
    register and nobody to tell, so the run is refused (no ticket, no retries)."""
    missing = [
        label for label, value in (("project", project), ("researcher", requester)) if not value
    ]
    if missing:
        raise NotPermitted(
            f"run {run_id} refused: it names no STATS-ID and no {' or '.join(missing)}; a new "
            "request names its project, folder and researcher (a resubmission, its STATS-ID)"
        )


def _ticket_for_run(p: Pipeline, stats_id: str, run_id: str, kind: str) -> Ticket:
    """The ticket a run with ``stats_id`` in its conf may act on: only its registered first
    round, or the next round after revisions were requested (run ``<STATS-ID>-r<n>``)."""
    if not STATS_ID.match(stats_id):
        raise NotPermitted(
            f"run {run_id} refused: {stats_id!r} is not a STATS-ID (STATS and five or more "
            "digits); leave it empty for a new request"
        )
    try:
        ticket = p.store.get(stats_id)
    except UnknownTicket:
        raise NotPermitted(
            f"run {run_id} refused: there is no request {stats_id}; leave the STATS-ID empty "
            "for a new request, or give the STATS-ID of the request being resubmitted"
        ) from None
    if ticket.kind != kind_for(kind).name:
        raise NotPermitted(
            f"run {run_id} refused: {stats_id} is a request of kind {ticket.kind!r}, and this "
            f"run is of kind {kind!r}"
        )
    if ticket.state == S.REVISIONS_REQUESTED:
        expected = f"{stats_id}-r{ticket.round + 1}"
    else:
        expected = ticket.run_id
    if run_id in (expected, request_rounds.run_of(ticket)):
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


class StartsRuns(Protocol):
    """What starting a run needs of Airflow (``include.airflow_api.AirflowAPI``, or a fake).

    A run id is unique in Airflow: a second start of the same id raises ``RunExists``."""

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Submission:
    """A submission registered and its first run started (or found started)."""

    ticket: Ticket
    created: bool  # this call registered the ticket; False: the folder's open ticket was found
    started: bool  # this call started the run; False: Airflow already had it (409)

    @property
    def run_id(self) -> str:
        return first_run_id(self.ticket)


def first_run_id(ticket: Ticket) -> str:
    """The run a registered submission is started as (DESIGN.md principle 2)."""
    return f"{ticket.stats_id}-r1"


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
    return _registration(
        p,
        kind=kind,
        project=project,
        folder=folder,
        requester=requester,
        via=via,
        destination=destination,
        details=details,
    ).ticket


def _registration(
    p: Pipeline,
    *,
    kind: str,
    project: str,
    folder: str,
    requester: str,
    via: str,
    destination: str | None,
    details: dict[str, Any] | None,
) -> Registration:
    """Insert the ticket; the open-folder unique index decides between racers (one ticket).

    A folder a closed ticket holds, or an earlier round of any ticket used, is outside the
    index; those are refused first (history does not race: a folder, once used, stays used).
    """
    kind = kind_for(kind).name
    for ticket in p.store.find(project=project, kind=kind):
        if folder not in ticket.folders_used() or ticket.state == S.REJECTED:
            continue
        if ticket.is_open and ticket.folder == folder:
            continue  # the index's case: store.register hands it back
        raise _already_submitted(ticket, folder)
    registration = p.store.register(
        kind=kind,
        project=project,
        requester=requester,
        folder=folder,
        actor=requester,
        destination_project=destination,
        details={**(details or {}), "submitted_via": via},
    )
    held = registration.ticket
    if registration.created or (
        held.state == S.RECEIVED and held.round == 1 and held.destination_project == destination
    ):
        return registration  # registered, or registered and its run perhaps not started yet
    raise _already_submitted(held, folder)


def _already_submitted(ticket: Ticket, folder: str) -> AlreadySubmitted:
    return AlreadySubmitted(
        f"folder {folder!r} of project {ticket.project} is already request {ticket.stats_id} "
        f"(state {ticket.state}); to revise it, copy it to {next_version(ticket.folder)!r} "
        f"and resubmit {ticket.stats_id}"
    )


def submit(
    p: Pipeline,
    api: StartsRuns,
    *,
    kind: str,
    project: str,
    folder: str,
    requester: str,
    via: str,
    destination: str | None = None,
    details: dict[str, Any] | None = None,
) -> Submission:
    """Register a submission and start its run ``<STATS-ID>-r1``: one ticket, one run, however
    many sweeps and ``srs submit`` race over the folder.

    The database picks one ticket (``store.register``). Its run is started by whoever sees no
    trigger recorded on round 1: the racer that registered it, or a later one if that racer died
    between the insert and the trigger. Two may both try; Airflow keeps one run per run id and
    refuses the other (``RunExists``), which is taken as "already started". ``AirflowAPIError``
    (Airflow down) is audited and raised; the ticket stays, and a retry or the next sweep starts it.
    """
    registration = _registration(
        p,
        kind=kind,
        project=project,
        folder=folder,
        requester=requester,
        via=via,
        destination=destination,
        details=details,
    )
    ticket = registration.ticket
    started = start_first_run(p, api, ticket, folder=folder, requester=requester, actor=via)
    return Submission(ticket, registration.created, started)


def start_first_run(
    p: Pipeline, api: StartsRuns, ticket: Ticket, *, folder: str, requester: str, actor: str
) -> bool:
    """Start round 1's run of a registered ticket unless its trigger is recorded; True if this
    call started it. The trigger is recorded on the round (typed, once) either way."""
    if request_rounds.triggered_run(ticket, 1):
        return False
    return start_round_run(p, api, ticket, 1, folder=folder, requester=requester, actor=actor)


def start_round_run(
    p: Pipeline,
    api: StartsRuns,
    ticket: Ticket,
    rnd: int,
    *,
    folder: str,
    requester: str,
    actor: str,
) -> bool:
    """Trigger ``<STATS-ID>-r<rnd>`` for ``folder`` and record the trigger; True if this call
    started it, False if Airflow already has that run (its 409: another submitter won). A
    refused trigger is audited as ``run_not_started`` and raised."""
    from include.airflow_api import AirflowAPIError, RunExists

    kind = kind_for(ticket.kind)
    run_id = f"{ticket.stats_id}-r{rnd}"
    conf = {
        "project": ticket.project,
        "folder": folder,
        "researcher": requester,
        "stats_id": ticket.stats_id,
        **kind.run_params(ticket),
    }
    try:
        api.trigger(kind.dag_id, run_id, conf)
        started = True
    except RunExists:
        started = False
    except AirflowAPIError as exc:
        p.store.append_audit(
            ticket.stats_id,
            actor=actor,
            action="run_not_started",
            details={"run_id": run_id, "error": str(exc)},
        )
        raise
    p.store.record_trigger(ticket.stats_id, rnd, run_id, actor=actor, folder=folder)
    return started


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


def _accept(p: Pipeline, ticket: Ticket, kind: RequestKind, run_id: str) -> None:
    project, destination = involved_projects(p, ticket)
    if not ticket.assigned_officers:
        staff = p.officers()
        chosen = assign_officers(
            staff,
            project,
            p.store.open_load(o.username for o in staff),
            count=kind.officers_to_assign(p),
            also=[destination] if destination else [],
        )
        ticket = request_rounds.record_run(
            p.store, ticket, run_id, action="officers_assigned", assigned_officers=chosen
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
    if request_rounds.run_of(ticket) == run_id:  # a retried intake of this round
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
    kind = kind_for(ticket.kind)
    reasons = kind.eligibility(p, replace(ticket, requester=requester)) + kind.folder_and_form(
        p, ticket, folder, requester
    )
    if reasons:
        raise ValueError(f"{stats_id} was not resubmitted: " + "; ".join(str(r) for r in reasons))
    ticket = p.store.start_round(stats_id, folder=folder, actor=requester)
    ticket = request_rounds.record_run(p.store, ticket, run_id, action="round_started")
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


def take_snapshot(p: Pipeline, stats_id: str) -> dict[str, Any]:
    """Copy the submitted folder to its snapshot place (outputs: ``Output/<STATS-ID>/<folder>/``)
    with a SHA-256 manifest."""
    ticket = p.store.get(stats_id)
    taken = request_rounds.snapshot(ticket)
    if taken:  # already taken: never re-copy (the original may have changed since)
        return _snapshot_summary(taken)
    kind = kind_for(ticket.kind)
    manifest = p.storage.copy_folder(kind.source(ticket), snapshot_place(ticket))
    p.storage.write_bytes(
        kind.workspace(ticket, ticket.round),
        f"{ticket.folder}.manifest.json",
        manifest.to_json().encode(),
    )
    record = {
        "folder": ticket.folder,
        "place": snapshot_place(ticket).key,
        "manifest": manifest.to_dict(),
    }
    request_rounds.record_snapshot(p.store, ticket, record)
    return _snapshot_summary(record)


def _snapshot_summary(record: dict[str, Any]) -> dict[str, Any]:
    manifest = Manifest.from_dict(record["manifest"])
    return {"folder": record["folder"], "files": len(manifest), "bytes": manifest.total_bytes}


def run_checks(p: Pipeline, stats_id: str) -> dict[str, Any]:
    """Run ``srs check`` on the snapshot with the project's policy; store the reports.

    For a kind that returns blocked requests (ingest, transfer), a failed check leaves the
    ticket in ``checking`` for ``request_revisions``; otherwise it awaits the officers.
    """
    from include.checks.report import render_html  # the report's renderer: only this step

    ticket = p.store.get(stats_id)
    kind = kind_for(ticket.kind)
    if request_rounds.has_checks(ticket) and ticket.state != S.RECEIVED:
        summary = request_rounds.checks(ticket)
    else:
        if request_rounds.snapshot(ticket) is None:
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
            report = kind.check(p, ticket, local)
        data = report.to_dict()
        out = kind.workspace(ticket, ticket.round)
        p.storage.write_bytes(
            out, f"{ticket.folder}.check.json", json.dumps(data, indent=2).encode()
        )
        p.storage.write_bytes(
            out,
            f"{ticket.folder}.check.html",
            render_html(report, title=f"{stats_id} — {ticket.folder}").encode(),
        )
        summary = check_summary(data)
        request_rounds.record_checks(p.store, ticket, summary)
        report_incident(p, ticket, data)
    if kind.return_blocked and summary["verdict"] == "fail":
        return summary  # stays in checking: request_revisions sends it back with the findings
    p.store.transition(stats_id, S.AWAITING_OFFICERS, actor="pipeline", expected=(S.CHECKING,))
    return summary


# --- sign-offs ---------------------------------------------------------------------------------


def officer_request(p: Pipeline, stats_id: str, slot: int) -> SignOffRequest:
    """The sign-off shown to officer ``slot`` (0 or 1) of the current round."""
    ticket = p.store.get(stats_id)
    username = ticket.assigned_officers[slot]
    person = p.person(username)
    checks = request_rounds.checks(ticket)
    of = len(ticket.assigned_officers)
    subject = f"[{stats_id}] {ticket.kind.capitalize()} check {slot + 1} of {of}: project {ticket.project}, {ticket.folder} (round {ticket.round})"
    return SignOffRequest(
        subject,
        signoff_body(p, ticket, kind_for(ticket.kind).describe(ticket), officer=True),
        ((username, person.name if person else username),),
        tuple(f["path"] for f in checks.get("files", []) if f.get("role") != "form"),
    )


def data_owner_request(p: Pipeline, stats_id: str, dataset: str) -> SignOffRequest:
    """The sign-off shown to the data owners of ``dataset``."""
    ticket = p.store.get(stats_id)
    ds = _dataset(p.project(ticket.project), dataset)
    subject = (
        f"[{stats_id}] Data owner approval ({dataset}): project {ticket.project}, {ticket.folder}"
    )
    return SignOffRequest(
        subject,
        signoff_body(p, ticket, kind_for(ticket.kind).describe(ticket), officer=False),
        tuple((o.username, o.name) for o in ds.data_owners),
    )


def officers_decision(p: Pipeline, stats_id: str, responses: Sequence[Response]) -> str:
    """Record the officers' answers; return the kind's hand-over step (``release`` or
    ``place``), ``data_owner`` or ``revisions``."""
    ticket = p.store.get(stats_id)
    kind = kind_for(ticket.kind)
    project, destination = involved_projects(p, ticket)
    needed = kind.officers_needed(ticket)
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
    _record(p, ticket, responses, role="officer", blocking=request_rounds.blocking_count(ticket))
    if any(r.option != "Pass" for r in responses):
        return "revisions"
    if kind.approvals_needed(p, ticket):
        p.store.transition(
            stats_id, S.AWAITING_DATA_OWNER, actor="pipeline", expected=S.AWAITING_OFFICERS
        )
        return "data_owner"
    return kind.hand_over_step


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


def approvals_needed(p: Pipeline, stats_id: str) -> list[str]:
    """The datasets of the request whose data owners must approve it (none for ingest, transfer)."""
    ticket = p.store.get(stats_id)
    return kind_for(ticket.kind).approvals_needed(p, ticket)


def _dataset(project: Project, name: str) -> Any:
    for d in project.datasets:
        if d.name == name:
            return d
    raise NotPermitted(f"dataset {name!r} is not one of project {project.number}'s datasets")


def data_owner_decision(p: Pipeline, stats_id: str, responses: Sequence[Response]) -> str:
    """Record data owners' answers; every for-approval dataset must approve to release."""
    ticket = p.store.get(stats_id)
    project = p.project(ticket.project)
    answered = {r.dataset for r in responses}
    missing = set(kind_for(ticket.kind).approvals_needed(p, ticket)) - answered
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
    if all(r.option == "Approve" for r in responses):
        return kind_for(ticket.kind).hand_over_step
    return "revisions"


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


def reopen_signoffs(p: Pipeline, stats_id: str, *, actor: str, reason: str) -> Ticket:
    """Operations, having investigated a held request, send it back for fresh sign-offs.

    The sign-off tasks of the run are cleared by the caller; each asks its person again
    (or takes the answer Airflow already recorded for it, if one was genuinely given).
    """
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


# --- revisions, hand-over, archive -------------------------------------------------------------


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
    p.email_requester(
        ticket,
        f"revisions-r{ticket.round}",
        "revisions",
        guidance=guidance,
        by_file=list(by_file.items()),
        blocking=request_rounds.checks(ticket).get("blocking", []),
        next_version=next_version(ticket.folder),
        area=kind_for(ticket.kind).area_name(ticket),
    )
    p.store.transition(
        stats_id,
        S.REVISIONS_REQUESTED,
        actor="pipeline",
        expected=(S.AWAITING_OFFICERS, S.AWAITING_DATA_OWNER, S.CHECKING),
        details={"round": ticket.round},
    )


def verify_signoffs(p: Pipeline, ticket: Ticket) -> None:
    """Never release (or place) without the independent officer passes and every approval."""
    if ticket.state == S.SIGNOFF_HELD:
        raise NotPermitted(
            f"{ticket.stats_id} is held (signoff_held): its sign-offs were not what Airflow "
            "recorded; nothing is released or placed until operations have investigated"
        )
    kind = kind_for(ticket.kind)
    decisions = p.store.decisions(ticket.stats_id, round=ticket.round)
    passes = {d.actor for d in decisions if d.role == "officer" and d.outcome == "Pass"}
    needed = kind.officers_needed(ticket)
    if len(passes) < needed or any(d.role == "officer" and d.outcome != "Pass" for d in decisions):
        raise NotPermitted(
            f"{ticket.stats_id} round {ticket.round} lacks {_COUNT.get(needed, needed)} "
            f"independent officer pass{'es' if needed > 1 else ''}"
        )
    approved = {
        d.step.removeprefix("data_owner_")
        for d in decisions
        if d.role == "data_owner" and d.outcome == "Approve"
    }
    missing = set(kind.approvals_needed(p, ticket)) - approved
    if missing:
        raise NotPermitted(f"{ticket.stats_id} lacks data owner approval for {sorted(missing)}")


def hand_over(p: Pipeline, stats_id: str) -> dict[str, Any]:
    """Release (outputs) or place (ingest, transfer) the signed-off snapshot, once its
    sign-offs are verified again."""
    ticket = p.store.get(stats_id)
    kind = kind_for(ticket.kind)
    if ticket.state not in (kind.done, S.ARCHIVED):
        # The chain first: sign-offs counted from tampered rows would hide the tampering.
        hold_if_chain_broken(p, ticket, kind.hand_over_step)
        verify_signoffs(p, ticket)
    return kind.hand_over(p, ticket)


def release(p: Pipeline, stats_id: str) -> dict[str, Any]:
    """Email the cleared output files, verified against the manifest just before sending."""
    return _hand_over_as(p, stats_id, "release")


def place(p: Pipeline, stats_id: str) -> dict[str, Any]:
    """Copy a signed-off ingest or transfer into the receiving project's ``Input/<STATS-ID>/``."""
    return _hand_over_as(p, stats_id, "place")


def _hand_over_as(p: Pipeline, stats_id: str, step: str) -> dict[str, Any]:
    kind = kind_for(p.store.get(stats_id).kind)
    if kind.hand_over_step != step:
        raise ValueError(
            f"{stats_id} is a {kind.name} request: it is handed over by {kind.hand_over_step!r}, "
            f"not {step!r}"
        )
    return hand_over(p, stats_id)


def archive(p: Pipeline, stats_id: str) -> dict[str, Any]:
    """Close the ticket with a permanent folder: snapshots, manifests, reports, decisions, emails,
    the audit trail and its chain (``chain.json``: head and events, see include.archive_chain)."""
    ticket = p.store.get(stats_id)
    if ticket.state == S.ARCHIVED:
        # The move to archived may have been applied without this task hearing so (the
        # database went away before its COMMIT was acknowledged): the audit trail, written
        # last, is then still to be written.
        where = p.archive_place(ticket)
        if not p.storage.exists(where, "audit.json"):
            p.archive_json(ticket, "audit.json", p.store.audit(stats_id))
        if not p.storage.exists(where, CHAIN_FILE):
            write_chain(p, stats_id)
        return {"archived": True, "already": True, "place": where.key}
    where = p.archive_place(ticket)
    kind = kind_for(ticket.kind)
    for rnd in range(1, ticket.round + 1):
        record = request_rounds.snapshot(ticket, rnd)
        if not record:
            continue
        folder = record["folder"]
        src = kind.workspace(ticket, rnd)
        if src.child(folder) != where.child(f"round{rnd}/{folder}"):  # a quarantine is kept as is
            p.storage.copy_folder(src.child(folder), where.child(f"round{rnd}/{folder}"))
        p.archive_json(ticket, f"round{rnd}/manifest.json", record["manifest"])
        for suffix in ("check.json", "check.html"):
            if p.storage.exists(src, f"{folder}.{suffix}"):
                p.storage.write_bytes(
                    where, f"round{rnd}/{suffix}", p.storage.read_bytes(src, f"{folder}.{suffix}")
                )
    p.archive_json(ticket, "decisions.json", p.store.decisions(stats_id))
    # The tables this request released, as the project's ledger recorded them (issue #13).
    p.archive_json(ticket, "ledger.json", release_ledger.ledger_json(p.store, stats_id))
    p.archive_json(ticket, "ticket.json", ticket)
    p.store.transition(stats_id, S.ARCHIVED, actor="pipeline", expected=kind.done)
    p.archive_json(ticket, "audit.json", p.store.audit(stats_id))
    write_chain(p, stats_id)  # the chain's head and events, re-verifiable from the archive
    return {"archived": True, "place": where.key}
