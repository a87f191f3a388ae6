"""The check engine: walk a request folder (never following links), route each file to its
checkers, and assemble the report. `check_path` is the one entry point.

Safety: the walk uses os.scandir and lstat only; a symbolic link (or a Windows reparse point)
anywhere, or a path whose real location is outside the folder, is `link_or_escape` and is never
read. Special files (FIFOs, sockets, devices) are never opened. Every per-file checker runs under
a guard: an unexpected exception becomes an `unreadable` finding on that file, never a crash.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from include.checks import acro
from include.checks import files as fl
from include.checks import filetypes as ft
from include.checks.findings import Finding, Location, Severity
from include.checks.policy import CheckPolicy
from include.checks.report import CheckReport, FileResult
from include.checks.request_form import (
    FormError,
    OutputForm,
    is_form_name,
    missing_fields,
    read_output_form,
)

if TYPE_CHECKING:
    from include.checks.secondary import LedgerIndex
    from include.checks.table_profile import TableProfile

__all__ = ["CheckReport", "FileResult", "check_path", "folder_name_problem"]

MAX_ENTRIES = 20_000
MAX_DEPTH = 32
ROLE_OUTPUT, ROLE_SUPPORTING, ROLE_FORM = "output", "supporting", "form"
ROLES = (ROLE_OUTPUT, ROLE_SUPPORTING)

# Statistical rules that protect released tables; on supporting material (never released) they
# are kept for the officer but downgraded to info.
SDC_RULES = frozenset(
    {
        "threshold",
        "zero_cell",
        "dominance",
        "p_ratio",
        "negative_values",
        "min_max",
        "degrees_of_freedom",
        "missing_counts",
    }
)


def _f(
    rule: str,
    severity: Severity,
    message: str,
    rel: str | None = None,
    kind: str | None = None,
    **where,
) -> Finding:
    return Finding(
        rule=rule,
        severity=severity,
        message=message,
        kind=kind,
        location=Location(file=rel, **where),
    )


class _Entry:
    __slots__ = ("path", "rel", "st", "problem")

    def __init__(
        self, path: str, rel: str, st: os.stat_result | None, problem: Finding | None = None
    ):
        self.path, self.rel, self.st, self.problem = path, rel, st, problem


def _is_reparse(st: os.stat_result) -> bool:
    attrs = getattr(st, "st_file_attributes", 0)
    return bool(attrs & getattr(stat, "FILE_ATTRIBUTE_REPARSE_POINT", 0x400)) and hasattr(
        st, "st_file_attributes"
    )


def _link(rel: str, target: str | None) -> Finding:
    where = f" (it points to {target!r})" if target else ""
    return _f(
        "link_or_escape",
        Severity.BLOCK,
        f"{rel!r} is a symbolic link or shortcut{where}; links are never followed. Put the "
        "real file in the folder instead.",
        rel,
    )


def _walk(root: str, real_root: str, report_findings: list[Finding]) -> list[_Entry]:
    entries: list[_Entry] = []
    stack: list[tuple[str, str, int]] = [(root, "", 0)]
    while stack:
        directory, prefix, depth = stack.pop()
        try:
            with os.scandir(directory) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            report_findings.append(
                _f(
                    "unreadable",
                    Severity.BLOCK,
                    f"Folder {prefix or '.'!r} cannot be listed: {exc.strerror}.",
                    prefix or None,
                    kind="folder",
                )
            )
            continue
        subdirs = []
        for e in children:
            rel = f"{prefix}{e.name}"
            if len(entries) >= MAX_ENTRIES:
                report_findings.append(
                    _f(
                        "too_large",
                        Severity.BLOCK,
                        f"The folder holds more than {MAX_ENTRIES:,} entries; the "
                        "rest were not checked.",
                        None,
                        kind="folder",
                    )
                )
                return entries
            try:
                st = e.stat(follow_symlinks=False)
            except OSError as exc:
                entries.append(
                    _Entry(
                        e.path,
                        rel,
                        None,
                        _f(
                            "unreadable",
                            Severity.BLOCK,
                            f"Cannot read the file's details: {exc.strerror}.",
                            rel,
                        ),
                    )
                )
                continue
            if stat.S_ISLNK(st.st_mode) or _is_reparse(st):
                try:
                    target = os.readlink(e.path)
                except OSError:
                    target = None
                entries.append(_Entry(e.path, rel, st, _link(rel, target)))
                continue
            real = os.path.realpath(e.path)
            if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
                entries.append(
                    _Entry(
                        e.path,
                        rel,
                        st,
                        _f(
                            "link_or_escape",
                            Severity.BLOCK,
                            f"{rel!r} resolves outside the request folder; it was not read.",
                            rel,
                        ),
                    )
                )
                continue
            if stat.S_ISDIR(st.st_mode):
                if depth + 1 > MAX_DEPTH:
                    report_findings.append(
                        _f(
                            "too_large",
                            Severity.BLOCK,
                            f"Folders nested deeper than {MAX_DEPTH} levels at "
                            f"{rel!r} were not checked.",
                            rel,
                            kind="folder",
                        )
                    )
                    continue
                subdirs.append((e.path, rel + "/", depth + 1))
                continue
            if not stat.S_ISREG(st.st_mode):
                entries.append(
                    _Entry(
                        e.path,
                        rel,
                        st,
                        _f(
                            "unchecked_file_type",
                            Severity.BLOCK,
                            "This is a special file (pipe, socket or device), not a regular file; it was "
                            "not opened.",
                            rel,
                            kind="special",
                        ),
                    )
                )
                continue
            entries.append(_Entry(e.path, rel, st))
        stack.extend(reversed(subdirs))
    entries.sort(key=lambda x: x.rel)
    return entries


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    with os.fdopen(os.open(path, flags), "rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            h.update(block)
    return h.hexdigest()


def _guard(rel: str, fn, *args) -> list[Finding]:
    try:
        return list(fn(*args))
    except ImportError:
        raise  # a missing checker module is a deployment error, not a property of the file
    except RecursionError:
        return [
            _f(
                "unreadable",
                Severity.BLOCK,
                "The file is nested too deeply to be parsed safely.",
                rel,
                kind="error",
            )
        ]
    except Exception as exc:
        summary = f"{type(exc).__name__}: {exc}"
        if len(summary) > 300:
            summary = summary[:297] + "..."
        return [
            _f(
                "unreadable",
                Severity.BLOCK,
                f"The file could not be checked ({summary}). Save it again in a standard format.",
                rel,
                kind="error",
            )
        ]


def _content(entry: _Entry, cls: fl.FileClass, policy: CheckPolicy) -> list[Finding]:
    from include.checks import code, documents, spreadsheets

    path = Path(entry.path)
    rel = entry.rel
    if cls.route == fl.ROUTE_SPREADSHEET:
        return spreadsheets.check_workbook(path, rel, policy, cls.ooxml or "xlsx")
    if cls.route == fl.ROUTE_TABLE:
        fmt = cls.table_format or "csv"
        return fl.csv_formula_findings(path, rel, fmt) + spreadsheets.check_delimited(
            path, rel, fmt, policy
        )
    if cls.route == fl.ROUTE_DOCUMENT:
        if cls.type == "pdf":
            return documents.check_pdf(path, rel, policy)
        return documents.check_ooxml_document(path, rel, policy, cls.ooxml or "docx")
    if cls.route == fl.ROUTE_TEXT:
        return documents.check_text(path, rel, policy)
    if cls.route == fl.ROUTE_CODE:
        return code.check_code(path, rel, cls.language or "unknown", policy)
    if cls.route == fl.ROUTE_NOTEBOOK:
        return code.check_notebook(path, rel, policy)
    return []


def _check_file(
    entry: _Entry, role: str, policy: CheckPolicy, sha: str | None = None
) -> FileResult:
    """``sha``: the file's SHA-256 when the caller has already computed it."""
    rel = entry.rel
    size = entry.st.st_size if entry.st is not None else None
    if entry.problem is not None:
        kind = "link" if entry.problem.rule == "link_or_escape" else "special"
        return FileResult(rel, role, kind, size if kind != "link" else None, None, [entry.problem])
    assert size is not None
    findings: list[Finding] = []
    holder: list[fl.FileClass] = []

    def classify() -> list[Finding]:
        c = fl.classify(entry.path, rel, size, policy, entry.st)
        holder.append(c)
        return c.findings

    findings += _guard(rel, classify)
    cls = holder[0] if holder else fl.FileClass("unknown")
    if sha is None and size <= policy.max_file_bytes:
        try:
            sha = sha256_file(entry.path)
        except OSError as exc:
            findings.append(
                _f(
                    "unreadable",
                    Severity.BLOCK,
                    f"The file cannot be read: {exc.strerror}.",
                    rel,
                    kind="io",
                )
            )
    if role != ROLE_FORM and cls.route and not any(f.severity == Severity.BLOCK for f in findings):
        content = _guard(rel, _content, entry, cls, policy)
        if role == ROLE_SUPPORTING:
            content = [_supporting(f) for f in content]
        findings += content
    if role == ROLE_FORM:
        findings = [f for f in findings if f.rule in ("link_or_escape", "too_large")]
    return FileResult(rel, role, cls.type, size, sha, findings)


