"""The output request form (.xlsx): layout, reader and writers.

Layout (what `write_output_form_template` writes and `read_output_form` reads):

* sheet **Request**: label/value rows, labels in column A, values in column B (row 1 is the
  heading "Field" / "Value"). Labels are matched case-insensitively, so rows may move:
  Project number, Researcher, Folder name, Request date, Context for SRS officers.
* sheet **Files**: row 1 holds the headers, one file per row below it:
  File name | Role (output/supporting) | Description (what each element shows) |
  Data and variables used | Methodology | Count columns (comma-separated) | SDC applied.

Reading never trusts the file: the zip is bounded first, then openpyxl reads values only.
A structural problem (no such sheet, a missing column, not an xlsx) raises `FormError` with a
precise message; empty fields are returned empty and reported by `missing_fields`.
"""

from __future__ import annotations

import datetime as _dt
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from include.checks import filetypes as ft

REQUEST_SHEET = "Request"
FILES_SHEET = "Files"
ROLES = ("output", "supporting")
MAX_FILE_ROWS = 2000

# field -> label written in the template (matched case-insensitively, punctuation ignored)
REQUEST_FIELDS: dict[str, str] = {
    "project": "Project number",
    "researcher": "Researcher",
    "folder": "Folder name",
    "date": "Request date",
    "context": "Context for SRS officers",
}
REQUIRED_REQUEST_FIELDS = ("project", "researcher", "folder", "date")

FILE_COLUMNS: dict[str, str] = {
    "name": "File name",
    "role": "Role (output/supporting)",
    "description": "Description (what each element shows)",
    "data_and_variables": "Data and variables used",
    "methodology": "Methodology",
    "count_columns": "Count columns (comma-separated)",
    "sdc_applied": "SDC applied",
}
REQUIRED_FILE_COLUMNS = ("name", "role", "description")
REQUIRED_FOR_OUTPUTS = ("data_and_variables", "methodology", "sdc_applied")

HELP = {
    "project": "The SRS project number, e.g. 1234567",
    "researcher": "Your name as it appears on the project",
    "folder": "Name of the folder in Ready for Checking, e.g. 2024_01_16_EnergyUseModel_v1",
    "date": "Date of the request (YYYY-MM-DD)",
    "context": "Anything that helps the officers check the request",
}


class FormError(ValueError):
    """The form cannot be read as an output request form; the message says why and where."""


@dataclass
class FileEntry:
    name: str
    description: str = ""
    data_and_variables: str = ""
    methodology: str = ""
    count_columns: list[str] = field(default_factory=list)
    role: str = "output"
    sdc_applied: str = ""
    row: int | None = None  # row on the Files sheet (when read from a form)

    def __getitem__(self, key: str):  # mapping-style access: entry["name"]
        return getattr(self, key)


@dataclass
class OutputForm:
    project: str = ""
    researcher: str = ""
    folder: str = ""
    date: str = ""
    context: str = ""
    files: list[FileEntry] = field(default_factory=list)
    request_rows: dict[str, int] = field(default_factory=dict)  # field -> row on Request sheet


@dataclass(frozen=True)
class MissingField:
    sheet: str
    row: int | None
    field: str
    message: str
    cell: str | None = None


def is_form_name(name: str) -> bool:
    low = name.rsplit("/", 1)[-1].lower()
    return "request" in low and "form" in low


def _norm(label: object) -> str:
    return re.sub(r"[^a-z0-9]+", " ", str(label or "").lower()).strip()


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, _dt.datetime):
        return value.date().isoformat() if value.time() == _dt.time() else value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _request_key(label: str) -> str | None:
    n = _norm(label)
    for key, text in REQUEST_FIELDS.items():
        if n == _norm(text) or n == key:
            return key
    aliases = {
        "project": "project",
        "project no": "project",
        "project id": "project",
        "researcher name": "researcher",
        "name of researcher": "researcher",
        "folder": "folder",
        "output folder": "folder",
        "date": "date",
        "context": "context",
    }
    return aliases.get(n)


