"""Fixtures for the file/engine checks: fixture files are generated here, never committed.

Table *content* rules belong to tabular.py's own tests; here `check_table_file` is replaced by a
recorder so these tests pin the routing contract (who is called with what) and nothing else.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def table_calls(request, monkeypatch):
    calls: list[tuple] = []
    module = request.node.module.__name__.rsplit(".", 1)[-1]
    if module.startswith(("test_tabular", "test_identifiers", "test_acro")):
        return calls  # those suites test the real content rules

    def fake(path, rel, table_format, policy):
        calls.append((Path(path), rel, table_format, policy))
        return []

    from include.checks import spreadsheets

    monkeypatch.setattr(spreadsheets, "tabular_checker", lambda: fake)
    return calls


def make_xlsx(
    path: Path,
    *,
    hidden_sheet: str | None = None,
    very_hidden: bool = False,
    hidden_row: int | None = None,
    hidden_col: str | None = None,
    formula: bool = False,
    comment: str | None = None,
    hyperlink: str | None = None,
    rows: list[list] | None = None,
) -> Path:
    import openpyxl
    from openpyxl.comments import Comment

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Table"
    for r in rows or [["region", "count"], ["North", 120], ["South", 140]]:
        ws.append(r)
    if formula:
        ws["C2"] = "=B2*2"
        ws["C3"] = "=B3*2"
    if hidden_row:
        ws.row_dimensions[hidden_row].hidden = True
    if hidden_col:
        ws.column_dimensions[hidden_col].hidden = True
    if comment:
        ws["A2"].comment = Comment(comment, "author")
    if hyperlink:
        ws["A3"].hyperlink = hyperlink
    if hidden_sheet:
        other = wb.create_sheet(hidden_sheet)
        other.append(["secret", 3])
        other.sheet_state = "veryHidden" if very_hidden else "hidden"
    wb.save(path)
    return path


def rewrite_zip(
    src: Path,
    dst: Path,
    add: dict[str, bytes] | None = None,
    replace: dict[str, bytes] | None = None,
) -> Path:
    """Copy an OOXML zip, replacing or adding parts."""
    add, replace = add or {}, replace or {}
    tmp = dst.with_suffix(dst.suffix + ".tmp")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = replace.get(info.filename, zin.read(info.filename))
            zout.writestr(info.filename, data)
        for name, data in add.items():
            zout.writestr(name, data)
    tmp.replace(dst)
    return dst


def make_docx(path: Path, paragraphs: list[str], *, comment: str | None = None) -> Path:
    import docx

    d = docx.Document()
    for p in paragraphs:
        d.add_paragraph(p)
    if comment and hasattr(d, "add_comment"):
        run = d.paragraphs[0].runs[0]
        d.add_comment(run, text=comment, author="me")
    d.save(path)
    return path


def make_pdf(path: Path, text: str) -> Path:
    """A minimal one-page PDF with a text line (hand-written; pypdf reads it)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + o + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))
    return path


def rules(findings) -> set[str]:
    return {f.rule for f in findings}


def by_rule(findings, rule: str) -> list:
    return [f for f in findings if f.rule == rule]
