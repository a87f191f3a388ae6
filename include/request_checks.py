"""The automated checks of a request's snapshot: each kind's report, its summary for the
ticket, and the incident a direct identifier raises (guidance section 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from include.checks.findings import Finding, Severity
from include.checks.ingest_form import FormError, read_ingest_form
from include.notifications import render
from include.projects import policy_of
from include.registry import Project
from include.tickets import Ticket


def check_output(p: Any, ticket: Ticket, local: Path) -> Any:
    """The check report of an output snapshot: every rule, SDC included (it is released), and
    the secondary-disclosure rules against the tables the project has had released."""
    from include.checks.engine import check_path
    from include.release_ledger import StoredLedger

    policy = policy_of(p.project(ticket.project), max_file_bytes=p.settings.max_file_bytes)
    # Loaded lazily: only the released tables sharing a dimension with this request's tables.
    released = StoredLedger(p.store, ticket.project, exclude=ticket.stats_id)
    return check_path(local, policy, request=True, released=released)  # type: ignore[arg-type]


def check_incoming(p: Any, ticket: Ticket, local: Path, receiving: Project) -> Any:
    """The check report of an ingest or transfer snapshot, against the ``receiving`` project:
    file, identifier and model rules and data minimisation; SDC rules protect released tables,
    and nothing here is released."""
    from include.checks.engine import SDC_RULES, check_path, folder_name_problem
    from include.checks.minimisation import apply, check_minimisation

    policy = policy_of(receiving, minimise=True, max_file_bytes=p.settings.max_file_bytes)
    # The form is recognised by its name and not checked; every other file will be placed.
    report = check_path(local, policy, incoming=True)
    for fr in report.files:
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


def _where(finding: dict[str, Any], path: str | None = None) -> str:
    loc = finding.get("location", {})
    parts = [loc.get("file") or path or ""]
    for label in ("sheet", "cell", "row", "column", "line"):
        if loc.get(label) is not None:
            parts.append(f"{label} {loc[label]}")
    return ", ".join(p for p in parts if p)


def check_summary(data: dict[str, Any]) -> dict[str, Any]:
    """What the ticket keeps of a report (``data``: its ``to_dict()``): verdict, counts, the
    first blocking findings with where they are, and each file's role."""
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


def report_incident(p: Any, ticket: Ticket, data: dict[str, Any]) -> None:
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