def _file_key(header: str) -> str | None:
    n = _norm(header)
    for key, text in FILE_COLUMNS.items():
        if n == _norm(text) or n == key.replace("_", " "):
            return key
    starts = [
        ("file", "name"),
        ("role", "role"),
        ("descr", "description"),
        ("data", "data_and_variables"),
        ("method", "methodology"),
        ("count", "count_columns"),
        ("sdc", "sdc_applied"),
    ]
    for prefix, key in starts:
        if n.startswith(prefix):
            return key
    return None


def open_form_workbook(path: Path, sheets_needed: tuple[str, ...]):
    """The form as a read-only openpyxl workbook (the zip bounded first) and its sheet names.

    Returns ``(workbook, {lower-case sheet name: sheet name})``; the caller closes the workbook.
    Raises FormError when it is not an .xlsx, cannot be opened or lacks one of ``sheets_needed``.
    """
    try:
        with ft.open_zip_guarded(path) as zf:
            if ft.ooxml_kind(zf) not in ("xlsx",):
                raise FormError(f"{path.name}: the request form must be an .xlsx workbook")
    except ft.ZipRefused as exc:
        raise FormError(f"{path.name}: the form was not opened: {exc}") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise FormError(f"{path.name}: the form is not a readable .xlsx workbook ({exc})") from None
    except FormError:
        raise
    except Exception as exc:
        raise FormError(
            f"{path.name}: the form cannot be parsed ({type(exc).__name__}: {exc})"
        ) from None

    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise FormError(
            f"{path.name}: the form cannot be opened ({type(exc).__name__}: {exc})"
        ) from None
    sheets = {s.lower(): s for s in wb.sheetnames}
    for wanted in sheets_needed:
        if wanted.lower() not in sheets:
            wb.close()
            raise FormError(
                f"{path.name}: the form has no sheet named {wanted!r} "
                f"(sheets: {', '.join(wb.sheetnames) or 'none'}); use the blank form provided"
            )
    return wb, sheets


def labelled_values(ws, key_of) -> dict[str, tuple[int, str]]:
    """Label/value rows (labels in column A): field -> (row, value), first occurrence wins."""
    found: dict[str, tuple[int, str]] = {}
    for r, row in enumerate(ws.iter_rows(min_row=1, max_row=200, max_col=2, values_only=True), 1):
        key = key_of(_text(row[0])) if row else None
        if key and key not in found:
            found[key] = (r, _text(row[1] if len(row) > 1 else None))
    return found


def header_columns(header, key_of) -> dict[str, int]:
    """Row-1 headers: field -> column index, first occurrence wins."""
    columns: dict[str, int] = {}
    for i, h in enumerate(header or ()):
        key = key_of(_text(h))
        if key and key not in columns:
            columns[key] = i
    return columns


def read_output_form(path: str | Path) -> OutputForm:
    path = Path(path)
    wb, sheets = open_form_workbook(path, (REQUEST_SHEET, FILES_SHEET))
    try:
        form = OutputForm()
        ws = wb[sheets[REQUEST_SHEET.lower()]]
        for key, (r, value) in labelled_values(ws, _request_key).items():
            form.request_rows[key] = r
            setattr(form, key, value)
        missing_labels = [
            REQUEST_FIELDS[k] for k in REQUIRED_REQUEST_FIELDS if k not in form.request_rows
        ]
        if missing_labels:
            raise FormError(
                f"{path.name}: sheet {REQUEST_SHEET!r} has no row labelled "
                f"{', '.join(repr(m) for m in missing_labels)} in column A"
            )

        ws = wb[sheets[FILES_SHEET.lower()]]
        rows = ws.iter_rows(min_row=1, max_row=MAX_FILE_ROWS + 1, max_col=20, values_only=True)
        columns = header_columns(next(rows, None), _file_key)
        missing = [FILE_COLUMNS[k] for k in REQUIRED_FILE_COLUMNS if k not in columns]
        if missing:
            raise FormError(
                f"{path.name}: sheet {FILES_SHEET!r} row 1 has no column "
                f"{', '.join(repr(m) for m in missing)}"
            )
        for r, row in enumerate(rows, 2):
            values = {k: _text(row[i]) if i < len(row) else "" for k, i in columns.items()}
            if not any(values.values()):
                continue
            role = values.get("role", "").lower() or "output"
            if role not in ROLES:
                raise FormError(
                    f"{path.name}: sheet {FILES_SHEET!r} row {r}: role {values.get('role')!r} is "
                    "not 'output' or 'supporting'"
                )
            counts = [
                c.strip() for c in re.split(r"[,;\n]", values.get("count_columns", "")) if c.strip()
            ]
            form.files.append(
                FileEntry(
                    name=values.get("name", ""),
                    description=values.get("description", ""),
                    data_and_variables=values.get("data_and_variables", ""),
                    methodology=values.get("methodology", ""),
                    count_columns=counts,
                    role=role,
                    sdc_applied=values.get("sdc_applied", ""),
                    row=r,
                )
            )
        return form
    finally:
        wb.close()


