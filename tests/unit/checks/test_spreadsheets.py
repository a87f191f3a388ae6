"""Spreadsheet hygiene and csv/tsv intake; hostile workbooks."""

from __future__ import annotations

import zipfile

from include.checks.engine import check_path
from include.checks.findings import Severity
from include.checks.policy import CheckPolicy
from tests.unit.checks.conftest import by_rule, make_xlsx, rewrite_zip, rules

POLICY = CheckPolicy()


def check(p):
    report = check_path(p, POLICY)
    return report.files[0]


def test_clean_workbook_goes_to_tabular(tmp_path, table_calls):
    p = make_xlsx(tmp_path / "t.xlsx")
    fr = check(p)
    assert fr.findings == [] and fr.type == "xlsx"
    assert [(c[1], c[2]) for c in table_calls] == [("t.xlsx", "xlsx")]


def test_hidden_sheet(tmp_path):
    fr = check(make_xlsx(tmp_path / "t.xlsx", hidden_sheet="Raw"))
    f = by_rule(fr.findings, "hidden_content")[0]
    assert (f.kind, f.location.sheet, f.severity) == ("hidden_sheet", "Raw", Severity.BLOCK)


def test_very_hidden_sheet(tmp_path):
    fr = check(make_xlsx(tmp_path / "t.xlsx", hidden_sheet="Raw", very_hidden=True))
    assert by_rule(fr.findings, "hidden_content")[0].kind == "very_hidden_sheet"


def test_hidden_row_and_column(tmp_path):
    fr = check(make_xlsx(tmp_path / "t.xlsx", hidden_row=3, hidden_col="B"))
    kinds = {
        (f.kind, f.location.row, f.location.column) for f in by_rule(fr.findings, "hidden_content")
    }
    assert ("hidden_row", 3, None) in kinds
    assert ("hidden_column", None, "B") in kinds


def test_formulas_review_with_cells(tmp_path):
    fr = check(make_xlsx(tmp_path / "t.xlsx", formula=True))
    f = by_rule(fr.findings, "formula")[0]
    assert f.severity == Severity.REVIEW and f.location.cell == "C2" and "C3" in f.message


def test_comment_is_hidden_content_and_scanned(tmp_path):
    fr = check(make_xlsx(tmp_path / "t.xlsx", comment="check with jane.doe@example.com"))
    f = by_rule(fr.findings, "hidden_content")[0]
    assert f.kind == "comment" and f.location.cell == "A2"
    assert any(x.rule == "direct_identifier" and x.kind == "email" for x in fr.findings)


def test_file_hyperlink_is_external_but_web_link_is_not(tmp_path):
    fr = check(make_xlsx(tmp_path / "a.xlsx", hyperlink="file:///C:/data/secret.xlsx"))
    assert "external_link" in rules(fr.findings)
    fr = check(make_xlsx(tmp_path / "b.xlsx", hyperlink=r"\\server01\share\x.xlsx"))
    assert "external_link" in rules(fr.findings)
    fr = check(make_xlsx(tmp_path / "c.xlsx", hyperlink="https://www.ons.gov.uk/"))
    assert "external_link" not in rules(fr.findings)


def test_external_workbook_link_part(tmp_path):
    src = make_xlsx(tmp_path / "src.xlsx")
    p = rewrite_zip(
        src,
        tmp_path / "t.xlsx",
        add={
            "xl/externalLinks/externalLink1.xml": b"<externalLink xmlns='http://schemas.openxmlformats.org/spreadsheetml/2006/main'/>",
            "xl/externalLinks/_rels/externalLink1.xml.rels": (
                b"<Relationships xmlns='http://schemas.openxmlformats.org/package/2006/relationships'>"
                b"<Relationship Id='rId1' Type='http://x/externalLinkPath' Target='file:///\\\\srv\\data.xlsx' "
                b"TargetMode='External'/></Relationships>"
            ),
        },
    )
    f = by_rule(check(p).findings, "external_link")[0]
    assert f.kind == "external_workbook"


def test_macro_vba_project_in_xlsx(tmp_path):
    src = make_xlsx(tmp_path / "src.xlsx")
    p = rewrite_zip(src, tmp_path / "t.xlsx", add={"xl/vbaProject.bin": b"\x00" * 64})
    assert "macro" in rules(check(p).findings)


def test_xlsm_extension_is_macro(tmp_path):
    src = make_xlsx(tmp_path / "src.xlsx")
    ct = (
        zipfile.ZipFile(src)
        .read("[Content_Types].xml")
        .replace(b"spreadsheetml.sheet.main+xml", b"../ms-excel.sheet.macroEnabled.main+xml")
        .replace(
            b"application/vnd.openxmlformats-officedocument../ms-excel", b"application/vnd.ms-excel"
        )
    )
    p = rewrite_zip(
        src,
        tmp_path / "t.xlsm",
        replace={"[Content_Types].xml": ct},
        add={"xl/vbaProject.bin": b"\x00" * 64},
    )
    fr = check(p)
    assert fr.type == "xlsm" and "macro" in rules(fr.findings)


def test_pivot_cache_and_connections(tmp_path):
    src = make_xlsx(tmp_path / "src.xlsx")
    p = rewrite_zip(
        src,
        tmp_path / "t.xlsx",
        add={
            "xl/pivotCache/pivotCacheRecords1.xml": b"<pivotCacheRecords/>",
            "xl/connections.xml": b"<connections/>",
        },
    )
    kinds = {(f.rule, f.kind) for f in check(p).findings}
    assert ("hidden_content", "pivot_cache") in kinds and (
        "external_link",
        "data_connection",
    ) in kinds


