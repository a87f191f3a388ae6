"""Documents (docx, pdf, txt) and code rules."""

from __future__ import annotations

import json
import time

import pytest

from include.checks import code
from include.checks.engine import check_path
from include.checks.findings import Severity
from include.checks.policy import CheckPolicy
from tests.unit.checks.conftest import by_rule, make_docx, make_pdf, rewrite_zip, rules

POLICY = CheckPolicy()
NHS = "943 476 5919"  # valid modulus-11 check digit


def check(p):
    return check_path(p, POLICY).files[0]


# -- documents -------------------------------------------------------------------------------


def test_docx_text_scanned(tmp_path):
    fr = check(make_docx(tmp_path / "r.docx", ["Intro", f"Patient NHS number {NHS} was seen"]))
    f = by_rule(fr.findings, "direct_identifier")[0]
    assert f.kind == "nhs_number" and f.location.line == 2


def test_docx_clean(tmp_path):
    fr = check(make_docx(tmp_path / "r.docx", ["Table 1 shows 1,234 households in E09000001."]))
    assert fr.findings == [] and fr.type == "docx"


def test_docx_comment_is_hidden_content(tmp_path):
    p = make_docx(tmp_path / "r.docx", ["Body text"], comment="ask the team")
    import zipfile

    if "word/comments.xml" not in zipfile.ZipFile(p).namelist():
        pytest.skip("python-docx cannot write comments in this version")
    assert ("hidden_content", "comment") in {(f.rule, f.kind) for f in check(p).findings}


def test_docx_external_template_and_file_link(tmp_path):
    src = make_docx(tmp_path / "s.docx", ["x"])
    rels = (
        b"<Relationships xmlns='http://schemas.openxmlformats.org/package/2006/relationships'>"
        b"<Relationship Id='rId9' Type='http://x/attachedTemplate' Target='file:///\\\\srv\\t.dotm' "
        b"TargetMode='External'/>"
        b"<Relationship Id='rId8' Type='http://x/hyperlink' Target='https://ons.gov.uk' "
        b"TargetMode='External'/></Relationships>"
    )
    p = rewrite_zip(src, tmp_path / "r.docx", add={"word/_rels/settings.xml.rels": rels})
    links = by_rule(check(p).findings, "external_link")
    assert [f.kind for f in links] == ["attachedTemplate"]


def test_docx_embedded_object_and_macro(tmp_path):
    src = make_docx(tmp_path / "s.docx", ["x"])
    p = rewrite_zip(
        src,
        tmp_path / "r.docx",
        add={"word/embeddings/oleObject1.bin": b"\x00" * 10, "word/vbaProject.bin": b"\x00"},
    )
    got = {(f.rule, f.kind) for f in check(p).findings}
    assert ("unchecked_file_type", "embedded_object") in got and ("macro", "vba") in got


def test_docx_tracked_deletion_is_hidden_content(tmp_path):
    import zipfile

    src = make_docx(tmp_path / "s.docx", ["KEEP"])
    xml = zipfile.ZipFile(src).read("word/document.xml")
    xml = xml.replace(
        b"<w:t>KEEP</w:t>",
        b"<w:t>KEEP</w:t></w:r><w:del w:id='1' w:author='a'><w:r>"
        b"<w:delText>old secret</w:delText></w:r></w:del><w:r><w:t/>",
    )
    p = rewrite_zip(src, tmp_path / "r.docx", replace={"word/document.xml": xml})
    assert ("hidden_content", "tracked_change") in {(f.rule, f.kind) for f in check(p).findings}


def test_pdf_text_scanned_with_page(tmp_path):
    fr = check(make_pdf(tmp_path / "r.pdf", f"NHS number {NHS}"))
    f = by_rule(fr.findings, "direct_identifier")[0]
    assert f.location.page == 1


def test_pdf_clean(tmp_path):
    fr = check(make_pdf(tmp_path / "r.pdf", "Counts by region, 2021"))
    assert fr.findings == [] and fr.type == "pdf"


def test_pdf_encrypted(tmp_path):
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(100, 100)
    w.encrypt("secret", algorithm="RC4-128")
    with open(tmp_path / "e.pdf", "wb") as fh:
        w.write(fh)
    f = by_rule(check(tmp_path / "e.pdf").findings, "unreadable")[0]
    assert "password" in f.message


