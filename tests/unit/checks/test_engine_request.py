"""Engine walk (links, odd names), report shape, request form and folder rules, CLI."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from include.checks import command
from include.checks.engine import check_path, folder_name_problem
from include.checks.findings import Severity
from include.checks.policy import CheckPolicy
from include.checks.report import CheckReport, render_html, render_text
from include.checks.request_form import (
    FileEntry,
    FormError,
    OutputForm,
    read_output_form,
    write_output_form,
    write_output_form_template,
)
from tests.unit.checks.conftest import by_rule, rules

POLICY = CheckPolicy()
REPO = Path(__file__).resolve().parents[3]


def folder(tmp_path, name="2024_01_16_EnergyUseModel_v1") -> Path:
    root = tmp_path / name
    root.mkdir()
    return root


# -- walk -----------------------------------------------------------------------------------


def test_symlink_escaping_folder_is_blocked_and_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("jo@example.org\n")
    root = folder(tmp_path)
    (root / "ok.txt").write_text("fine\n")
    os.symlink(secret, root / "escape.txt")
    os.symlink(tmp_path, root / "dirlink")
    report = check_path(root, POLICY)
    by_path = {f.path: f for f in report.files}
    for name in ("escape.txt", "dirlink"):
        assert rules(by_path[name].findings) == {"link_or_escape"}
        assert by_path[name].sha256 is None and by_path[name].type == "link"
    assert report.verdict == "fail"
    assert not any(f.rule == "direct_identifier" for f in report.all_findings())


def test_symlink_inside_folder_is_also_blocked(tmp_path):
    root = folder(tmp_path)
    (root / "a.txt").write_text("x\n")
    os.symlink(root / "a.txt", root / "b.txt")
    report = check_path(root, POLICY)
    assert rules(next(f for f in report.files if f.path == "b.txt").findings) == {"link_or_escape"}


def test_root_symlink_is_not_followed(tmp_path):
    real = folder(tmp_path)
    (real / "a.txt").write_text("x\n")
    os.symlink(real, tmp_path / "alias")
    report = check_path(tmp_path / "alias", POLICY)
    assert report.files == [] and rules(report.findings) == {"link_or_escape"}


def test_fifo_is_never_opened(tmp_path):
    root = folder(tmp_path)
    os.mkfifo(root / "pipe.csv")
    report = check_path(root, POLICY)
    f = report.files[0].findings[0]
    assert (f.rule, f.kind) == ("unchecked_file_type", "special")


def test_names_with_newlines_and_non_ascii(tmp_path):
    root = folder(tmp_path)
    (root / "bad\nname.txt").write_text("hello\n")
    (root / "résumé_ü.txt").write_text("hello\n")
    (root / "sub").mkdir()
    (root / "sub" / "数据.txt").write_text("hello\n")
    report = check_path(root, POLICY)
    assert sorted(f.path for f in report.files) == sorted(
        ["bad\nname.txt", "résumé_ü.txt", "sub/数据.txt"]
    )
    data = json.loads(json.dumps(report.to_dict()))
    assert {f["path"] for f in data["files"]} >= {"bad\nname.txt"}
    text = render_text(report)
    assert "bad\\nname.txt" in text  # escaped for the terminal
    assert "bad\\nname.txt" in render_html(report) or "bad\nname.txt" not in render_html(report)


def test_checker_crash_becomes_unreadable(tmp_path, monkeypatch):
    from include.checks import documents

    def boom(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(documents, "check_text", boom)
    root = folder(tmp_path)
    (root / "a.txt").write_text("x\n")
    f = check_path(root, POLICY).files[0].findings[0]
    assert f.rule == "unreadable" and "kaboom" in f.message


# -- report shape ----------------------------------------------------------------------------


def test_report_json_shape(tmp_path):
    root = folder(tmp_path)
    (root / "t.csv").write_text("a,b\n1,2\n")
    (root / "d.json").write_text("{}")
    (root / "e.txt").write_bytes(b"")
    data = check_path(root, POLICY).to_dict()
    assert set(data) == {"verdict", "files", "findings", "summary"}
    assert data["verdict"] == "fail"
    f0 = data["files"][0]
    assert set(f0) == {"path", "role", "type", "size", "sha256", "findings"}
    assert set(f0["findings"][0]) == {"rule", "kind", "severity", "message", "location"}
    assert f0["findings"][0]["location"] == {"file": "d.json"}
    s = data["summary"]
    assert s == {
        "files": 3,
        "by_severity": {"block": 1, "review": 0, "info": 1},
        "by_rule": {"banned_file_type": 1, "empty_file": 1},
        "blocking": 1,
    }
    assert CheckReport.from_dict(data).to_dict() == data


def test_pass_verdict_with_only_info(tmp_path):
    root = folder(tmp_path)
    (root / "e.txt").write_bytes(b"")
    assert check_path(root, POLICY).verdict == "pass"


def test_html_is_escaped_and_self_contained(tmp_path):
    root = folder(tmp_path)
    (root / "<img src=x onerror=alert(1)>.json").write_text("{}")
    html = render_html(check_path(root, POLICY))
    assert "<img src" not in html and "&lt;img src=x" in html
    assert "http://" not in html and "https://" not in html and "<link" not in html


# -- request form ------------------------------------------------------------------------------


def complete_form(**over) -> OutputForm:
    files = over.pop(
        "files",
        [
            FileEntry(
                name="table1.csv",
                description="Counts by region",
                data_and_variables="LFS: region",
                methodology="Frequency table",
                count_columns=["n"],
                role="output",
                sdc_applied="threshold 10",
            )
        ],
    )
    base = dict(
        project="1234567",
        researcher="A Researcher",
        folder="2024_01_16_EnergyUseModel_v1",
        date="2024-01-16",
        context="",
    )
    base.update(over)
    return OutputForm(files=files, **base)


def test_form_round_trip(tmp_path):
    p = write_output_form(tmp_path / "Output request form.xlsx", complete_form())
    form = read_output_form(p)
    assert form.project == "1234567" and form.files[0].count_columns == ["n"]
    assert form.files[0]["role"] == "output"


def test_template_reads_as_empty_form(tmp_path):
    form = read_output_form(write_output_form_template(tmp_path / "request_form.xlsx"))
    assert form.project == "" and form.files == []


def test_form_errors_are_precise(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.title = "Sheet1"
    wb.save(tmp_path / "request form.xlsx")
    with pytest.raises(FormError, match="no sheet named 'Request'"):
        read_output_form(tmp_path / "request form.xlsx")
    (tmp_path / "x request form.xlsx").write_bytes(b"not a zip")
    with pytest.raises(FormError, match="not a readable .xlsx"):
        read_output_form(tmp_path / "x request form.xlsx")
    bad = complete_form(files=[FileEntry(name="a.csv", role="maybe")])
    with pytest.raises(FormError, match="row 2: role 'maybe'"):
        read_output_form(write_output_form(tmp_path / "y request form.xlsx", bad))


def test_request_complete_passes(tmp_path, table_calls):
    root = folder(tmp_path)
    (root / "table1.csv").write_text("region,n\nNorth,20\n")
    write_output_form(root / "Output request form.xlsx", complete_form())
    report = check_path(root, POLICY, request=True)
    assert report.verdict == "pass", report.to_dict()
    roles = {f.path: f.role for f in report.files}
    assert roles == {"table1.csv": "output", "Output request form.xlsx": "form"}
    assert table_calls[0][3].declared_counts["table1.csv"] == ("n",)
    assert not report.all_findings()


def test_request_form_missing(tmp_path):
    root = folder(tmp_path)
    (root / "table1.csv").write_text("a,b\n1,2\n")
    (root / "request form.docx").write_bytes(b"x")
    report = check_path(root, POLICY, request=True)
    f = by_rule(report.findings, "request_form_missing")[0]
    assert "request form.docx" in f.message


def test_request_form_incomplete_names_field_and_cell(tmp_path):
    root = folder(tmp_path)
    (root / "table1.csv").write_text("a,b\n1,2\n")
    form = complete_form(researcher="")
    form.files[0].methodology = ""
    write_output_form(root / "request_form.xlsx", form)
    report = check_path(root, POLICY, request=True)
    got = {
        (f.kind, f.location.sheet, f.location.cell)
        for f in by_rule(report.findings, "request_form_incomplete")
    }
    assert ("researcher", "Request", "B3") in got
    assert ("methodology", "Files", None) in got


def test_unreadable_form_is_incomplete_not_crash(tmp_path):
    root = folder(tmp_path)
    (root / "request form.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    report = check_path(root, POLICY, request=True)
    assert by_rule(report.findings, "request_form_incomplete")[0].kind == "unreadable"


def test_file_not_on_form_and_listed_not_present(tmp_path):
    root = folder(tmp_path)
    (root / "table1.csv").write_text("a,b\n1,2\n")
    (root / "extra.csv").write_text("a,b\n1,2\n")
    form = complete_form()
    form.files.append(
        FileEntry(
            name="gone.csv",
            description="d",
            data_and_variables="v",
            methodology="m",
            sdc_applied="s",
        )
    )
    write_output_form(root / "request form.xlsx", form)
    report = check_path(root, POLICY, request=True)
    extra = next(f for f in report.files if f.path == "extra.csv")
    assert by_rule(extra.findings, "file_not_on_form")[0].severity == Severity.REVIEW
    assert by_rule(report.findings, "file_not_on_form")[0].kind == "listed_not_present"


def test_supporting_material_info_and_sdc_downgrade(tmp_path, table_calls, monkeypatch):
    from include.checks import spreadsheets
    from include.checks.findings import Finding, Location

    def fake(path, rel, fmt, policy):
        return [Finding("threshold", Severity.BLOCK, "cell below 10", Location(file=rel, row=2))]

    monkeypatch.setattr(spreadsheets, "tabular_checker", lambda: fake)
    root = folder(tmp_path)
    (root / "table1.csv").write_text("a,b\n1,2\n")
    (root / "workings.csv").write_text("a,b\n1,2\n")
    form = complete_form()
    form.files.append(
        FileEntry(name="workings.csv", description="unrounded counts", role="supporting")
    )
    write_output_form(root / "request form.xlsx", form)
    report = check_path(root, POLICY, request=True)
    sup = next(f for f in report.files if f.path == "workings.csv")
    assert sup.role == "supporting"
    assert {(f.rule, f.severity) for f in sup.findings} == {
        ("threshold", Severity.INFO),
        ("supporting_material", Severity.INFO),
    }
    out = next(f for f in report.files if f.path == "table1.csv")
    assert by_rule(out.findings, "threshold")[0].severity == Severity.BLOCK


def test_roles_parameter_overrides(tmp_path):
    root = folder(tmp_path)
    (root / "w.csv").write_text("a,b\n1,2\n")
    report = check_path(root, POLICY, roles={"w.csv": "supporting"})
    assert report.files[0].role == "supporting"
    with pytest.raises(ValueError):
        check_path(root, POLICY, roles={"w.csv": "released"})


@pytest.mark.parametrize(
    "name,ok",
    [
        ("2024_01_16_EnergyUseModel_v1", True),
        ("2024-01-16 Energy use model v2", True),
        ("20240116_HousingTenure", True),
        ("Output1", False),
        ("EnergyUseModel_v1", False),
        ("2024_01_16_Output1", False),
        ("2024_01_16_v1", False),
        ("2024_13_45_EnergyUseModel", False),
        ("new folder", False),
    ],
)
def test_folder_name(name, ok):
    assert (folder_name_problem(name) is None) is ok


def test_request_folder_name_finding(tmp_path):
    root = folder(tmp_path, "Output1")
    report = check_path(root, POLICY, request=True)
    assert by_rule(report.findings, "folder_name")[0].severity == Severity.REVIEW


# -- CLI --------------------------------------------------------------------------------------


def args(path, **kw) -> argparse.Namespace:
    base = dict(
        path=str(path),
        project=None,
        threshold=None,
        allow_indirect=[],
        request=False,
        format="json",
    )
    base.update(kw)
    return argparse.Namespace(**base)


def test_run_check_exit_codes(tmp_path, capsys):
    root = folder(tmp_path)
    (root / "t.txt").write_text("hello\n")
    assert command.run_check(args(root)) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "pass"
    (root / "d.json").write_text("{}")
    assert command.run_check(args(root)) == 1
    assert command.run_check(args(tmp_path / "missing")) == 2
    assert "no such file" in capsys.readouterr().err
    assert command.run_check(args(root, threshold=0)) == 2
    assert command.run_check(args(root, allow_indirect=["shoe_size"])) == 2
    assert command.run_check(args(root / "t.txt", request=True)) == 2


def test_run_check_unknown_project(tmp_path, capsys, monkeypatch):
    import types

    def check_policy_for(number):
        raise LookupError(f"unknown project {number}")

    monkeypatch.setitem(
        sys.modules, "include.projects", types.SimpleNamespace(check_policy_for=check_policy_for)
    )
    assert command.run_check(args(tmp_path, project="999")) == 2
    assert "unknown project 999" in capsys.readouterr().err


def test_run_check_project_policy_and_overrides(tmp_path, monkeypatch, table_calls):
    import types

    monkeypatch.setitem(
        sys.modules,
        "include.projects",
        types.SimpleNamespace(
            check_policy_for=lambda n: CheckPolicy(
                threshold=5, allowed_indirect=frozenset({"postcode"})
            )
        ),
    )
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    assert (
        command.run_check(
            args(
                tmp_path / "t.csv",
                project="1",
                threshold=20,
                allow_indirect=["school_name"],
                format="text",
            )
        )
        == 0
    )
    policy = table_calls[0][3]
    assert policy.threshold == 20 and policy.allowed_indirect == {"postcode", "school_name"}


def test_add_check_parser():
    parser = argparse.ArgumentParser(prog="srs")
    sub = parser.add_subparsers(dest="cmd")
    command.add_check_parser(sub)
    ns = parser.parse_args(
        ["check", "x", "--allow-indirect", "postcode", "--format", "html", "--request"]
    )
    assert ns.func is command.run_check and ns.allow_indirect == ["postcode"] and ns.request


def test_cli_subprocess_hostile_folder(tmp_path):
    root = folder(tmp_path)
    (root / "locked.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    (root / "bad.csv").write_bytes(b"a,b\n\xff\xfe,1\n")
    (root / "x.txt").write_bytes(b"PK\x03\x04broken")
    proc = subprocess.run(
        [sys.executable, "-m", "include.checks.command", str(root), "--format", "json"],
        cwd=REPO,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr.decode()
    data = json.loads(proc.stdout)
    assert data["verdict"] == "fail" and data["summary"]["files"] == 3
    proc = subprocess.run(
        [sys.executable, "-m", "include.checks.command", str(root), "--format", "nope"],
        cwd=REPO,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 2
