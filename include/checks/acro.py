"""Output folders written by ACRO: read with ACRO's own statuses and cell lists (RULES.md).

ACRO (https://github.com/AI-SDC/ACRO) applies the SDC rules to the microdata inside the TRE, so
it sees what a finished table cannot show (the contributors behind a mean, the count behind
each cell). ``acro.finalise(path, "json")`` writes the outputs next to ``results.json`` (per
output: status, type, for each file the failing cells of each check, ACRO's row and column
labels, and any exception the researcher asked for), ``config.json`` (the parameters it ran
with) and ``checksums/<file>.txt`` (each file's SHA-256). Versions 0.4 and 1.x are read.

How the engine uses it, and why it never takes ACRO's word for more than it must:
- ACRO's failing cells become findings under our rule ids (``threshold``, ``dominance``, ...)
  at ACRO's row and column; an exception the researcher asked ACRO for is quoted to the officer.
- ACRO's frequency tables are also checked by us, every data column a count, so a forged
  "pass" cannot hide a small count we can see.
- ``missing_counts`` is dropped for ACRO's tables and models: ACRO checked the counts behind
  them on the microdata.
- ACRO's results apply to a file only if its SHA-256 is ACRO's checksum; otherwise it is an
  ordinary file and the officer is told (``acro_results``/``changed``).
- Parameters weaker than the project's (a lower threshold ...) block: ACRO's passes then prove
  nothing for this project.
- ACRO's own files (results, parameters, checksums, its session summary marked DONT_RELEASE)
  are supporting material: read, never released.
"""

from __future__ import annotations

import ast
import csv
import json
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from include.checks.findings import SDC_SEVERITY, Finding, Location, Severity
from include.checks.policy import CheckPolicy

RESULTS_NAME = "results.json"
CONFIG_NAME = "config.json"
CHECKSUMS_DIR = "checksums"
MAX_JSON_BYTES = 20 << 20  # a results.json of thousands of outputs is a few MB
MAX_LABEL_ROWS = 10_000  # rows scanned to find a labelled row of an ACRO table
RULE = "acro_results"

# ACRO check names (1.x, then 0.4) -> our rule and kind. Others are shown for review as-is.
CHECK_RULES: dict[str, tuple[str, str | None]] = {
    "MinimumThresholdCheck": ("threshold", None),
    "threshold": ("threshold", None),
    "NKCheck": ("dominance", None),
    "nk-rule": ("dominance", None),
    "PPercentCheck": ("p_ratio", None),
    "p-ratio": ("p_ratio", None),
    "MinimumDoFCheck": ("degrees_of_freedom", None),
    "PresenceOfZeroCheck": ("zero_cell", None),
    "RequiredZeroCheck": ("zero_cell", None),
    "AllSameValuesCheck": ("zero_cell", "all_same"),
    "all-values-are-same": ("zero_cell", "all_same"),
    "negative": ("negative_values", None),
}
# config.json keys, our policy field, and whether a larger value is the stricter one.
PARAMETERS = (
    ("safe_threshold", "threshold", True, "minimum count"),
    ("safe_dof_threshold", "min_degrees_of_freedom", True, "minimum degrees of freedom"),
    ("safe_nk_n", "dominance_n", True, "n of the n,k rule"),
    ("safe_nk_k", "dominance_k", False, "k of the n,k rule"),
    ("safe_pratio_p", "p_ratio", True, "p of the p% rule"),
)


@dataclass(frozen=True)
class AcroCell:
    check: str  # ACRO's name for the check
    row: str | None  # ACRO's row label
    column: str | None  # ACRO's column label


@dataclass
class AcroFile:
    """One file of one ACRO output."""

    rel: str
    uid: str
    status: str  # pass | fail | review
    output_type: str  # table | regression | custom | ...
    frequency: bool  # a table of counts
    row_levels: int  # how many leading columns hold row labels
    cells: list[AcroCell]
    summary: str
    exception: str
    checksum: str | None  # ACRO's SHA-256 of the file, from checksums/


@dataclass
class AcroFolder:
    results_rel: str
    files: dict[str, AcroFile] = field(default_factory=dict)
    metadata: set[str] = field(default_factory=set)  # ACRO's own files: never released
    parameters: dict[str, Any] | None = None
    findings: list[Finding] = field(default_factory=list)


def _finding(rule: str, severity: Severity, message: str, location: Location, kind=None):
    return Finding(rule=rule, kind=kind, severity=severity, message=message, location=location)