def _check_acro_file(
    entry: _Entry, role: str, policy: CheckPolicy, acro_file: acro.AcroFile
) -> FileResult:
    """A file ACRO wrote: its frequency tables' cells are all counts to us too, and ACRO's
    results apply only when the file is the one ACRO checked (same SHA-256)."""
    sha = None
    if entry.st is not None and entry.st.st_size <= policy.max_file_bytes:
        with contextlib.suppress(OSError):  # _check_file reports an unreadable file
            sha = sha256_file(entry.path)
    verified = sha is not None and acro_file.checksum == sha
    extension = ft.extension(entry.rel)
    if verified and acro_file.frequency and extension in (".csv", ".tsv"):
        from include.checks import tabular

        delimiter = "\t" if extension == ".tsv" else ","
        try:
            headers = tabular.csv_headers(Path(entry.path), delimiter)
        except Exception:  # an unreadable table is reported by its own checks
            headers = []
        counts = acro.count_columns(acro_file, headers)
        if counts:
            declared = dict(policy.declared_counts)
            declared[entry.rel] = tuple(dict.fromkeys(declared.get(entry.rel, ()) + counts))
            policy = replace(policy, declared_counts=declared)
    result = _check_file(entry, role, policy, sha)
    result.findings = acro.apply(result.findings, acro_file, Path(entry.path), verified)
    if role == ROLE_SUPPORTING:
        result.findings = [_supporting(f) for f in result.findings]
    return result


