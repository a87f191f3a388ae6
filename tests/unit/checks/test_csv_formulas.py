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


# The scan (numpy finds the signs that may start a cell, an automaton drops plain numbers and
# dash runs, csv + formula_kind decide on the lines left) gives what parsing every line gives.


def scan(tmp_path, text: str, table_format: str = "csv"):
    from include.checks.csv_formulas import check_formulas

    p = tmp_path / f"t.{table_format}"
    p.write_bytes(text.encode("utf-8"))
    return [
        (f.location.line, f.location.column, f.kind) for f in check_formulas(p, "t", table_format)
    ]


def every_line(text: str, table_format: str = "csv"):
    """The reference: every line parsed, formula_kind on every cell (no scan)."""
    from include.checks.csv_formulas import _cells, _findings

    delimiter = "\t" if table_format == "tsv" else ","
    lines = text.split("\n")
    lines = lines[:-1] if lines[-1] == "" else lines
    header = _cells(lines[0].rstrip("\r"), delimiter) if lines else []
    found = [
        (no, header[i] if i < len(header) else f"column {i + 1}", kind)
        for no, line in enumerate(lines, 1)
        for i, cell in enumerate(_cells(line.rstrip("\r"), delimiter))
        if (kind := formula_kind(cell)) is not None
    ]
    return [(f.location.line, f.location.column, f.kind) for f in _findings("t", found)]


def test_a_sign_at_the_start_of_the_file_and_of_every_chunk(tmp_path, monkeypatch):
    from include.checks import csv_formulas

    text = "=A1,b\n" + "".join(f"=SUM({i}),x\n" if i % 3 == 0 else f"{i},-{i}\n" for i in range(30))
    want = [(1, "=A1", "expression")] + [(i + 2, "=A1", "function") for i in range(0, 30, 3)]
    for size in (1, 2, 3, 5, 7, 11, 64, 8 * 1024 * 1024):
        monkeypatch.setattr(csv_formulas, "_CHUNK", size)
        assert scan(tmp_path, text) == every_line(text) == want, size


def test_quoted_cells_leading_blanks_and_crlf(tmp_path):
    text = (
        "a,b,c\r\n"
        '"=SUM(1)",x,y\r\n'  # 2: quoted formula in the first cell
        'x," =1+1","-1,234"\r\n'  # 3: a space inside the quotes; a quoted number
        "x, =1+1,\t@SUM(A1)\r\n"  # 4: a space, a tab before the sign
        "x,  -5 ,-5%\r\n"  # 5: numbers with spaces around: nothing
        "x,y,=A1\r\n"  # 6: the last cell, before CR LF
        "x,y,-7\r\n"  # 7: a number before CR LF: nothing
        "x,-12.,-1.2.3\r\n"  # 8: not numbers
        "x,-1..5,-1,2"  # 9: not a number; -1 then 2; the last line is unended
    )
    assert (
        scan(tmp_path, text)
        == every_line(text)
        == [
            (2, "a", "function"),
            (3, "b", "expression"),
            (4, "b", "expression"),
            (4, "c", "function"),
            (6, "c", "expression"),
            (8, "b", "expression"),
            (8, "c", "expression"),
            (9, "b", "expression"),
        ]
    )


def test_signs_inside_text_are_not_cell_starts(tmp_path):
    text = "a,b\nNorth - East,a =b\n(-5),x+-y\n"
    assert scan(tmp_path, text) == every_line(text) == []


def test_tsv_signs_blanks_and_a_tab_inside_quotes(tmp_path):
    text = 'a\tb\tc\nx\t -5\t"-1,234"\nx\t-1,234.5\t=A1\nx\t"\t"-5"\tz\nx\t"\t-5\tabc(\n'
    # line 4: the quoted tab closes, so the cell is '\t-5"': a formula, not a number;
    # line 5: the quote never closes, so the cell is '\t-5\tabc(' up to the line's end
    assert (
        scan(tmp_path, text, "tsv")
        == every_line(text, "tsv")
        == [
            (3, "c", "expression"),
            (4, "b", "expression"),
            (5, "b", "function"),
        ]
    )


def test_a_cr_inside_an_unquoted_cell_is_read_as_a_break(tmp_path):
    text = "a,b\nx\r=SUM(1),y\n"
    assert scan(tmp_path, text) == every_line(text) == [(2, "b", "function")]


def test_a_column_of_negative_numbers_gives_no_finding(tmp_path, monkeypatch):
    from include.checks import csv_formulas

    cells = ["-{i}", "-{i}.25", "+{i}", "-{i}%", "-1e-{i}", " -{i}", "--", "-", '"-1,{i:03d}"']
    rows = "".join(
        "g{i}," + ",".join(cells).format(i=i) + ("\r\n" if i % 2 else "\n") for i in range(1, 2000)
    )
    text = "g," + ",".join(f"c{j}" for j in range(len(cells))) + "\n" + rows
    for size in (97, 8 * 1024 * 1024):
        monkeypatch.setattr(csv_formulas, "_CHUNK", size)
        assert scan(tmp_path, text) == []


@pytest.mark.parametrize("table_format", ["csv", "tsv"])
def test_the_scan_finds_what_parsing_every_line_finds(tmp_path, monkeypatch, table_format):
    import random

    from include.checks import csv_formulas

    rng = random.Random(14)
    pieces = ["-5", "+3.5", "-1,234", "-.5", "-5.", "-1..5", "-5%", "-1e5", "-1e", "--", "-", "=5", "@",
              "=SUM(1)", "+cmd|' /C'!A0", "-2+3", "x", "", "a - b", "(-5)", '"', "-5\"", " -5",
              "\t-5", "-5 ", "\r-5", "-" + "9" * 70]  # fmt: skip
    delimiter = "\t" if table_format == "tsv" else ","
    for _ in range(150):
        lines = []
        for _ in range(rng.randint(1, 6)):
            cells = []
            for _ in range(rng.randint(1, 4)):
                cell = rng.choice(pieces)
                r = rng.random()
                if r < 0.3:
                    cell = '"' + cell.replace('"', '""') + '"'
                elif r < 0.4:
                    cell = rng.choice([" ", "\t", '"\t"', '" "', '"']) + cell
                cells.append(cell)
            lines.append(delimiter.join(cells))
        text = rng.choice(["\n", "\r\n"]).join(lines) + rng.choice(["", "\n", "\r\n"])
        monkeypatch.setattr(csv_formulas, "_CHUNK", rng.choice([1, 7, 64, 8 * 1024 * 1024]))
        assert scan(tmp_path, text, table_format) == every_line(text, table_format), repr(text)


def test_the_automaton_drops_plain_numbers_dashes_and_text_signs_only():
    import numpy as np

    from include.checks.csv_formulas import _plain, _scan

    def plain(text: str, delimiter: str = ","):
        a = np.frombuffer(text.encode(), np.uint8)
        scratch = (np.empty(1 << 18, bool), np.empty(1 << 18, bool))
        pos, _ = _scan(a, ord(delimiter), scratch)
        return [bool(x) for x in _plain(a, pos, ord(delimiter))]

    dropped = '-5,+3.5, -7 ,"-1,234",--,-,-5%,-1e-3,(-5),a - b,x+-y,"  -2.5"\r\n'
    assert plain(dropped) == [True] * 12  # -- and x+-y: one candidate each
    assert plain("-5\t-1,234\t -7\t--\n", "\t") == [True] * 4
    kept = '=1,-5.,-1..5,-2+3, =A1,\t-x,"-5"x,-1e,-5%%,@x,"\t"-5\n'
    assert plain(kept) == [False] * 11
