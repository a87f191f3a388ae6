"""The ingest / transfer request form (.xlsx): layout, reader and writers.

Layout (what `write_ingest_form_template` writes and `read_ingest_form` reads), modelled on the
output request form (`request_form.py`, whose guarded opening and label matching it reuses):

* sheet **Request**: label/value rows, labels in column A, values in column B:
  Project number, Researcher, Folder name, Request date, Purpose, and for transfers
  Destination project.
* sheet **Files**: row 1 holds the headers, one file per row below it:
  File name | Purpose (why the project needs it) | Variables (tables: every column).

Data minimisation (guidance section 4) is checked against this form: every file in the folder
must be listed, and every column of every table must be an approved variable of the receiving
project (`include/checks/minimisation.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from include.checks.request_form import (
    FILES_SHEET,
    MAX_FILE_ROWS,
    REQUEST_SHEET,
    FormError,
    MissingField,
    _norm,
    _text,
    _valid_date,
    header_columns,
    is_form_name,
    labelled_values,
    open_form_workbook,
)

__all__ = [
    "FormError",
    "IngestFile",
    "IngestForm",
    "TEMPLATE",
    "is_form_name",
    "missing_ingest_fields",
    "read_ingest_form",
    "write_ingest_form",
    "write_ingest_form_template",
]

TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "ingest_request_form.xlsx"

INGEST_REQUEST_FIELDS: dict[str, str] = {
    "project": "Project number",
    "researcher": "Researcher",
    "folder": "Folder name",
    "date": "Request date",
    "purpose": "Purpose",
    "destination": "Destination project (transfers only)",
}
INGEST_REQUIRED = ("project", "researcher", "folder", "date", "purpose")

INGEST_FILE_COLUMNS: dict[str, str] = {
    "name": "File name",
    "purpose": "Purpose (why the project needs it)",
    "variables": "Variables (tables: every column, comma-separated)",
}

_GUIDANCE = {
    "project": "The SRS project the files are for (for a transfer: the source project)",
    "researcher": "Your username as it appears on the project",
    "folder": "Name of the request folder, e.g. 2024_01_16_LookupTables_v1",
    "date": "Date of the request (YYYY-MM-DD)",
    "purpose": "What the files are for, as approved in the project documentation",
    "destination": "Transfers only: the SRS project the files are copied to",
}


@dataclass
class IngestFile:
    name: str
    purpose: str = ""
    variables: list[str] = field(default_factory=list)
    row: int | None = None  # row on the Files sheet (when read from a form)


@dataclass
class IngestForm:
    project: str = ""
    researcher: str = ""
    folder: str = ""
    date: str = ""
    purpose: str = ""
    destination: str = ""
    files: list[IngestFile] = field(default_factory=list)
    request_rows: dict[str, int] = field(default_factory=dict)


def _request_field(label: str) -> str | None:
    n = _norm(label)
    for key, text in INGEST_REQUEST_FIELDS.items():
        if n in (_norm(text), key):
            return key
    if n.startswith("destination"):
        return "destination"
    return {"project": "project", "project no": "project", "folder": "folder"}.get(n)


def _file_field(header: str) -> str | None:
    n = _norm(header)
    for prefix, key in (("file", "name"), ("purpose", "purpose"), ("variable", "variables")):
        if n.startswith(prefix):
            return key
    return None


def split_variables(text: str) -> list[str]:
    return [v.strip() for v in re.split(r"[,;\n]", text or "") if v.strip()]


def read_ingest_form(path: str | Path) -> IngestForm:
    """Read a completed ingest / transfer form; FormError names what is structurally wrong."""
    path = Path(path)
    wb, sheets = open_form_workbook(path, (REQUEST_SHEET, FILES_SHEET))
    try:
        form = IngestForm()
        values = labelled_values(wb[sheets[REQUEST_SHEET.lower()]], _request_field)
        absent = [INGEST_REQUEST_FIELDS[k] for k in INGEST_REQUIRED if k not in values]
        if absent:
            raise FormError(
                f"{path.name}: sheet {REQUEST_SHEET!r} has no row labelled "
                + ", ".join(repr(a) for a in absent)
                + " in column A; use the blank ingest request form provided"
            )
        for key, (row, value) in values.items():
            form.request_rows[key] = row
            setattr(form, key, value)
        rows = wb[sheets[FILES_SHEET.lower()]].iter_rows(
            min_row=1, max_row=MAX_FILE_ROWS + 1, max_col=10, values_only=True
        )
        columns = header_columns(next(rows, None), _file_field)
        if "name" not in columns or "purpose" not in columns:
            raise FormError(
                f"{path.name}: sheet {FILES_SHEET!r} row 1 needs the columns "
                f"{INGEST_FILE_COLUMNS['name']!r} and {INGEST_FILE_COLUMNS['purpose']!r}"
            )
        for number, cells in enumerate(rows, 2):
            got = {k: _text(cells[i]) if i < len(cells) else "" for k, i in columns.items()}
            if any(got.values()):
                form.files.append(
                    IngestFile(
                        name=got.get("name", ""),
                        purpose=got.get("purpose", ""),
                        variables=split_variables(got.get("variables", "")),
                        row=number,
                    )
                )
        return form
    finally:
        wb.close()


def missing_ingest_fields(form: IngestForm, *, transfer: bool = False) -> list[MissingField]:
    """Every required field left empty (the destination too, for a transfer)."""
    needed = INGEST_REQUIRED + (("destination",) if transfer else ())
    out = []
    for key in needed:
        if not getattr(form, key):
            row = form.request_rows.get(key)
            cell = f"B{row}" if row else None
            label = INGEST_REQUEST_FIELDS[key]
            out.append(MissingField(REQUEST_SHEET, row, key, f"{label!r} is empty", cell))
    if form.date and not _valid_date(form.date):
        row = form.request_rows.get("date")
        message = f"'Request date' {form.date!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)"
        out.append(MissingField(REQUEST_SHEET, row, "date", message, f"B{row}" if row else None))
    if not form.files:
        out.append(MissingField(FILES_SHEET, 2, "files", "no files are listed on the Files sheet"))
    for entry in form.files:
        for key in ("name", "purpose"):
            if not getattr(entry, key):
                who = f"file {entry.name!r}" if entry.name else f"row {entry.row}"
                text = f"{INGEST_FILE_COLUMNS[key]!r} is empty for {who}"
                out.append(MissingField(FILES_SHEET, entry.row, key, text))
    return out


# -- writers ----------------------------------------------------------------------------------


def _workbook(form: IngestForm | None):
    import openpyxl
    from openpyxl.styles import Font, PatternFill

    heading = {"font": Font(bold=True), "fill": PatternFill("solid", fgColor="E2EFDA")}
    wb = openpyxl.Workbook()
    request = wb.active
    request.title = REQUEST_SHEET
    rows = [["Field", "Value", "Guidance"]]
    rows += [
        [label, getattr(form, key) if form else None, _GUIDANCE[key]]
        for key, label in INGEST_REQUEST_FIELDS.items()
    ]
    files = wb.create_sheet(FILES_SHEET)
    listed = [[f.name, f.purpose, ", ".join(f.variables)] for f in (form.files if form else [])]
    for sheet, content, widths in (
        (request, rows, (36, 50, 70)),
        (files, [list(INGEST_FILE_COLUMNS.values()), *listed], (40, 60, 60)),
    ):
        for line in content:
            sheet.append(line)
        for cell in sheet[1]:
            cell.font, cell.fill = heading["font"], heading["fill"]
        for letter, width in zip("ABC", widths, strict=True):
            sheet.column_dimensions[letter].width = width
    return wb


def write_ingest_form_template(path: str | Path = TEMPLATE) -> Path:
    """The blank form researchers copy into their ingest or transfer folder."""
    path = Path(path)
    _workbook(None).save(path)
    return path


def write_ingest_form(path: str | Path, form: IngestForm) -> Path:
    """A completed form (demo data, tests)."""
    path = Path(path)
    _workbook(form).save(path)
    return path
