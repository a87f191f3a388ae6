"""Data minimisation for ingests and transfers (guidance section 4).

"Only data necessary for achieving the documented goals are permitted in projects. Any
superfluous files, data or variables, or other material will be rejected." So:

* every file in the folder must be listed on the ingest request form (``file_not_on_form``,
  block);
* every column of every table (CSV, TSV, each visible sheet of an XLSX) must be one of the
  receiving project's approved variables in the registry, and so must every variable the form
  declares (``superfluous_variable``, block). A finding names the file, sheet and column.

Column names are compared case-insensitively, with runs of spaces, dots and dashes read as
``_`` (``Energy Use kWh`` is ``energy_use_kwh``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from include.checks.findings import Finding, Location, Severity
from include.checks.report import CheckReport

SUPERFLUOUS = "superfluous_variable"
NOT_ON_FORM = "file_not_on_form"
MAX_PER_FILE = 50  # superfluous columns listed per table before a summary
TABLE_TYPES = frozenset({"csv", "tsv", "xlsx"})


def variable_key(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).casefold()).strip("_")


def table_columns(path: Path, table_type: str) -> Iterator[tuple[str | None, str]]:
    """(sheet, column header) for every column of a table file; sheet is None for CSV/TSV."""
    from include.checks import tabular

    if table_type == "xlsx":
        for source in tabular._xlsx_sources(path):
            for header in source.headers:
                yield source.sheet, header
        return
    delimiter = "\t" if table_type == "tsv" else ","
    for header in tabular.csv_headers(path, delimiter):
        yield None, header


def _superfluous(
    rel: str,
    sheet: str | None,
    column: str,
    project: str,
    kind: str = "column",
    row: int | None = None,
) -> Finding:
    shown = repr(column) if column.strip() else "(an unnamed column)"
    in_sheet = f", sheet {sheet!r}" if sheet else ""
    return Finding(
        rule=SUPERFLUOUS,
        severity=Severity.BLOCK,
        kind=kind,
        message=f"Column {shown} of {rel!r}{in_sheet} is not an approved variable of project "
        f"{project}. Remove it (data minimisation), or request an addendum to the project's "
        "approved variables first.",
        location=Location(file=rel, sheet=sheet, column=column or None, row=row),
    )


def check_minimisation(
    root: Path,
    files: Iterable[tuple[str, str]],
    form,
    form_rel: str | None,
    approved: Iterable[str],
    project: str,
) -> list[Finding]:
    """Findings for the folder ``root`` holding ``files`` ((relative path, detected type), as the
    check report lists them), described by ``form`` (an IngestForm, or None when it is missing),
    against the ``approved`` variables of the receiving ``project``."""
    from include.checks.engine import _match_form

    allowed = {variable_key(v) for v in approved}
    files = [(rel, kind) for rel, kind in files if rel != form_rel]
    findings: list[Finding] = []
    listed = _match_form(form, [rel for rel, _ in files]) if form is not None else {}
    for rel, kind in files:
        if rel not in listed and kind not in ("hidden", "link"):
            findings.append(
                Finding(
                    rule=NOT_ON_FORM,
                    severity=Severity.BLOCK,
                    kind="not_listed",
                    message=f"{rel!r} is not listed on the request form. Every file must be listed "
                    "with its purpose (data minimisation): list it on the Files sheet, or remove it.",
                    location=Location(file=rel),
                )
            )
        if kind in TABLE_TYPES:
            findings += _columns(root, rel, kind, allowed, project)
    for i, entry in enumerate(form.files if form is not None else []):
        if entry.name and i not in listed.values():
            findings.append(
                Finding(
                    rule=NOT_ON_FORM,
                    severity=Severity.REVIEW,
                    kind="listed_not_present",
                    message=f"The form lists {entry.name!r} but no such file is in the folder.",
                    location=Location(file=form_rel, sheet="Files", row=entry.row),
                )
            )
        for variable in entry.variables:
            if variable_key(variable) not in allowed:
                findings.append(
                    _superfluous(
                        form_rel or "request form",
                        "Files",
                        variable,
                        project,
                        kind="on_form",
                        row=entry.row,
                    )
                )
    return findings


def _columns(root: Path, rel: str, kind: str, allowed: set[str], project: str) -> list[Finding]:
    found: list[Finding] = []
    try:
        columns = list(table_columns(root.joinpath(*rel.split("/")), kind))
    except Exception:  # an unreadable table is already an `unreadable` finding of the engine
        return found
    extra = [(sheet, col) for sheet, col in columns if variable_key(col) not in allowed]
    for sheet, col in extra[:MAX_PER_FILE]:
        found.append(_superfluous(rel, sheet, col, project))
    if len(extra) > MAX_PER_FILE:
        rest = ", ".join(repr(c) for _, c in extra[MAX_PER_FILE:][:20])
        found.append(
            Finding(
                rule=SUPERFLUOUS,
                severity=Severity.BLOCK,
                kind="column",
                message=f"{len(extra) - MAX_PER_FILE} more columns of {rel!r} are not approved "
                f"variables of project {project}: {rest}…",
                location=Location(file=rel),
            )
        )
    return found


def apply(report: CheckReport, findings: Iterable[Finding]) -> CheckReport:
    """Attach findings to the report: each to its file's result, else to the request."""
    by_path = {fr.path: fr for fr in report.files}
    for f in findings:
        target = by_path.get(f.location.file or "")
        (target.findings if target is not None else report.findings).append(f)
    return report