def missing_fields(form: OutputForm) -> list[MissingField]:
    """Every required field left empty, with where it is on the form."""
    out: list[MissingField] = []
    for key in REQUIRED_REQUEST_FIELDS:
        if not getattr(form, key):
            row = form.request_rows.get(key)
            out.append(
                MissingField(
                    REQUEST_SHEET,
                    row,
                    key,
                    f"{REQUEST_FIELDS[key]!r} is empty",
                    f"B{row}" if row else None,
                )
            )
    if form.date and not _valid_date(form.date):
        row = form.request_rows.get("date")
        out.append(
            MissingField(
                REQUEST_SHEET,
                row,
                "date",
                f"'Request date' {form.date!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)",
                f"B{row}" if row else None,
            )
        )
    if not form.files:
        out.append(MissingField(FILES_SHEET, 2, "files", "no files are listed on the Files sheet"))
    for entry in form.files:
        needed = list(REQUIRED_FILE_COLUMNS) + (
            list(REQUIRED_FOR_OUTPUTS) if entry.role == "output" else []
        )
        for key in needed:
            if not getattr(entry, key):
                who = f"file {entry.name!r}" if entry.name else f"row {entry.row}"
                out.append(
                    MissingField(
                        FILES_SHEET, entry.row, key, f"{FILE_COLUMNS[key]!r} is empty for {who}"
                    )
                )
    return out


def _valid_date(text: str) -> bool:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y", "%Y_%m_%d", "%d-%m-%Y", "%Y-%m-%dT%H:%M:%S"):
        try:
            _dt.datetime.strptime(text, fmt)
            return True
        except ValueError:
            continue
    return False


# -- writers ----------------------------------------------------------------------------------


def _build(form: OutputForm | None):
    import openpyxl
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = REQUEST_SHEET
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    ws.append(["Field", "Value", "Guidance"])
    for c in ws[1]:
        c.font, c.fill = bold, fill
    for key, label in REQUEST_FIELDS.items():
        ws.append([label, getattr(form, key) if form else None, HELP[key]])
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 50
    ws.column_dimensions["C"].width = 70

    fs = wb.create_sheet(FILES_SHEET)
    fs.append(list(FILE_COLUMNS.values()))
    for c in fs[1]:
        c.font, c.fill = bold, fill
        c.alignment = Alignment(wrap_text=True, vertical="top")
    for letter, width in zip("ABCDEFG", (36, 16, 50, 40, 40, 30, 40), strict=True):
        fs.column_dimensions[letter].width = width
    dv = DataValidation(type="list", formula1='"output,supporting"', allow_blank=True)
    dv.error = "Role must be output or supporting"
    fs.add_data_validation(dv)
    dv.add(f"B2:B{MAX_FILE_ROWS + 1}")
    if form:
        for e in form.files:
            fs.append(
                [
                    e.name,
                    e.role,
                    e.description,
                    e.data_and_variables,
                    e.methodology,
                    ", ".join(e.count_columns),
                    e.sdc_applied,
                ]
            )
    return wb


def write_output_form_template(path: str | Path) -> Path:
    """The blank form researchers copy into their request folder."""
    path = Path(path)
    _build(None).save(path)
    return path


def write_output_form(path: str | Path, form: OutputForm) -> Path:
    """A completed form (demo data, tests)."""
    path = Path(path)
    _build(form).save(path)
    return path
