"""The blank request forms shipped in include/templates/ are the writers' templates, and read
as forms with every required field missing."""

from __future__ import annotations

from pathlib import Path

import openpyxl

from include.checks.ingest_form import (
    TEMPLATE as INGEST_TEMPLATE,
)
from include.checks.ingest_form import (
    missing_ingest_fields,
    read_ingest_form,
    write_ingest_form_template,
)
from include.checks.request_form import (
    is_form_name,
    missing_fields,
    read_output_form,
    write_output_form_template,
)
from include.settings import REPO_ROOT

TEMPLATES = REPO_ROOT / "include" / "templates"
OUTPUT_FORM = TEMPLATES / "output_request_form.xlsx"


def _cells(path: Path) -> dict[str, list[tuple]]:
    wb = openpyxl.load_workbook(path)
    try:
        return {ws.title: [tuple(r) for r in ws.iter_rows(values_only=True)] for ws in wb}
    finally:
        wb.close()


def test_blank_output_form_is_shipped_and_reports_every_required_field():
    assert OUTPUT_FORM.is_file() and is_form_name(OUTPUT_FORM.name)
    form = read_output_form(OUTPUT_FORM)
    assert (form.project, form.researcher, form.folder, form.date, form.files) == (
        "",
        "",
        "",
        "",
        [],
    )
    missing = {(m.sheet, m.field) for m in missing_fields(form)}
    assert missing == {
        ("Request", "project"),
        ("Request", "researcher"),
        ("Request", "folder"),
        ("Request", "date"),
        ("Files", "files"),
    }
    cells = {m.field: m.cell for m in missing_fields(form) if m.sheet == "Request"}
    assert cells == {"project": "B2", "researcher": "B3", "folder": "B4", "date": "B5"}


def test_shipped_output_form_matches_the_writer(tmp_path):
    # If the form's layout changes, regenerate the file:
    #   .venv/bin/python -c "from include.checks.request_form import write_output_form_template as w; w('include/templates/output_request_form.xlsx')"
    fresh = write_output_form_template(tmp_path / "output_request_form.xlsx")
    assert _cells(OUTPUT_FORM) == _cells(fresh)


def test_blank_ingest_and_transfer_form_is_shipped_and_reports_every_required_field(tmp_path):
    assert INGEST_TEMPLATE.parent == TEMPLATES and INGEST_TEMPLATE.is_file()
    form = read_ingest_form(INGEST_TEMPLATE)
    ingest = {m.field for m in missing_ingest_fields(form)}
    assert ingest == {"project", "researcher", "folder", "date", "purpose", "files"}
    transfer = {m.field for m in missing_ingest_fields(form, transfer=True)}
    assert transfer == ingest | {"destination"}
    fresh = write_ingest_form_template(tmp_path / "ingest_request_form.xlsx")
    assert _cells(INGEST_TEMPLATE) == _cells(fresh)