def _supporting(f: Finding) -> Finding:
    if f.rule in SDC_RULES and f.severity != Severity.INFO:
        return replace(
            f, severity=Severity.INFO, message=f"(supporting material, not released) {f.message}"
        )
    return f


# -- request form and folder ----------------------------------------------------------------------

_DATE_PREFIX = re.compile(r"^(?P<date>\d{4}[-_ .]?\d{2}[-_ .]?\d{2})(?:[-_ .]+(?P<desc>.*))?$")
_GENERIC = frozenset(
    {
        "output",
        "outputs",
        "output files",
        "request",
        "requests",
        "output request",
        "new folder",
        "folder",
        "files",
        "file",
        "results",
        "result",
        "final",
        "test",
        "untitled",
        "ready for checking",
        "data",
        "tables",
        "table",
        "stuff",
        "misc",
        "temp",
        "tmp",
        "copy",
        "new",
        "draft",
        "srs",
        "outputs for checking",
        "for checking",
        "checking",
        "my output",
        "project",
    }
)


def folder_name_problem(name: str) -> str | None:
    """Why a request folder name is not 'dated and descriptive' (None if it is)."""
    example = "e.g. 2024_01_16_EnergyUseModel_v1"
    m = _DATE_PREFIX.match(name.strip())
    if not m:
        return f"the folder name {name!r} does not start with a date (YYYY_MM_DD); {example}"
    digits = re.sub(r"\D", "", m.group("date"))
    try:
        _dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return f"the folder name {name!r} does not start with a real date (YYYY_MM_DD); {example}"
    desc = (m.group("desc") or "").strip()
    core = re.sub(r"[-_ .]*v(?:ersion)?[-_ .]?\d+$", "", desc, flags=re.I)
    words = re.sub(r"[-_.]+", " ", re.sub(r"\d+", " ", core)).strip().lower()
    words = re.sub(r"\s+", " ", words)
    if sum(ch.isalpha() for ch in core) < 3 or words in _GENERIC:
        return f"the folder name {name!r} is generic rather than descriptive; {example}"
    return None


