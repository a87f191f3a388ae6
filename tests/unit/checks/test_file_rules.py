"""File-level rules: banned types, mismatches, unchecked types, ML models, hidden, empty, size."""

from __future__ import annotations

import io
import pickle
import zipfile

import pytest

from include.checks.engine import check_path
from include.checks.findings import Severity
from include.checks.policy import CheckPolicy
from tests.unit.checks.conftest import by_rule, make_xlsx, rules

POLICY = CheckPolicy()


def one(tmp_path, name: str, data: bytes, policy: CheckPolicy = POLICY):
    p = tmp_path / name
    p.write_bytes(data)
    report = check_path(p, policy)
    assert len(report.files) == 1
    return report.files[0]


@pytest.mark.parametrize(
    "name",
    [
        "data.json",
        "DATA.JSON",
        "map.shp",
        "map.SHP.XML",
        "roads.dbf",
        "notes.md",
        "page.html",
        "analysis.Rmd",
        "x.rnw",
        "proj.Rproj",
        "slides.rpres",
        "env.RData",
        "obj.rds",
        "x.qix",
    ],
)
def test_banned_extensions(tmp_path, name):
    fr = one(tmp_path, name, b"anything\n")
    assert by_rule(fr.findings, "banned_file_type")[0].severity == Severity.BLOCK


@pytest.mark.parametrize(
    "name", ["json_notes.txt", "report.html.txt", "markdown.csv", "shp_list.csv"]
)
def test_banned_lookalikes_pass(tmp_path, name):
    fr = one(tmp_path, name, b"a,b\nc,d\n")
    assert "banned_file_type" not in rules(fr.findings)


@pytest.mark.parametrize(
    "name", ["model.pkl", "m.joblib", "w.PT", "net.onnx", "x.safetensors", "f.h5", "m.rds-model"]
)
def test_ml_model_by_extension(tmp_path, name):
    fr = one(tmp_path, name, b"\x00\x01binary")
    assert "ml_model" in rules(fr.findings)


def test_ml_model_by_pickle_magic_whatever_the_name(tmp_path):
    fr = one(tmp_path, "results.dat", pickle.dumps({"a": 1}, protocol=4))
    assert "ml_model" in rules(fr.findings)
    fr = one(tmp_path, "results.txt", pickle.dumps([1, 2], protocol=2))
    assert "ml_model" in rules(fr.findings)


def test_text_starting_with_similar_bytes_is_not_a_pickle(tmp_path):
    fr = one(tmp_path, "notes.txt", b"\x80 is not text but this is mostly text " * 5)
    assert "ml_model" not in rules(fr.findings)


@pytest.mark.parametrize("name", [".env", ".DS_Store", "Thumbs.db", "desktop.ini", "~$book.xlsx"])
def test_hidden_files(tmp_path, name):
    fr = one(tmp_path, name, b"x")
    assert rules(fr.findings) == {"hidden_file"}


def test_files_inside_hidden_or_macosx_folders_are_hidden(tmp_path):
    root = tmp_path / "2024_01_16_Energy_v1"
    (root / "__MACOSX").mkdir(parents=True)
    (root / "__MACOSX" / "t.csv").write_text("a,b\n1,2\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("x")
    (root / "ok.txt").write_text("fine text\n")
    report = check_path(root, POLICY)
    hidden = {f.path for f in report.files if "hidden_file" in rules(f.findings)}
    assert hidden == {"__MACOSX/t.csv", ".git/config"}


def test_dotted_names_that_are_not_hidden(tmp_path):
    fr = one(tmp_path, "table.v2.csv", b"a,b\n1,2\n")
    assert "hidden_file" not in rules(fr.findings)


def test_empty_file_is_info(tmp_path):
    fr = one(tmp_path, "empty.csv", b"")
    assert [(f.rule, f.severity) for f in fr.findings] == [("empty_file", Severity.INFO)]
    assert fr.type == "empty"


def test_too_large_is_never_read(tmp_path, monkeypatch):
    from include.checks import filetypes

    def boom(*a, **k):
        raise AssertionError("a too-large file was read")

    monkeypatch.setattr(filetypes, "read_prefix", boom)
    fr = one(tmp_path, "big.csv", b"a,b\n" * 100, CheckPolicy(max_file_bytes=50))
    assert rules(fr.findings) == {"too_large"}
    assert fr.sha256 is None


def test_exactly_at_size_limit_is_fine(tmp_path):
    data = b"a,b\n1,2\n"
    fr = one(tmp_path, "t.csv", data, CheckPolicy(max_file_bytes=len(data)))
    assert "too_large" not in rules(fr.findings)


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.csv", "a,b\n1,2\n")
    return buf.getvalue()


def test_archive_is_unchecked_and_never_opened(tmp_path):
    fr = one(tmp_path, "bundle.zip", _zip_bytes())
    assert rules(fr.findings) == {"unchecked_file_type"}
    assert fr.type == "archive"


def test_zip_named_txt_is_mismatch(tmp_path):
    fr = one(tmp_path, "notes.txt", _zip_bytes())
    assert "file_type_mismatch" in rules(fr.findings)


def test_xlsx_named_csv_is_mismatch(tmp_path, table_calls):
    src = make_xlsx(tmp_path / "real.xlsx")
    fr = one(tmp_path, "table.csv", src.read_bytes())
    assert "file_type_mismatch" in rules(fr.findings)
    assert fr.type == "xlsx"
    assert not [c for c in table_calls if c[1] == "table.csv"]


def test_csv_named_xlsx_is_mismatch(tmp_path):
    fr = one(tmp_path, "table.xlsx", b"a,b\n1,2\n")
    assert "file_type_mismatch" in rules(fr.findings)


def test_pdf_named_docx_is_mismatch(tmp_path):
    fr = one(tmp_path, "report.docx", b"%PDF-1.4\n%%EOF\n")
    assert "file_type_mismatch" in rules(fr.findings)


def test_executable_unchecked(tmp_path):
    fr = one(tmp_path, "tool.exe", b"MZ" + b"\x90\x00" * 200)
    assert "unchecked_file_type" in rules(fr.findings)
    fr = one(tmp_path, "tool.csv", b"\x7fELF\x02\x01\x01" + b"\x00" * 200)
    assert "file_type_mismatch" in rules(fr.findings)


def test_unknown_binary_unchecked(tmp_path):
    fr = one(tmp_path, "blob.xyz", bytes(range(256)) * 4)
    assert rules(fr.findings) == {"unchecked_file_type"}


def test_png_image_needs_officer_review_not_block(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 100
    fr = one(tmp_path, "chart.png", png)
    f = by_rule(fr.findings, "unchecked_file_type")[0]
    assert (fr.type, f.kind, f.severity) == ("image", "image", Severity.REVIEW)


def test_png_named_csv_is_mismatch(tmp_path):
    fr = one(tmp_path, "chart.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    assert "file_type_mismatch" in rules(fr.findings)


def test_legacy_xls_is_unchecked_not_encrypted(tmp_path):
    fr = one(tmp_path, "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    assert rules(fr.findings) == {"unchecked_file_type"}


def test_utf16_text_unreadable(tmp_path):
    fr = one(tmp_path, "t.csv", "a,b\n1,2\n".encode("utf-16"))
    f = by_rule(fr.findings, "unreadable")[0]
    assert f.kind == "encoding"


def test_every_file_has_size_and_sha(tmp_path):
    fr = one(tmp_path, "t.txt", b"hello\n")
    import hashlib

    assert fr.size == 6 and fr.sha256 == hashlib.sha256(b"hello\n").hexdigest()