def _load_json(path: str, size: int) -> Any:
    if size > MAX_JSON_BYTES:
        raise ValueError(f"larger than {MAX_JSON_BYTES >> 20} MB")
    with open(path, "rb") as fh:
        return json.loads(fh.read(MAX_JSON_BYTES + 1))


def _is_acro_results(data: Any) -> bool:
    """results.json as ACRO writes it: a version and a map of outputs with uid, status, files."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        return False
    tool = data.get("tool")
    if isinstance(tool, dict) and tool.get("name") == "ACRO":
        return True
    outputs = list(data["results"].values())
    return bool(outputs) and all(
        isinstance(o, dict) and {"uid", "status", "files"} <= o.keys() for o in outputs
    )


def _label_parts(label: str) -> tuple[str, ...]:
    """A pandas MultiIndex label, written by ACRO as a tuple "('mean', 'income')", as its
    parts; a plain label as itself."""
    if label.startswith("(") and label.endswith(")"):
        try:
            value = ast.literal_eval(label)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return (label,)
        if isinstance(value, tuple) and value:
            return tuple(str(v) for v in value)
    return (label,)


def _labels(outcome: Any) -> tuple[list[str], list[str]]:
    """ACRO's column and row labels, in table order (``outcome`` is {column: {row: status}})."""
    if not isinstance(outcome, dict) or not outcome:
        return [], []
    columns = [str(c) for c in outcome]
    first = next(iter(outcome.values()))
    rows = [str(r) for r in first] if isinstance(first, dict) else []
    return columns, rows


def _is_frequency(output: dict[str, Any]) -> bool:
    fair = output.get("fair")
    if isinstance(fair, dict) and "statbarn" in fair:
        return fair.get("statbarn") == "Frequencies"  # ACRO 1.x says so
    # ACRO 0.4: a crosstab with no values and no aggregation function counts records.
    command = str(output.get("command") or "")
    method = str((output.get("properties") or {}).get("method") or "")
    return method == "crosstab" and "values" not in command and "aggfunc" not in command


def _cells(sdc: Any, columns: list[str], rows: list[str]) -> list[AcroCell]:
    if not isinstance(sdc, dict) or not isinstance(sdc.get("cells"), dict):
        return []
    out: list[AcroCell] = []
    for check, positions in sdc["cells"].items():
        for pos in positions if isinstance(positions, list) else []:
            r, c = (pos + [None, None])[:2] if isinstance(pos, list) else (None, None)
            row = rows[r] if isinstance(r, int) and 0 <= r < len(rows) else None
            col = columns[c] if isinstance(c, int) and 0 <= c < len(columns) else None
            out.append(
                AcroCell(
                    str(check),
                    " / ".join(_label_parts(row)) if row is not None else None,
                    " / ".join(_label_parts(col)) if col is not None else None,
                )
            )
    return out


def _read_checksum(by_rel: dict[str, tuple[str, int]], rel: str) -> str | None:
    entry = by_rel.get(rel)
    if entry is None or entry[1] > 256:
        return None
    with open(entry[0], encoding="ascii", errors="replace") as fh:
        text = fh.read(256).strip().lower()
    return text if len(text) == 64 and all(ch in "0123456789abcdef" for ch in text) else None


