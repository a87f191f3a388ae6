"""People's names without a title (issue 14): found with the UK name lists at review; a title or
a header naming the column makes them a block; precision measured on ordinary output text."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from include.checks.engine import check_path
from include.checks.findings import Location, Severity
from include.checks.identifiers import scan_text
from include.checks.person_names import find_person_names
from include.checks.policy import CheckPolicy
from include.checks.tabular import check_table_file

DATA = Path(__file__).parent / "data"


def lines(name: str) -> list[str]:
    text = (DATA / name).read_text("utf-8").splitlines()
    return [ln for ln in text if ln.strip() and not ln.startswith("#")]


def test_precision_and_recall_on_ordinary_output_text():
    ordinary, named = lines("ordinary_output_text.txt"), lines("named_people_text.txt")
    assert len(ordinary) >= 300 and len(named) >= 40
    false_pos = [s for s in ordinary if find_person_names(s)]
    true_pos = [s for s in named if find_person_names(s)]
    precision = len(true_pos) / (len(true_pos) + len(false_pos))
    # Figures reported in the README's checks section: keep them in step.
    assert len(false_pos) <= 3, false_pos
    assert precision >= 0.95
    assert len(true_pos) / len(named) >= 0.85


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("Interviewed Jane Smith about the survey", Severity.REVIEW),
        ("Seen by Dr Smith", Severity.BLOCK),  # a title says it is a name
        ("surname: Smith", Severity.BLOCK),  # so does a keyword
    ],
)
def test_free_text_names(text, severity):
    [f] = scan_text(text, CheckPolicy(), Location(file="notes.txt"))
    assert (f.rule, f.kind, f.severity) == ("direct_identifier", "person_name", severity)
    assert "Smith" not in f.message


@pytest.mark.parametrize(
    "text", ["Victoria Park", "Rose Hill Primary School", "James Cook University Hospital",
             "Harold Wood", "Kingston upon Thames", "North East", "Mann-Whitney U test"]
)  # fmt: skip
def test_place_and_venue_lookalikes_are_not_names(text):
    assert scan_text(text, CheckPolicy(), Location()) == []


def table(tmp_path: Path, header: list[str], rows: list[list[object]]) -> list:
    path = tmp_path / "t.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return check_table_file(path, "out/t.csv", "csv", CheckPolicy())


def test_a_name_in_a_free_text_column_is_for_review(tmp_path):
    rows = [["North", "checked by Sarah Williams", 30], ["South", "Victoria Park", 40]]
    [f] = table(tmp_path, ["region", "notes", "n"], rows)
    assert (f.kind, f.severity, f.location.row, f.location.column) == (
        "person_name", Severity.REVIEW, 2, "notes")  # fmt: skip


def test_a_name_under_a_name_header_blocks(tmp_path):
    [f] = table(tmp_path, ["respondent_name", "n"], [["Sarah Williams", 30]])
    assert (f.kind, f.severity) == ("person_name", Severity.BLOCK)


def test_a_name_in_docx_text_is_for_review(tmp_path):
    import docx

    doc = docx.Document()
    doc.add_paragraph("Table 2 shows counts by region.")
    doc.add_paragraph("Data cleaned by James Davies in March.")
    doc.save(tmp_path / "notes.docx")
    [fr] = check_path(tmp_path / "notes.docx", CheckPolicy()).files
    names = [f for f in fr.findings if f.kind == "person_name"]
    assert [(f.severity, f.location.line) for f in names] == [(Severity.REVIEW, 2)]
