"""Data minimisation (guidance section 4) and the ingest / transfer request form."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from include.checks.findings import Severity
from include.checks.ingest_form import (
    TEMPLATE,
    FormError,
    IngestFile,
    IngestForm,
    missing_ingest_fields,
    read_ingest_form,
    write_ingest_form,
    write_ingest_form_template,
)
from include.checks.minimisation import apply, check_minimisation, variable_key
from include.checks.report import CheckReport, FileResult

APPROVED = ("region", "year", "energy_use_kwh")


def form_of(*files: tuple[str, list[str]]) -> IngestForm:
    return IngestForm(
        project="1234567",
        researcher="r_rahman",
        folder="2026_11_20_Lookup_v1",
        date="2026-11-20",
        purpose="Lookups for the approved models",
        files=[
            IngestFile(name, "needed", variables, row=i + 2)
            for i, (name, variables) in enumerate(files)
        ],
    )


def run(root: Path, form, files=None, approved=APPROVED):
    files = files or [(p.name, p.suffix.lstrip(".")) for p in sorted(root.iterdir())]
    return check_minimisation(root, files, form, "ingest_request_form.xlsx", approved, "1234567")


def test_listed_approved_table_passes(tmp_path):
    (tmp_path / "lookup.csv").write_text("Region,YEAR,Energy Use kWh\nE12000001,2023,3120\n")
    assert run(tmp_path, form_of(("lookup.csv", ["region", "year"]))) == []


def test_superfluous_csv_column_names_file_and_column(tmp_path):
    (tmp_path / "lookup.csv").write_text("region,pet_name,year\nE12000001,Rex,2023\n")
    [finding] = run(tmp_path, form_of(("lookup.csv", [])))
    assert (finding.rule, finding.kind, finding.severity) == (
        "superfluous_variable",
        "column",
        Severity.BLOCK,
    )
    assert (finding.location.file, finding.location.column) == ("lookup.csv", "pet_name")
    assert "'pet_name' of 'lookup.csv'" in finding.message and "project 1234567" in finding.message


def test_blank_lines_above_a_csv_header_do_not_hide_its_columns(tmp_path):
    (tmp_path / "lookup.csv").write_text("\n,,\nregion,pet_name,year\nE12000001,Rex,2023\n")
    [finding] = run(tmp_path, form_of(("lookup.csv", [])))
    assert (finding.rule, finding.location.column) == ("superfluous_variable", "pet_name")


def test_superfluous_xlsx_column_names_the_sheet(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "Households"
    wb.active.append(["region", "income"])
    wb.active.append(["E12000001", 31000])
    wb.save(tmp_path / "households.xlsx")
    [finding] = run(tmp_path, form_of(("households.xlsx", [])))
    assert (finding.location.sheet, finding.location.column) == ("Households", "income")


def test_tsv_and_unnamed_columns(tmp_path):
    (tmp_path / "t.tsv").write_text("region\t\nE12000001\t4\n")
    [finding] = run(tmp_path, form_of(("t.tsv", [])))
    assert "(an unnamed column)" in finding.message


def test_every_file_must_be_on_the_form(tmp_path):
    (tmp_path / "lookup.csv").write_text("region\nE12000001\n")
    (tmp_path / "notes.txt").write_text("notes\n")
    findings = run(tmp_path, form_of(("lookup.csv", []), ("missing.csv", [])))
    by_rule = {(f.rule, f.kind, f.severity) for f in findings}
    assert ("file_not_on_form", "not_listed", Severity.BLOCK) in by_rule
    assert ("file_not_on_form", "listed_not_present", Severity.REVIEW) in by_rule
    blocked = next(f for f in findings if f.kind == "not_listed")
    assert blocked.location.file == "notes.txt" and "'notes.txt'" in blocked.message


def test_form_found_missing_lists_nothing(tmp_path):
    (tmp_path / "lookup.csv").write_text("region\nE12000001\n")
    [finding] = run(tmp_path, None)
    assert finding.rule == "file_not_on_form" and finding.severity == Severity.BLOCK


def test_declared_variable_not_approved_blocks(tmp_path):
    (tmp_path / "lookup.csv").write_text("region\nE12000001\n")
    [finding] = run(tmp_path, form_of(("lookup.csv", ["region", "nhs_number"])))
    assert (finding.rule, finding.kind) == ("superfluous_variable", "on_form")
    assert (finding.location.sheet, finding.location.row, finding.location.column) == (
        "Files",
        2,
        "nhs_number",
    )


def test_no_approved_variables_means_every_column_is_superfluous(tmp_path):
    (tmp_path / "lookup.csv").write_text("region,year\nE12000001,2023\n")
    assert len(run(tmp_path, form_of(("lookup.csv", [])), approved=())) == 2


def test_many_superfluous_columns_are_summarised(tmp_path):
    (tmp_path / "wide.csv").write_text(
        ",".join(f"c{i}" for i in range(60)) + "\n" + ",".join("1" * 60) + "\n"
    )
    findings = run(tmp_path, form_of(("wide.csv", [])))
    assert len(findings) == 51 and "10 more columns" in findings[-1].message


def test_unreadable_table_is_left_to_the_engine(tmp_path):
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    assert run(tmp_path, form_of(("broken.xlsx", []))) == []


def test_apply_attaches_findings_to_their_files(tmp_path):
    (tmp_path / "lookup.csv").write_text("region,pet\nE12000001,Rex\n")
    report = CheckReport(files=[FileResult("lookup.csv", "output", "csv", 10, None)])
    apply(report, run(tmp_path, form_of(("lookup.csv", []))))
    assert report.verdict == "fail" and report.files[0].findings[0].rule == "superfluous_variable"


def test_variable_keys_ignore_case_and_separators():
    assert variable_key(" Energy-Use kWh ") == variable_key("energy_use_kwh") == "energy_use_kwh"


# --- the form ------------------------------------------------------------------------------------


def test_form_round_trip_and_required_fields(tmp_path):
    form = form_of(("lookup.csv", ["region", "year"]))
    read = read_ingest_form(write_ingest_form(tmp_path / "f.xlsx", form))
    assert read.project == "1234567" and read.purpose == "Lookups for the approved models"
    assert [(f.name, f.variables, f.row) for f in read.files] == [
        ("lookup.csv", ["region", "year"], 2)
    ]
    assert missing_ingest_fields(read) == []
    assert [m.field for m in missing_ingest_fields(read, transfer=True)] == ["destination"]
    read.files[0].purpose = ""
    read.date = "soon"
    assert {m.field for m in missing_ingest_fields(read)} == {"purpose", "date"}


def test_template_is_the_blank_form(tmp_path):
    assert TEMPLATE.exists()
    blank = read_ingest_form(TEMPLATE)
    assert blank.files == [] and set(blank.request_rows) >= {"project", "purpose", "destination"}
    fresh = read_ingest_form(write_ingest_form_template(tmp_path / "t.xlsx"))
    assert fresh.request_rows == blank.request_rows
    wb = openpyxl.load_workbook(TEMPLATE)
    assert wb.sheetnames == ["Request", "Files"]
    assert [c.value for c in wb["Files"][1]][:3] == [
        "File name",
        "Purpose (why the project needs it)",
        "Variables (tables: every column, comma-separated)",
    ]


def test_an_output_form_is_not_an_ingest_form(tmp_path):
    from include.checks.request_form import OutputForm, write_output_form

    path = write_output_form(tmp_path / "out.xlsx", OutputForm(project="1"))
    with pytest.raises(FormError, match="Purpose"):
        read_ingest_form(path)
    (tmp_path / "x.xlsx").write_bytes(b"junk")
    with pytest.raises(FormError):
        read_ingest_form(tmp_path / "x.xlsx")