def _read_folder(results_rel: str, data: dict[str, Any], by_rel: dict[str, tuple[str, int]]):
    prefix = posixpath.dirname(results_rel)
    folder = AcroFolder(results_rel)
    here = Location(file=results_rel)

    def rel_of(name: str) -> str:
        return posixpath.join(prefix, name) if prefix else name

    folder.metadata.add(results_rel)
    for rel in by_rel:
        if rel.startswith(rel_of(CHECKSUMS_DIR) + "/"):
            folder.metadata.add(rel)
    config_rel = rel_of(CONFIG_NAME)
    if config_rel in by_rel:
        try:
            config = _load_json(*by_rel[config_rel])
            if isinstance(config, dict):
                folder.parameters = config
                folder.metadata.add(config_rel)
        except (OSError, ValueError) as exc:
            folder.findings.append(
                _finding(
                    RULE,
                    Severity.REVIEW,
                    f"ACRO's {CONFIG_NAME} cannot be read ({exc}).",
                    Location(file=config_rel),
                    kind="unreadable",
                )  # fmt: skip
            )
    for key, output in data["results"].items():
        if not isinstance(output, dict) or not isinstance(output.get("files"), list):
            continue
        uid = str(output.get("uid") or key)
        columns, rows = _labels(output.get("outcome"))
        for item in output["files"]:
            name = str(item.get("name") or "") if isinstance(item, dict) else ""
            if not name or "/" in name or "\\" in name or name in (".", ".."):
                folder.findings.append(
                    _finding(RULE, Severity.REVIEW, f"ACRO output {uid!r} names a file "
                             f"{name!r} outside its folder; it was ignored.", here, kind="bad_name")
                )  # fmt: skip
                continue
            rel = rel_of(name)
            if rel not in by_rel:
                folder.findings.append(
                    _finding(RULE, Severity.REVIEW, f"ACRO output {uid!r} lists {name!r}, which "
                             "is not in the folder.", here, kind="missing")
                )  # fmt: skip
                continue
            if uid.endswith("DONT_RELEASE"):  # ACRO's session risk summary: for the checker
                folder.metadata.add(rel)
                continue
            folder.files[rel] = AcroFile(
                rel=rel,
                uid=uid,
                status=str(output.get("status") or ""),
                output_type=str(output.get("type") or ""),
                frequency=_is_frequency(output),
                row_levels=len(_label_parts(rows[0])) if rows else 1,
                cells=_cells(item.get("sdc"), columns, rows),
                summary=" ".join(str(output.get("summary") or "").split()),
                exception=str(output.get("exception") or "").strip(),
                checksum=_read_checksum(by_rel, rel_of(f"{CHECKSUMS_DIR}/{name}.txt")),
            )
    return folder


def read_folders(entries: Iterable[tuple[str, str, int]]) -> list[AcroFolder]:
    """Every ACRO output folder among ``entries`` ((rel, path, size) of the regular files the
    engine walked; nothing else is opened). A results.json that is not ACRO's is left alone."""
    by_rel = {rel: (path, size) for rel, path, size in entries}
    folders = []
    for rel, (path, size) in sorted(by_rel.items()):
        if posixpath.basename(rel) != RESULTS_NAME:
            continue
        try:
            data = _load_json(path, size)
        except (OSError, ValueError, RecursionError):
            continue  # not JSON ACRO wrote: the file's own checks report it
        if _is_acro_results(data):
            folders.append(_read_folder(rel, data, by_rel))
    return folders


def parameter_findings(folder: AcroFolder, policy: CheckPolicy) -> list[Finding]:
    """ACRO's parameters against the project's: a weaker one blocks (rerun ACRO)."""
    here = Location(file=folder.results_rel)
    if folder.parameters is None:
        return [
            _finding(RULE, Severity.REVIEW, f"ACRO's parameters ({CONFIG_NAME}) are not in the "
                     "folder, so its statuses cannot be compared with this project's rules; "
                     "include the whole folder ACRO wrote.", here, kind="parameters")
        ]  # fmt: skip
    weaker = []
    for key, attr, larger_is_stricter, what in PARAMETERS:
        acro_value = folder.parameters.get(key)
        ours = getattr(policy, attr)
        if not isinstance(acro_value, int | float) or isinstance(acro_value, bool):
            weaker.append(f"{what} not stated (this project's is {ours})")
        elif (acro_value < ours) if larger_is_stricter else (acro_value > ours):
            weaker.append(f"{what} {acro_value} (this project's is {ours})")
    if not weaker:
        return []
    return [
        _finding(RULE, Severity.BLOCK, "ACRO ran with parameters weaker than this project's: "
                 f"{'; '.join(weaker)}. Its passes do not hold here: set the project's values in "
                 "ACRO's configuration and run it again.", here, kind="parameters")
    ]  # fmt: skip


def count_columns(acro_file: AcroFile, headers: list[str]) -> tuple[str, ...]:
    """The count columns of an ACRO frequency table: all but its row-label columns."""
    if not acro_file.frequency:
        return ()
    return tuple(h for h in headers[acro_file.row_levels :] if h)


def _row_lines(path: Path, labels: set[str], levels: int) -> dict[str, int]:
    """The line of the first row whose label cells (the first ``levels``, joined as in
    AcroCell) are each label. ACRO tables are small; at most MAX_LABEL_ROWS rows are read."""
    found: dict[str, int] = {}
    try:
        with path.open(encoding="utf-8", errors="replace", newline="") as fh:
            reader = csv.reader(fh)
            prev = 0
            for number, row in enumerate(reader):
                start, prev = prev + 1, reader.line_num
                if number >= MAX_LABEL_ROWS or len(found) == len(labels):
                    break
                label = " / ".join(row[:levels])
                if number and label in labels and label not in found:
                    found[label] = start
    except (OSError, csv.Error):
        pass
    return found


