"""Ingest and transfer requests (guidance section 4), on the output requests' own steps.

An **ingest** brings material from outside the SRS into a project: the researcher places the
files and a completed ingest request form in ``ingest/<project>/<folder>/``. A **transfer**
copies a folder from one project's ``Working/`` or ``Ready for Checking/`` to another project.

Both use the steps of :mod:`include.output_requests` (intake, snapshot, checks, officers'
decision, revisions, archive) through the two :class:`~include.output_requests.Flow` objects
below; this module adds only what is theirs:

* eligibility: a named researcher on a live project of any kind (transfer: on both projects);
* the quarantine: each round's snapshot is taken straight into the ticket's archive folder
  (``archive/<project>/<STATS-ID>/round<n>/<folder>``), outside every project area;
* the checks: file, identifier and model rules with the receiving project's policy, plus data
  minimisation (:mod:`include.checks.minimisation`); SDC table rules do not apply (nothing is
  released). A blocking finding sends the request straight back to the researcher;
* placement (:func:`place`): the verified snapshot is copied to the receiving project's
  ``Input/<STATS-ID>/`` with a manifest (``placing`` → ``placed``), the requester is emailed,
  and only then, for an ingest, is the landing folder cleared. A transfer's source is never
  modified.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from include.checks.findings import Finding, Severity
from include.checks.ingest_form import FormError, missing_ingest_fields, read_ingest_form
from include.output_requests import (
    READY,
    Flow,
    IntakeResult,
    _folder_and_form,
    _verify_signoffs,
    intake,
    involved_projects,
    registered_project,
    snapshot_manifest,
    snapshot_place,
)
from include.permissions import NotPermitted
from include.pipeline import Pipeline
from include.request_policy import Refusal, ingest_eligibility, may_place, transfer_eligibility
from include.states import TicketState
from include.storage import ARCHIVE, INGEST, Place, StorageError
from include.tickets import Ticket

S = TicketState
INPUT = "Input"
SOURCE_AREAS = ("Working", READY)


def receiving_project(ticket: Ticket) -> str:
    """The project the files go into: the transfer's destination, else the ticket's project."""
    return ticket.destination_project or ticket.project


def quarantine(ticket: Ticket, rnd: int) -> Place:
    """Where round ``rnd`` is snapshotted and checked: the ticket's own archive folder."""
    return Place(ticket.project, ARCHIVE, f"{ticket.stats_id}/round{rnd}")


def placement(ticket: Ticket) -> Place:
    return Place(receiving_project(ticket), INPUT, ticket.stats_id)


# --- intake ------------------------------------------------------------------------------------


def intake_ingest(
    p: Pipeline,
    *,
    project: str,
    folder: str,
    requester: str,
    run_id: str,
    stats_id: str | None = None,
    started_by: str | None = None,
) -> IntakeResult:
    _same_kind(p, stats_id, "ingest")
    return intake(
        p,
        kind="ingest",
        project=project,
        folder=folder,
        requester=requester,
        run_id=run_id,
        stats_id=stats_id,
        started_by=started_by,
    )


def intake_transfer(
    p: Pipeline,
    *,
    project: str,
    source_area: str,
    folder: str,
    destination: str,
    requester: str,
    run_id: str,
    stats_id: str | None = None,
    started_by: str | None = None,
) -> IntakeResult:
    """``project`` is the source; ``source_area`` its Working or Ready for Checking."""
    _same_kind(p, stats_id, "transfer")
    return intake(
        p,
        kind="transfer",
        project=project,
        folder=folder,
        requester=requester,
        run_id=run_id,
        stats_id=stats_id,
        destination=destination,
        details={"source_area": str(source_area).strip()},
        started_by=started_by,
    )


def _same_kind(p: Pipeline, stats_id: str | None, kind: str) -> None:
    if stats_id and (found := p.store.get(stats_id).kind) != kind:
        raise ValueError(f"{stats_id} is not a {kind} request (its kind is {found})")


def _ingest_eligibility(p: Pipeline, ticket: Ticket) -> list[Refusal]:
    project = registered_project(p, ticket.project)
    if isinstance(project, Refusal):
        return [project]
    return ingest_eligibility(project, ticket.requester, p.today())


def _transfer_eligibility(p: Pipeline, ticket: Ticket) -> list[Refusal]:
    source = registered_project(p, ticket.project, "source")
    destination = registered_project(p, ticket.destination_project or "", "destination")
    if isinstance(source, Refusal) or isinstance(destination, Refusal):
        return [r for r in (source, destination) if isinstance(r, Refusal)]
    return transfer_eligibility(source, destination, ticket.requester, p.today())


def _read_form(transfer: bool):
    def read(local: Path) -> tuple[Any, list[Any]]:
        form = read_ingest_form(local)
        return form, missing_ingest_fields(form, transfer=transfer)

    return read


def _ingest_folder(p: Pipeline, ticket: Ticket, folder: str) -> list[Refusal]:
    return _folder_and_form(
        p, ticket.project, folder, area=INGEST, kind="ingest", read_form=_read_form(False)
    )


def _transfer_folder(p: Pipeline, ticket: Ticket, folder: str) -> list[Refusal]:
    area = ticket.details.get("source_area", "")
    if area not in SOURCE_AREAS:
        return [
            Refusal(
                "link_or_escape",
                f"a transfer is copied from the source project's Working or Ready for Checking "
                f"folder, not from {area!r}",
            )
        ]
    expect = {"project": ticket.project, "folder": folder}
    expect["destination"] = ticket.destination_project or ""
    return _folder_and_form(
        p,
        ticket.project,
        folder,
        area=area,
        kind="transfer",
        read_form=_read_form(True),
        expect=expect,
    )