def _norm_name(name: str) -> str:
    return name.strip().replace("\\", "/").lstrip("./").casefold()


def _form_findings(form_rel: str, form: OutputForm) -> list[Finding]:
    out = []
    for m in missing_fields(form):
        out.append(
            _f(
                "request_form_incomplete",
                Severity.BLOCK,
                f"The request form is incomplete: {m.message}.",
                form_rel,
                kind=m.field,
                sheet=m.sheet,
                row=m.row,
                cell=m.cell,
            )
        )
    return out


def _match_form(form: OutputForm, rels: list[str]) -> dict[str, int]:
    """rel path -> index of the form entry describing it (by path, else by unique base name)."""
    by_rel = {_norm_name(r): r for r in rels}
    by_base: dict[str, list[str]] = {}
    for r in rels:
        by_base.setdefault(_norm_name(r.rsplit("/", 1)[-1]), []).append(r)
    out: dict[str, int] = {}
    for i, e in enumerate(form.files):
        key = _norm_name(e.name)
        if not key:
            continue
        if key in by_rel:
            out.setdefault(by_rel[key], i)
        elif len(by_base.get(key, [])) == 1:
            out.setdefault(by_base[key][0], i)
    return out


_UNPROFILED = frozenset({"unreadable", "too_large", "link_or_escape", "unchecked_file_type"})


def _secondary(
    report: CheckReport,
    entries: list[_Entry],
    policy: CheckPolicy,
    released: Sequence[TableProfile] | LedgerIndex,
    form: OutputForm | None,
    form_entries: dict[str, int],
    acro_files: dict[str, acro.AcroFile],
) -> None:
    """Secondary disclosure on the output tables (include.checks.secondary), and the form's
    context for each output (include.checks.context); findings join their file's result."""
    from include.checks.context import context_findings
    from include.checks.secondary import secondary_findings
    from include.checks.table_profile import profile_tables

    paths = {e.rel: e.path for e in entries if e.problem is None}
    by_rel = {fr.path: fr for fr in report.files}
    for fr in report.files:
        if fr.role != ROLE_OUTPUT or fr.path not in paths:
            continue
        if form is not None and fr.path in form_entries:
            fr.findings += context_findings(form.files[form_entries[fr.path]], fr.path)
        if ft.extension(fr.path) not in (".csv", ".tsv", ".xlsx"):
            continue
        if any(f.rule in _UNPROFILED for f in fr.findings):
            continue
        declared = policy.declared_counts.get(fr.path, ())
        if fr.path in acro_files and ft.extension(fr.path) == ".csv":
            from include.checks import tabular

            # ACRO's frequency tables: every data column a count, as for the SDC checks.
            with contextlib.suppress(Exception):
                headers = tabular.csv_headers(Path(paths[fr.path]))
                declared += acro.count_columns(acro_files[fr.path], headers)
        report.tables += profile_tables(
            Path(paths[fr.path]), "", file=fr.path, sha256=fr.sha256, declared_counts=declared
        )
    if not report.tables:
        return
    try:
        found = secondary_findings(report.tables, released, policy)
    except Exception as exc:  # a bug here must not lose the rest of the report: an officer looks
        found = [
            _f(
                "differencing",
                Severity.REVIEW,
                f"The tables could not be compared with each other and the project's released "
                f"tables ({type(exc).__name__}: {exc}); an officer must check them for "
                "differencing and recoverable suppression by hand.",
                None,
                kind="error",
            )
        ]
    for f in found:
        target = by_rel.get(f.location.file or "")
        (target.findings if target is not None else report.findings).append(f)


