"""Folders written by ACRO (tests/fixtures/acro, made by the real tool: make_fixtures.py):
ACRO's statuses and cell lists become findings, but never at the cost of our own checks."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from include.checks.engine import check_path
from include.checks.findings import Severity
from include.checks.policy import CheckPolicy
from include.checks.request_form import FileEntry, OutputForm, write_output_form

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "acro"


@pytest.fixture(params=["v1", "v0_4"])
def acro_folder(request, tmp_path) -> Path:
    root = tmp_path / "2026_11_25_RegionalIncome_v1"
    shutil.copytree(FIXTURES / request.param, root)
    return root


def located(report, path: str, rule: str) -> set[tuple[int | None, str | None]]:
    files = {f.path: f for f in report.files}
    return {(f.location.row, f.location.column) for f in files[path].findings if f.rule == rule}


def findings_of(report, path: str):
    return next(f for f in report.files if f.path == path).findings


def test_acro_cells_become_findings_at_acro_rows_and_columns(acro_folder):
    report = check_path(acro_folder, CheckPolicy())
    west = {(5, "A"), (5, "B"), (5, "C")}  # line 5 of region,A,B,C: East, North, South, West
    # The frequency table: our own threshold check sees the counts; ACRO's same cells are
    # not listed twice.
    assert located(report, "output_0_0.csv", "threshold") == west
    ours = [f for f in findings_of(report, "output_0_0.csv") if f.rule == "threshold"]
    assert all(f.message.startswith("count ") for f in ours)
    # The table of means: only ACRO saw the contributors.
    for rule in ("dominance", "p_ratio", "threshold"):
        assert located(report, "output_1_0.csv", rule) == west, rule
    [dominance] = [f for f in findings_of(report, "output_1_0.csv") if f.location.column == "A"
                   and f.rule == "dominance"]  # fmt: skip
    assert dominance.severity == Severity.BLOCK
    assert "row 'West', column 'A' of output 'output_1'" in dominance.message
    # Multi-level headers: the row is found under them, the column named by its levels.
    assert (7, "mean / income") in located(report, "output_2_0.csv", "threshold")
    assert report.verdict == "fail"


def test_exception_requests_reach_the_officer_once_per_file(acro_folder):
    report = check_path(acro_folder, CheckPolicy())
    [exception] = [f for f in findings_of(report, "output_1_0.csv") if f.kind == "exception"]
    assert exception.rule == "acro_results" and exception.severity == Severity.REVIEW
    assert "the East/West means are published by ONS already" in exception.message


def test_acro_outputs_need_no_count_column_and_models_that_pass_are_clean(acro_folder):
    report = check_path(acro_folder, CheckPolicy())
    for path in ("output_0_0.csv", "output_1_0.csv", "output_2_0.csv", "output_3_1.csv"):
        assert not located(report, path, "missing_counts"), path
    assert findings_of(report, "output_3_1.csv") == []  # the OLS coefficients: dof 10 passes


def test_acro_own_files_are_supporting_and_not_banned(acro_folder):
    report = check_path(acro_folder, CheckPolicy())
    roles = {f.path: f.role for f in report.files}
    assert roles["results.json"] == roles["config.json"] == "supporting"
    assert roles["checksums/output_0_0.csv.txt"] == "supporting"
    assert roles["output_0_0.csv"] == roles["notes.txt"] == "output"
    if "session_summary.json" in roles:  # ACRO 1.x: its risk summary, marked DONT_RELEASE
        assert roles["session_summary.json"] == "supporting"
    assert not [f for f in report.all_findings() if f.rule == "banned_file_type"]
    assert [f.kind for f in findings_of(report, "results.json")] == ["metadata"]


def test_ingest_and_transfer_place_every_file_so_acro_json_stays_banned(acro_folder):
    report = check_path(acro_folder, CheckPolicy(), incoming=True)
    results = next(f for f in report.files if f.path == "results.json")
    assert results.role == "output"
    assert [f.rule for f in results.findings] == ["banned_file_type"]


def test_a_file_changed_after_acro_is_checked_as_an_ordinary_file(acro_folder):
    table = acro_folder / "output_1_0.csv"
    table.write_text(table.read_text().replace("West", "Wales"))
    report = check_path(acro_folder, CheckPolicy())
    [changed] = [f for f in findings_of(report, "output_1_0.csv") if f.rule == "acro_results"]
    assert changed.kind == "changed" and "not ACRO's checksum" in changed.message
    assert not located(report, "output_1_0.csv", "dominance")  # ACRO's cells no longer apply
    assert located(report, "output_1_0.csv", "missing_counts")  # an ordinary table again
    assert located(report, "output_0_0.csv", "threshold")  # the other outputs still use ACRO


def test_a_review_status_with_an_exception_shows_both(acro_folder):
    results = acro_folder / "results.json"
    data = json.loads(results.read_text())
    data["results"]["output_2"]["status"] = "review"
    data["results"]["output_2"]["exception"] = "rounded to the nearest 100"
    results.write_text(json.dumps(data))
    report = check_path(acro_folder, CheckPolicy())
    kinds = {f.kind for f in findings_of(report, "output_2_0.csv") if f.rule == "acro_results"}
    assert kinds == {"exception", "review"}


def test_a_forged_pass_cannot_hide_a_small_count(acro_folder):
    results = acro_folder / "results.json"
    data = json.loads(results.read_text())
    output = data["results"]["output_0"]
    output["status"] = "pass"
    for item in output["files"]:
        item["sdc"]["cells"] = {check: [] for check in item["sdc"]["cells"]}
    results.write_text(json.dumps(data))
    report = check_path(acro_folder, CheckPolicy())
    assert located(report, "output_0_0.csv", "threshold") == {(5, "A"), (5, "B"), (5, "C")}


def test_parameters_weaker_than_the_project_block(acro_folder):
    report = check_path(acro_folder, CheckPolicy(threshold=20, p_ratio=0.2))
    [weaker] = [f for f in report.findings if f.kind == "parameters"]
    assert weaker.severity == Severity.BLOCK and weaker.location.file == "results.json"
    assert "minimum count 10 (this project's is 20)" in weaker.message
    assert "p of the p% rule 0.1 (this project's is 0.2)" in weaker.message
    assert not [f for f in check_path(acro_folder, CheckPolicy()).findings
                if f.kind == "parameters"]  # fmt: skip

    (acro_folder / "config.json").unlink()
    [unknown] = [f for f in check_path(acro_folder, CheckPolicy()).findings
                 if f.kind == "parameters"]  # fmt: skip
    assert unknown.severity == Severity.REVIEW and "config.json" in unknown.message


def test_results_naming_files_outside_the_folder_are_ignored(tmp_path):
    outside = tmp_path / "secret.csv"
    outside.write_text("region,n\nWest,1\n")
    root = tmp_path / "2026_11_25_Forged_v1"
    root.mkdir()
    (root / "t.csv").write_text("region,n\nNorth,40\n")
    checksum = hashlib.sha256((root / "t.csv").read_bytes()).hexdigest()
    (root / "checksums").mkdir()
    (root / "checksums" / "t.csv.txt").write_text(checksum)
    results = {
        "version": "1.0.2",
        "tool": {"name": "ACRO"},
        "results": {
            "output_0": {"uid": "output_0", "status": "pass", "type": "table",
                         "files": [{"name": "../secret.csv", "sdc": {}},
                                   {"name": "missing.csv", "sdc": {}},
                                   {"name": "t.csv", "sdc": {}}]},
        },
    }  # fmt: skip
    (root / "results.json").write_text(json.dumps(results))
    report = check_path(root, CheckPolicy())
    kinds = {f.kind: f for f in report.findings if f.rule == "acro_results"}
    assert "'../secret.csv' outside its folder" in kinds["bad_name"].message
    assert "'missing.csv', which is not in the folder" in kinds["missing"].message
    assert {f.path for f in report.files} == {"t.csv", "results.json", "checksums/t.csv.txt"}
    assert not located(report, "t.csv", "missing_counts")  # verified: ACRO's pass applies


def test_a_results_json_not_written_by_acro_is_an_ordinary_json_file(tmp_path):
    root = tmp_path / "2026_11_25_Plain_v1"
    root.mkdir()
    (root / "results.json").write_text('{"results": {"a": 1}}')
    report = check_path(root, CheckPolicy())
    [result] = report.files
    assert result.role == "output"
    assert [f.rule for f in result.findings] == ["banned_file_type"]


def test_acro_files_need_not_be_on_the_request_form(tmp_path):
    root = tmp_path / "2026_11_25_RegionalIncome_v1"
    shutil.copytree(FIXTURES / "v1", root)
    outputs = ["output_0_0.csv", "output_1_0.csv", "output_2_0.csv", "output_3_0.csv",
               "output_3_1.csv", "output_3_2.csv", "notes.txt"]  # fmt: skip
    form = OutputForm(
        project="1234567",
        researcher="r_rahman",
        folder=root.name,
        date="2026-11-25",
        files=[
            FileEntry(name=n, description="ACRO output", data_and_variables="ASHE 2024",
                      methodology="ACRO crosstab", role="output") for n in outputs
        ],
    )  # fmt: skip
    write_output_form(root / "Output request form.xlsx", form)
    report = check_path(root, CheckPolicy(), request=True)
    assert not [f for f in report.all_findings() if f.rule == "file_not_on_form"]
    roles = {f.path: f.role for f in report.files}
    assert roles["results.json"] == "supporting" and roles["output_0_0.csv"] == "output"