def _message(rule: str, check: str, cell: AcroCell, acro_file: AcroFile) -> str:
    where = (
        f"the cell in row {cell.row!r}, column {cell.column!r}"
        if cell.row is not None and cell.column is not None
        else "a cell"
    )
    what = {
        "threshold": "is based on fewer records than the minimum",
        "dominance": "is dominated by its largest contributors (n,k rule)",
        "p_ratio": "lets a contributor estimate the largest one (p% rule)",
        "degrees_of_freedom": "has too few residual degrees of freedom",
        "zero_cell": "is zero, full, or the same for everyone in its group",
        "negative_values": "has negative contributions, so dominance cannot be assessed",
    }.get(rule, "needs an officer's review")
    return (
        f"ACRO ({check}) found that {where} of output {acro_file.uid!r} {what}; suppress or "
        "combine cells, or rerun ACRO with suppression"
    )


def _location_key(f: Finding) -> tuple[str, int | None, str | None]:
    return (f.rule, f.location.row, f.location.column)


def apply(
    findings: list[Finding], acro_file: AcroFile, path: Path, verified: bool
) -> list[Finding]:
    """The file's findings with ACRO's results applied (see the module docstring)."""
    here = Location(file=acro_file.rel)
    if not verified:
        why = "ACRO wrote no checksum for it" if acro_file.checksum is None else (
            "it changed after ACRO wrote it (its SHA-256 is not ACRO's checksum)"
        )  # fmt: skip
        return [
            *findings,
            _finding(RULE, Severity.REVIEW, f"ACRO's results for output {acro_file.uid!r} were "
                     f"not used: {why}. The file was checked as an ordinary file; ask the "
                     "researcher why it differs, or to rerun ACRO.", here, kind="changed"),
        ]  # fmt: skip
    if acro_file.output_type == "custom":
        return findings  # ACRO checks nothing in custom outputs: ours stand alone
    out = [f for f in findings if f.rule != "missing_counts"]
    seen = {_location_key(f) for f in out}
    labels = {c.row for c in acro_file.cells if c.row is not None}
    lines = _row_lines(path, labels, acro_file.row_levels)
    blocked = False
    for cell in acro_file.cells:
        rule, kind = CHECK_RULES.get(cell.check, (RULE, cell.check))
        severity = SDC_SEVERITY.get(rule, Severity.REVIEW)
        location = Location(
            file=acro_file.rel,
            row=lines.get(cell.row) if cell.row is not None else None,
            column=cell.column,
        )
        finding = _finding(rule, severity, _message(rule, cell.check, cell, acro_file),
                           location, kind=kind)  # fmt: skip
        blocked |= severity == Severity.BLOCK
        if _location_key(finding) not in seen:  # our own check found the same cell
            seen.add(_location_key(finding))
            out.append(finding)
    if acro_file.status == "fail" and not blocked:
        # A model fails on its degrees of freedom (no cells); anything else unmapped blocks too.
        model = acro_file.output_type == "regression"
        out.append(
            _finding("degrees_of_freedom" if model else RULE, Severity.BLOCK,
                     f"ACRO failed output {acro_file.uid!r}: "
                     f"{acro_file.summary or 'no reason given'}.", here,
                     kind=None if model else "fail")
        )  # fmt: skip
    if acro_file.exception and acro_file.status != "pass":
        out.append(
            _finding(RULE, Severity.REVIEW, f"The researcher asked ACRO for an exception for "
                     f"output {acro_file.uid!r}: {acro_file.exception!r}. Only an officer can "
                     "grant it, as an exemption in their decision.", here, kind="exception")
        )  # fmt: skip
    if acro_file.status not in ("pass", "fail"):
        out.append(
            _finding(RULE, Severity.REVIEW, f"ACRO asks for review of output {acro_file.uid!r}: "
                     f"{acro_file.summary or acro_file.status}.", here, kind="review")
        )  # fmt: skip
    return out


def as_metadata(findings: list[Finding], rel: str) -> list[Finding]:
    """An ACRO file kept as supporting material: its JSON is read by us, never released, so
    the ban on requesting JSON does not apply."""
    out = [f for f in findings if f.rule != "banned_file_type"]
    if len(out) < len(findings):
        out.append(
            _finding(RULE, Severity.INFO, "ACRO's own file (its results, parameters or "
                     "checksums): read by the checks, never released.", Location(file=rel),
                     kind="metadata")
        )  # fmt: skip
    return out