def check_path(
    path: str | os.PathLike[str],
    policy: CheckPolicy,
    *,
    request: bool = False,
    roles: dict[str, str] | None = None,
    incoming: bool = False,
    released: Sequence[TableProfile] | LedgerIndex = (),
) -> CheckReport:
    """Check a request folder (or a single file) and return the report.

    `roles` maps relative paths (with '/') to "output" or "supporting"; it overrides the form.
    `request=True` also runs the request-form and folder rules (a folder is required).
    `incoming=True` (ingest, transfer): every file is placed, so none is supporting material,
    ACRO's own files included (their JSON stays banned).
    `released`: the project's released tables (a list, or a LedgerIndex such as
    release_ledger.StoredLedger, which loads only the tables sharing a dimension); the output tables are checked against them and
    against each other for secondary disclosure (not for incoming data, which is not released)."""
    root = Path(path)
    st = os.lstat(root)  # FileNotFoundError for a missing path, on purpose
    report = CheckReport(root=str(root))
    if stat.S_ISLNK(st.st_mode) or _is_reparse(st):
        report.findings.append(_link(root.name, None))
        return report
    is_dir = stat.S_ISDIR(st.st_mode)
    if request and not is_dir:
        raise ValueError("request checks need the request folder, not a single file")
    if is_dir:
        entries = _walk(str(root), os.path.realpath(root), report.findings)
    elif stat.S_ISREG(st.st_mode):
        entries = [_Entry(str(root), root.name, st)]
    else:
        entries = [
            _Entry(
                str(root),
                root.name,
                st,
                _f(
                    "unchecked_file_type",
                    Severity.BLOCK,
                    "Not a regular file; it was not opened.",
                    root.name,
                    kind="special",
                ),
            )
        ]

    explicit = {_norm_name(k): v for k, v in (roles or {}).items()}
    for k, v in explicit.items():
        if v not in ROLES:
            raise ValueError(f"role for {k!r} must be 'output' or 'supporting', got {v!r}")

    # The request form: an .xlsx whose name contains "request" and "form".
    candidates = [
        e
        for e in entries
        if e.problem is None
        and is_form_name(e.rel)
        and ft.extension(e.rel) == ".xlsx"
        and not ft.hidden_reason(e.rel)
    ]
    candidates.sort(key=lambda e: (e.rel.count("/"), e.rel))
    form: OutputForm | None = None
    form_rel: str | None = None
    form_roles: dict[str, str] = {}
    form_entries: dict[str, int] = {}  # rel -> index of its form entry
    if request:
        errors: list[tuple[str, str]] = []
        for c in candidates:
            try:
                parsed = read_output_form(c.path)
            except FormError as exc:
                errors.append((c.rel, str(exc)))
                continue
            except Exception as exc:  # guard: a hostile form is a finding, not a crash
                errors.append((c.rel, f"{type(exc).__name__}: {exc}"))
                continue
            if form is None:
                form, form_rel = parsed, c.rel
            else:
                report.findings.append(
                    _f(
                        "request_form_incomplete",
                        Severity.BLOCK,
                        f"More than one completed request form is in the folder ({form_rel!r} and "
                        f"{c.rel!r}); keep exactly one.",
                        c.rel,
                        kind="duplicate_form",
                    )
                )
        if form is None and errors:
            form_rel = errors[0][0]
            report.findings.append(
                _f(
                    "request_form_incomplete",
                    Severity.BLOCK,
                    f"The request form cannot be read: {errors[0][1]}.",
                    form_rel,
                    kind="unreadable",
                )
            )
        elif form is None:
            others = [e.rel for e in entries if is_form_name(e.rel)]
            hint = (
                f" ({', '.join(repr(o) for o in others)} is not the .xlsx form)" if others else ""
            )
            report.findings.append(
                _f(
                    "request_form_missing",
                    Severity.BLOCK,
                    "The completed output request form (an .xlsx whose name contains 'request form') "
                    f"is not in the folder{hint}. Add it, using the blank form provided.",
                    None,
                )
            )
        if form is not None and form_rel is not None:
            report.findings.extend(_form_findings(form_rel, form))
            matched = _match_form(form, [e.rel for e in entries if e.rel != form_rel])
            form_entries = matched
            for rel, i in matched.items():
                form_roles[_norm_name(rel)] = form.files[i].role
            counts = dict(policy.declared_counts)
            for rel, i in matched.items():
                cols = tuple(form.files[i].count_columns)
                if cols:
                    counts[rel] = tuple(dict.fromkeys(counts.get(rel, ()) + cols))
            policy = replace(policy, declared_counts=counts)
            described = set(matched.values())
            for i, e in enumerate(form.files):
                if i not in described and e.name:
                    report.findings.append(
                        _f(
                            "file_not_on_form",
                            Severity.REVIEW,
                            f"The form describes {e.name!r} but no such file is in the folder.",
                            form_rel,
                            kind="listed_not_present",
                            sheet="Files",
                            row=e.row,
                        )
                    )
    else:
        form_rel = candidates[0].rel if candidates else None

    acro_folders = acro.read_folders(
        (e.rel, e.path, e.st.st_size) for e in entries if e.problem is None and e.st is not None
    )
    acro_meta = {rel for folder in acro_folders for rel in folder.metadata}
    acro_files = {rel: f for folder in acro_folders for rel, f in folder.files.items()}
    for folder in acro_folders:
        report.findings += folder.findings + acro.parameter_findings(folder, policy)

    for entry in entries:
        key = _norm_name(entry.rel)
        if form_rel is not None and entry.rel == form_rel:
            role = ROLE_FORM
        else:
            # ACRO's own files are evidence for the checker unless the researcher says otherwise.
            default = ROLE_SUPPORTING if entry.rel in acro_meta and not incoming else ROLE_OUTPUT
            role = explicit.get(key) or form_roles.get(key) or default
        acro_file = acro_files.get(entry.rel)
        if acro_file is None:
            result = _check_file(entry, role, policy)
        else:
            result = _check_acro_file(entry, role, policy, acro_file)
        if entry.rel in acro_meta and role == ROLE_SUPPORTING:
            result.findings = acro.as_metadata(result.findings, entry.rel)
        report.files.append(result)

    if not incoming:
        _secondary(report, entries, policy, released, form, form_entries, acro_files)

    if request and form is not None:
        on_form = {_norm_name(r) for r in form_roles}
        for fr in report.files:
            if (
                fr.role == ROLE_FORM
                or _norm_name(fr.path) in on_form
                or fr.type in ("hidden", "link")
                or fr.path in acro_meta
            ):
                continue
            fr.findings.append(
                _f(
                    "file_not_on_form",
                    Severity.REVIEW,
                    f"{fr.path!r} is in the folder but not described on the request "
                    "form. Describe it on the Files sheet, or remove it.",
                    fr.path,
                )
            )
    if request:
        for fr in report.files:
            if fr.role == ROLE_SUPPORTING:
                fr.findings.append(
                    _f(
                        "supporting_material",
                        Severity.INFO,
                        "Supporting material: checked, but never released.",
                        fr.path,
                    )
                )
        problem = folder_name_problem(root.name)
        if problem:
            report.findings.append(
                _f("folder_name", Severity.REVIEW, f"{problem[0].upper()}{problem[1:]}.", None)
            )
        if form is not None and form.folder and _norm_name(form.folder) != _norm_name(root.name):
            report.findings.append(
                _f(
                    "folder_name",
                    Severity.REVIEW,
                    f"The form names the folder {form.folder!r} but the folder is {root.name!r}.",
                    form_rel,
                    kind="form_mismatch",
                    sheet="Request",
                )
            )
    return report