def test_encrypted_xlsx_is_unreadable_password(tmp_path):
    p = tmp_path / "locked.xlsx"
    p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4096)
    f = by_rule(check(p).findings, "unreadable")[0]
    assert "password" in f.message and f.kind == "encrypted"


def test_corrupt_xlsx(tmp_path):
    p = tmp_path / "bad.xlsx"
    p.write_bytes(b"PK\x03\x04" + b"garbage" * 100)
    fr = check(p)
    assert rules(fr.findings) == {"unreadable"}


def test_truncated_xlsx(tmp_path):
    good = make_xlsx(tmp_path / "good.xlsx").read_bytes()
    p = tmp_path / "cut.xlsx"
    p.write_bytes(good[: len(good) // 2])
    assert "unreadable" in rules(check(p).findings)


def test_malformed_sheet_xml_and_dtd(tmp_path, table_calls):
    src = make_xlsx(tmp_path / "src.xlsx")
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;">]><worksheet>&b;</worksheet>'
    )
    p = rewrite_zip(src, tmp_path / "t.xlsx", replace={"xl/worksheets/sheet1.xml": bomb})
    fr = check(p)
    assert rules(fr.findings) == {"unreadable"}
    assert not table_calls


def test_zip_bomb_refused_before_inflating(tmp_path, table_calls):
    src = make_xlsx(tmp_path / "src.xlsx")
    p = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
        with zout.open("xl/media/huge.bin", "w") as fh:  # 300 MB of zeros -> ~300 KB on disk
            block = b"\x00" * (1024 * 1024)
            for _ in range(300):
                fh.write(block)
    assert p.stat().st_size < 2 * 1024 * 1024
    fr = check(p)
    assert rules(fr.findings) <= {"unreadable", "too_large"} and fr.findings
    assert not table_calls


def test_invalid_utf8_csv_reports_offset(tmp_path, table_calls):
    p = tmp_path / "t.csv"
    p.write_bytes(b"area,count\nNorth,12\nCaf\xe9,14\n")
    f = by_rule(check(p).findings, "unreadable")[0]
    assert "offset 23" in f.message and f.location.line == 3
    assert not table_calls


def test_invalid_utf8_after_first_chunk(tmp_path):
    p = tmp_path / "t.csv"
    body = b"a,b\n" + b"x,1\n" * 300_000 + b"\xff,2\n"
    p.write_bytes(body)
    f = by_rule(check(p).findings, "unreadable")[0]
    assert f"offset {len(body) - 4:,}" in f.message


def test_utf8_with_bom_and_multibyte_across_chunks_is_fine(tmp_path, table_calls):
    p = tmp_path / "t.csv"
    p.write_bytes(b"\xef\xbb\xbfname,count\n" + "Zoë,12\n".encode() * 200_000)
    assert "unreadable" not in rules(check(p).findings)
    assert table_calls[-1][2] == "csv"


def test_tsv_and_tab_separated_csv(tmp_path, table_calls):
    (tmp_path / "t.tsv").write_text("a\tb\n1\t2\n3\t4\n")
    (tmp_path / "u.csv").write_text("a\tb\n1\t2\n3\t4\n")
    (tmp_path / "v.txt").write_text("a,b,c\n1,2,3\n4,5,6\n")
    for name in ("t.tsv", "u.csv", "v.txt"):
        check(tmp_path / name)
    assert [(c[1], c[2]) for c in table_calls] == [
        ("t.tsv", "tsv"),
        ("u.csv", "tsv"),
        ("v.txt", "csv"),
    ]


PREFIXED_SHEET = (
    b'<?xml version="1.0"?><x:worksheet xmlns:x="http://schemas.openxmlformats.org/'
    b'spreadsheetml/2006/main" xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main">'
    b'<x:sheetData><x:row r="1"><x:c r="A1"><x:v>1</x:v></x:c></x:row>'
    b'<x:row r="2" hidden="1"><x:c r="A2"><x:v>2</x:v></x:c></x:row>'
    b'<x:row r="3"><x:c r="B3">' + b"<x:v>0</x:v>" * 400 + b"</x:c>"
    b'<x:c r="C3"><x:f>SUM(A1:A2)</x:f><x:v>3</x:v></x:c></x:row></x:sheetData>'
    b"<x:extLst><x:ext><xm:f>Lists!$A$1:$A$9</xm:f></x:ext></x:extLst></x:worksheet>"
)


def test_sheet_xml_streamed_with_any_prefix_across_chunks(tmp_path, monkeypatch):
    """The raw-XML scan: a prefixed sheet, a formula whose cell starts a chunk earlier (64-byte
    chunks), a hidden row; a data-validation xm:f outside sheetData is not a formula."""
    from include.checks import spreadsheets

    monkeypatch.setattr(spreadsheets, "SHEET_CHUNK_BYTES", 64)
    src = make_xlsx(tmp_path / "src.xlsx")
    p = rewrite_zip(src, tmp_path / "t.xlsx", replace={"xl/worksheets/sheet1.xml": PREFIXED_SHEET})
    fr = check(p)
    formulas = by_rule(fr.findings, "formula")
    assert [f.location.cell for f in formulas] == ["C3"] and "has 1 cell(s)" in formulas[0].message
    hidden = [(f.kind, f.location.row) for f in by_rule(fr.findings, "hidden_content")]
    assert hidden == [("hidden_row", 2)]