def test_pdf_corrupt(tmp_path):
    p = tmp_path / "c.pdf"
    p.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    assert rules(check(p).findings) & {"unreadable", "unchecked_file_type"}


def test_txt_identifier_line(tmp_path):
    p = tmp_path / "n.txt"
    p.write_text("line one\nline two\ncontact jo@example.org\n")
    f = by_rule(check(p).findings, "direct_identifier")[0]
    assert f.location.line == 3


def test_50mb_single_line_txt_is_bounded(tmp_path):
    p = tmp_path / "huge.txt"
    with open(p, "wb") as fh:
        chunk = b"word " * (1024 * 1024 // 5)
        for _ in range(50):
            fh.write(chunk)
    start = time.monotonic()
    fr = check(p)
    assert time.monotonic() - start < 30
    assert ("too_large", "text") in {(f.rule, f.kind) for f in fr.findings}


def test_identifier_after_first_window_keeps_line_numbers(tmp_path):
    p = tmp_path / "n.txt"
    filler = ("x" * 99 + "\n") * 15_000  # 1.5 MB: the identifier is in the second window
    p.write_text(filler + "mail jo@example.org\n")
    f = by_rule(check(p).findings, "direct_identifier")[0]
    assert f.location.line == 15_001


# -- code --------------------------------------------------------------------------------------


def src(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return check(p)


COMMENTED_PY = "# load the table\nimport pandas as pd\n" + "x = 1\n" * 5


@pytest.mark.parametrize(
    "name,line",
    [
        ("a.py", r'df = pd.read_csv("\\\\srv-data01\\Ready for checking\\t.csv")'),
        ("a.R", r'read.csv("\\\\ONS-SRS-FS\\Project\\x.csv")'),
        ("a.do", r'use "\\srv01\Working\data.dta", clear'),
        ("a.sas", r"libname x '\\fileserver\project';"),
        ("a.R", 'setwd("//srvfs01/Working")'),
    ],
)
def test_server_path(tmp_path, name, line):
    fr = src(tmp_path, name, line + "\n")
    assert "server_path" in rules(fr.findings)


@pytest.mark.parametrize(
    "line",
    [
        r'df = pd.read_csv("\\P\Ready for checking\t.csv")',
        r'gsub("\\s\\s+", " ", x)',
        r'grepl("\\bword\\b", x)',
        r'x <- "C:\\Users\\me\\file.csv"',
        'url <- "https://www.ons.gov.uk/data"',
        "// comment in stata",
    ],
)
def test_server_path_lookalikes(tmp_path, line):
    fr = src(tmp_path, "a.R", line + "\n")
    assert "server_path" not in rules(fr.findings)


@pytest.mark.parametrize(
    "name,line",
    [
        ("a.py", 'sub = df[df.nhs_number == "1234567890"]'),
        ("a.py", "sub = df[df['person_id'] == 12345]"),
        ("a.py", "if ruref == '49900012345':"),
        ("a.py", 'df.query("patient_id == 99881")'),
        ("a.py", 'df[df.person_id.isin(["A1234", "B5678"])]'),
        ("a.R", 'filter(df, pupil_id == "X12345")'),
        ("a.R", "df[df$uprn %in% c(100023336956), ]"),
        ("a.sql", "SELECT * FROM t WHERE person_id = 12345;"),
        ("a.sql", "select * from t where ruref in ('49900012345');"),
        ("a.do", 'keep if ruref == "49900012345"'),
        ("a.sas", "data x; set y; where person_id = 12345; run;"),
        ("a.sps", "SELECT IF (person_id = 12345)."),
    ],
)
def test_individual_search(tmp_path, name, line):
    fr = src(tmp_path, name, line + "\n")
    f = by_rule(fr.findings, "individual_search")[0]
    assert f.severity == Severity.BLOCK and f.location.line == 1
    assert "12345" not in f.message and "4990" not in f.message  # never repeat the value


@pytest.mark.parametrize(
    "name,line",
    [
        ("a.py", "sub = df[df.age == 30]"),
        ("a.py", "sub = df[df.year == 2020]"),
        ("a.py", "sub = df[df.person_id == pid]"),
        ("a.py", 'sub = df[df.region == "E09000001"]'),
        ("a.py", 'df.to_excel(path, sheet_name="Summary")'),
        ("a.py", "merged = a.merge(b, on='person_id')"),
        ("a.sql", "SELECT region, COUNT(*) FROM t WHERE year = 2021 GROUP BY region;"),
        ("a.sql", "SELECT * FROM t WHERE lsoa_id = 'E01000001';"),
        ("a.do", "keep if age >= 16"),
        ("a.R", "df %>% filter(id == i)"),
    ],
)
def test_individual_search_lookalikes(tmp_path, name, line):
    fr = src(tmp_path, name, line + "\n")
    assert "individual_search" not in rules(fr.findings)


def test_code_uncommented(tmp_path):
    fr = src(tmp_path, "a.py", "x = 1\n" * 20)
    assert by_rule(fr.findings, "code_uncommented")[0].severity == Severity.REVIEW


def test_code_commented_enough(tmp_path):
    body = "".join(f"# step {i}: explain\nx{i} = {i}\n" for i in range(10))
    assert "code_uncommented" not in rules(src(tmp_path, "a.py", body).findings)


def test_short_code_needs_no_ratio(tmp_path):
    assert "code_uncommented" not in rules(src(tmp_path, "a.py", "x = 1\n" * 9).findings)


def test_hash_inside_string_is_not_a_comment():
    assert code.comment_lines('x = "# not a comment"\n' * 3, "python") == (3, 0)


@pytest.mark.parametrize(
    "lang,text,expected",
    [
        ("stata", "* comment\ngen x = 1 // trailing\nreg y x\n/* block\nstill */\n", (5, 4)),
        ("sql", "-- c\nselect 1;\n/* a */ select 2;\n", (3, 2)),
        ("sas", "* comment;\ndata x; run;\n", (2, 1)),
        ("matlab", "% c\nx = 1;\n", (2, 1)),
        ("r", "#' roxygen\nx <- 1 # why\ny <- 2\n", (3, 2)),
    ],
)
def test_comment_markers_per_language(lang, text, expected):
    assert code.comment_lines(text, lang) == expected


def test_embedded_pasted_table(tmp_path):
    table = "".join(f"# {i}  {i * 13}  {i * 0.5:.2f}  {i * 7}\n" for i in range(1, 8))
    fr = src(tmp_path, "a.py", "# results below\n" + table)
    assert ("embedded_results", "pasted_table") in {(f.rule, f.kind) for f in fr.findings}


def test_embedded_stat_output(tmp_path):
    fr = src(tmp_path, "a.do", "* model\nreg y x\n* Number of obs = 1,234   R-squared = 0.45\n")
    assert ("embedded_results", "pasted_output") in {(f.rule, f.kind) for f in fr.findings}


def test_embedded_literal_data_and_lookalike(tmp_path):
    data = "x = c(" + ", ".join(str(i * 37 % 101) for i in range(40)) + ")\n"
    assert "embedded_results" in rules(src(tmp_path, "a.R", "# d\n" + data).findings)
    ok = "breaks <- c(0, 18, 30, 45, 65, 120)\n"
    assert "embedded_results" not in rules(src(tmp_path, "b.R", "# d\n" + ok).findings)


def test_code_identifier_in_comment(tmp_path):
    fr = src(tmp_path, "a.py", f"# patient {NHS} looked odd\nx = 1\n")
    assert "direct_identifier" in rules(fr.findings)


def _nb(cells):
    return json.dumps(
        {
            "cells": cells,
            "metadata": {"kernelspec": {"language": "python"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


def test_notebook_outputs_are_embedded_results(tmp_path):
    nb = _nb(
        [
            {"cell_type": "markdown", "source": ["# Analysis\n"], "metadata": {}},
            {
                "cell_type": "code",
                "source": ["df.head()\n"],
                "outputs": [
                    {"output_type": "execute_result", "data": {"text/plain": [f"0  {NHS}\n"]}}
                ],
                "metadata": {},
                "execution_count": 1,
            },
        ]
    )
    fr = src(tmp_path, "a.ipynb", nb)
    assert fr.type == "notebook"
    got = {(f.rule, f.kind) for f in fr.findings}
    assert ("embedded_results", "notebook_output") in got
    assert ("direct_identifier", "nhs_number") in got


def test_notebook_clean_and_corrupt(tmp_path):
    nb = _nb([{"cell_type": "code", "source": "# sum\nx = 1\n", "outputs": [], "metadata": {}}])
    assert src(tmp_path, "a.ipynb", nb).findings == []
    assert "unreadable" in rules(src(tmp_path, "b.ipynb", '{"cells": [').findings)
