"""JSON, HTML, XML and YAML are recognised by content whatever the extension (issue 14)."""

from __future__ import annotations

import json

import pytest

from include.checks.engine import check_path
from include.checks.findings import Severity
from include.checks.policy import CheckPolicy
from include.checks.structured_text import structured_kind
from tests.unit.checks.conftest import by_rule, rules


def one(tmp_path, name: str, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    [fr] = check_path(p, CheckPolicy()).files
    return fr


JSON_TABLE = json.dumps([{"region": "North", "count": 3}, {"region": "South", "count": 4}])


def test_json_renamed_csv_is_json_banned_and_never_read_as_a_table(tmp_path, table_calls):
    fr = one(tmp_path, "table.csv", JSON_TABLE.encode())
    assert fr.type == "json"
    assert rules(fr.findings) == {"banned_file_type", "file_type_mismatch"}
    banned = by_rule(fr.findings, "banned_file_type")[0]
    assert (banned.kind, banned.severity) == ("json", Severity.BLOCK)
    assert "JSON" in by_rule(fr.findings, "file_type_mismatch")[0].message
    assert table_calls == []  # the table reader never saw it


def test_json_lines_and_a_json_prefix_cut_short_are_json(tmp_path):
    lines = "\n".join(json.dumps({"id": i, "n": i * 3}) for i in range(5)) + "\n"
    assert one(tmp_path, "log.txt", lines.encode()).type == "json"
    big = json.dumps({"rows": [{"a": i, "b": "x" * 20} for i in range(20_000)]})
    assert len(big) > 64 * 1024
    assert one(tmp_path, "big.csv", big.encode()).type == "json"


def test_csv_with_brackets_is_still_a_table(tmp_path, table_calls):
    fr = one(tmp_path, "ages.csv", b"[0-5),count\n[5-10),15\n[10-15),20\n")
    assert fr.type == "csv" and rules(fr.findings) == set()
    assert len(table_calls) == 1


def test_a_notebook_is_json_and_stays_a_notebook(tmp_path):
    nb = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    fr = one(tmp_path, "a.ipynb", json.dumps(nb).encode())
    assert fr.type == "notebook" and "banned_file_type" not in rules(fr.findings)


def test_html_by_content_is_banned(tmp_path):
    fr = one(tmp_path, "report.txt", b"<!DOCTYPE html>\n<html><body><p>12</p></body></html>\n")
    assert fr.type == "html"
    assert by_rule(fr.findings, "banned_file_type")[0].kind == "markdown"
    frag = one(tmp_path, "t.csv", b"<table><tr><td>North</td><td>3</td></tr></table>\n")
    assert "banned_file_type" in rules(frag.findings)


def test_xml_is_fine_as_xml_and_a_mismatch_as_csv(tmp_path, table_calls):
    doc = b'<?xml version="1.0"?>\n<rows><row region="North" count="3"/></rows>\n'
    assert one(tmp_path, "rows.xml", doc).findings == []
    fr = one(tmp_path, "rows.csv", doc)
    assert fr.type == "xml" and rules(fr.findings) == {"file_type_mismatch"}
    assert table_calls == []


def test_yaml_named_csv_is_a_mismatch_but_key_value_notes_in_txt_are_text(tmp_path):
    doc = b"tables:\n  - name: t1\n    rows: 12\n  - name: t2\n    rows: 30\n"
    fr = one(tmp_path, "tables.csv", doc)
    assert fr.type == "yaml" and rules(fr.findings) == {"file_type_mismatch"}
    notes = one(tmp_path, "notes.txt", b"Title: Energy use\nAuthor: team\nDate: 2024\n")
    assert notes.type == "text" and notes.findings == []


@pytest.mark.parametrize(
    "text",
    [
        "region,count\nNorth,12\n",
        "<5 counts were suppressed\nsee table 2\n",
        "x <- read.csv('a.csv')\nsummary(x)\n",
        "{smcl}\n{txt}Linear regression\n",
        "{\\rtf1\\ansi hello}",
        "Notes: counts by region\nand by year, rounded to 5\n",
    ],
)
def test_ordinary_text_is_not_structured(text):
    assert structured_kind(text, complete=True) is None