# --- checks ------------------------------------------------------------------------------------


def check_incoming(p: Pipeline, ticket: Ticket, local: Path) -> Any:
    """The check report of an ingest or transfer snapshot, against the receiving project."""
    from include.checks.engine import SDC_RULES, check_path, folder_name_problem
    from include.checks.minimisation import apply, check_minimisation
    from include.projects import policy_of

    receiving = p.project(receiving_project(ticket))
    policy = policy_of(receiving, kind=ticket.kind, max_file_bytes=p.settings.max_file_bytes)
    # The form is recognised by its name and not checked; every other file will be placed.
    report = check_path(local, policy, incoming=True)
    for fr in report.files:  # SDC rules protect released tables; nothing here is released
        fr.findings = [f for f in fr.findings if f.rule not in SDC_RULES]
    form_rel = next((fr.path for fr in report.files if fr.role == "form"), None)
    form = None
    if form_rel is not None:
        try:
            form = read_ingest_form(local.joinpath(*form_rel.split("/")))
        except FormError as exc:
            report.findings.append(_block("request_form_incomplete", str(exc)))
    else:
        report.findings.append(
            _block("request_form_missing", "the completed ingest request form is not in the folder")
        )
    files = [(fr.path, fr.type) for fr in report.files]
    approved = policy.approved_variables or frozenset()
    apply(report, check_minimisation(local, files, form, form_rel, approved, receiving.number))
    problem = folder_name_problem(local.name)
    if problem:
        report.findings.append(
            Finding("folder_name", Severity.REVIEW, f"{problem[0].upper()}{problem[1:]}.")
        )
    return report


def _block(rule: str, message: str) -> Finding:
    return Finding(rule, Severity.BLOCK, message)


# --- placement ---------------------------------------------------------------------------------


def place(p: Pipeline, stats_id: str) -> dict[str, Any]:
    """Copy the signed-off snapshot into the receiving project's ``Input/<STATS-ID>/``.

    Each part is done once: the copy (verified against the intake manifest), the move to
    ``placed``, the email, and for an ingest the clearing of the landing folder, which happens
    only after the copy in ``Input/`` is verified.
    """
    ticket = p.store.get(stats_id)
    if ticket.kind not in FLOWS:
        raise ValueError(f"{stats_id} is not an ingest or transfer; only those are placed")
    if ticket.state not in (S.PLACED, S.ARCHIVED):
        project, _ = involved_projects(p, ticket)
        _verify_signoffs(p, ticket, project)
        verdict = ticket.details.get(f"checks_r{ticket.round}", {}).get("verdict")
        if verdict != "pass":
            raise NotPermitted(f"{stats_id}: the automated checks did not pass; nothing is placed")
        ticket = p.store.transition(
            stats_id, S.PLACING, actor="pipeline", expected=(S.AWAITING_OFFICERS, S.PLACING)
        )
        if not may_place(ticket.state):
            raise NotPermitted(f"{stats_id} is in state '{ticket.state}'; nothing is placed")
        record = _copy_to_input(p, ticket)
        ticket = p.store.transition(
            stats_id,
            S.PLACED,
            actor="pipeline",
            expected=S.PLACING,
            details={"input": record["place"], "files": len(record["files"])},
        )
    record = ticket.details[f"placed_r{ticket.round}"]
    manifest = snapshot_manifest(ticket)
    p.email_requester(
        ticket,
        "placed",
        "placed",
        destination=receiving_project(ticket),
        files=list(manifest),
        officers=len(ticket.assigned_officers),
    )
    if ticket.kind == "ingest":
        _clear_landing(p, ticket)
    return {"placed": True, "input": record["place"], "files": record["files"]}


def _copy_to_input(p: Pipeline, ticket: Ticket) -> dict[str, Any]:
    key = f"placed_r{ticket.round}"
    if key in ticket.details:
        return ticket.details[key]
    manifest = snapshot_manifest(ticket)
    source = snapshot_place(ticket)
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
    p.store.set_fields(
        ticket.stats_id, actor="pipeline", action="placed_and_verified", details={key: record}
    )
    return record


def _clear_landing(p: Pipeline, ticket: Ticket) -> None:
    """Remove every round's folder from the ingest area, once the copy in Input is verified."""
    if "landing_cleared" in ticket.details:
        return
    if not ticket.details.get(f"placed_r{ticket.round}", {}).get("verified"):
        raise StorageError(f"{ticket.stats_id}: the copy in Input is not verified; nothing cleared")
    folders = sorted({v["folder"] for k, v in ticket.details.items() if k.startswith("snapshot_r")})
    for folder in folders:
        p.storage.delete_folder(Place(ticket.project, INGEST, folder))
    p.store.set_fields(
        ticket.stats_id,
        actor="pipeline",
        action="landing_cleared",
        details={"landing_cleared": folders},
    )


def _incoming(kind: str, source, eligibility, folder_and_form) -> Flow:
    return Flow(
        kind=kind,
        source=source,
        workspace=quarantine,
        eligibility=eligibility,
        folder_and_form=folder_and_form,
        officers=lambda p: p.settings.ingest_officers,
        check=check_incoming,
        done=S.PLACED,
        all_passed="place",
        return_blocked=True,
    )


FLOWS: dict[str, Flow] = {
    "ingest": _incoming(
        "ingest",
        lambda t: Place(t.project, INGEST, t.folder),
        _ingest_eligibility,
        _ingest_folder,
    ),
    "transfer": _incoming(
        "transfer",
        lambda t: Place(t.project, t.details.get("source_area", READY), t.folder),
        _transfer_eligibility,
        _transfer_folder,
    ),
}
