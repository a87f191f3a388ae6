"""Formula-like CSV/TSV cells are `formula` findings: block when they call a function or a
command, review otherwise; signed numbers and nil dashes are not formulas (issue 14)."""

from __future__ import annotations

import pytest

from include.checks.csv_formulas import LISTED, formula_kind
from include.checks.engine import check_path
from include.checks.findings import Severity
from include.checks.policy import CheckPolicy


def formulas(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    [fr] = check_path(p, CheckPolicy()).files
    return [f for f in fr.findings if f.rule == "formula"]


@pytest.mark.parametrize(
    ("cell", "kind"),
    [
        ('=HYPERLINK("http://evil.example/x","Click")', "function"),
        ("+cmd|' /C calc'!A0", "command"),
        ("-cmd|' /C notepad'!A0", "command"),
        ("@SUM(1+1)*cmd|' /C calc'!A0", "command"),
        ("@SUM(A1:A3)", "function"),
        ("=A1+B2", "expression"),
        ("-2+3", "expression"),
        (" =1+1", "expression"),
    ],
)
def test_formula_kinds(cell, kind):
    assert formula_kind(cell) == kind


@pytest.mark.parametrize(
    "cell", ["-2", "+3.5", "-1,234", "-5%", "-1.2e-3", "-", "--", "+", "North-East", "a=b", ""]
)
def test_numbers_dashes_and_text_are_not_formulas(cell):
    assert formula_kind(cell) is None


def test_csv_formula_cells_are_found_with_line_and_column(tmp_path):
    text = (
        "region,count,note\n"
        "North,12,-3.5\n"
        'South,14,"=HYPERLINK(""http://x"",""y"")"\n'
        "East,15,+cmd|' /C calc'!A0\n"
        "West,16,-2+3\n"
        "Mid,-20,--\n"
    )
    found = formulas(tmp_path, "t.csv", text)
    assert [(f.location.line, f.location.column, f.kind, f.severity) for f in found] == [
        (3, "note", "function", Severity.BLOCK),
        (4, "note", "command", Severity.BLOCK),
        (5, "note", "expression", Severity.REVIEW),
    ]
    assert "http://x" not in found[0].message


def test_tsv_and_a_formula_in_the_first_cell(tmp_path):
    found = formulas(tmp_path, "t.tsv", "=SUM(1,2)\tn\nNorth\t12\n")
    assert [(f.location.line, f.kind) for f in found] == [(1, "function")]


def test_negative_numbers_alone_give_no_finding(tmp_path):
    rows = "".join(f'g{i},{-i},-{i}.25,"-1,{i:03d}"\n' for i in range(1, 500))
    assert formulas(tmp_path, "neg.csv", "group,change,rate,total\n" + rows) == []


def test_many_formulas_are_listed_then_summarised(tmp_path):
    rows = "".join(f"g{i},=A{i}*2\n" for i in range(LISTED + 5))
    found = formulas(tmp_path, "many.csv", "group,value\n" + rows)
    assert len(found) == LISTED + 1
    assert found[-1].kind == "summary" and "5 more formula-like cells" in found[-1].message


def test_lines_are_counted_across_read_chunks(tmp_path, monkeypatch):
    from include.checks import csv_formulas

    monkeypatch.setattr(csv_formulas, "_CHUNK", 64)  # many chunks, lines cut across them
    rows = [f"row{i},{i}" for i in range(200)]
    rows[150] = "row150,=SUM(A1)"
    found = formulas(tmp_path, "c.csv", "name,n\n" + "\n".join(rows) + "\n")
    assert [(f.location.line, f.kind) for f in found] == [(152, "function")]
