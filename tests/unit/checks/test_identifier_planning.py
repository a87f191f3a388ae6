"""The table check plans an identifier kind's expectation only where some candidate could be
that kind (identifiers.possible_kinds): the plan must be a superset of what GX can find, or a
kind would go unchecked. Shown on every identifier example in the identifier tests."""

from __future__ import annotations

import ast
import csv
from pathlib import Path

import pytest

from include.checks import identifiers, suites, tabular
from include.checks.identifiers import KIND_LABEL, possible_kinds, value_identifier_kinds
from include.checks.policy import CheckPolicy
from include.checks.tabular import check_table_file

HERE = Path(__file__).parent
EXTRA = ("died 12 March 2019", "49900000000", "ruref 49900000000")


def _corpus() -> list[str]:
    """Every string literal of the identifier tests, and each line of their text data."""
    values: set[str] = set()
    for module in HERE.glob("test_identifiers*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and 1 < len(text) <= 300:
                values.add(text)
    for text in (HERE / "data").glob("*.txt"):
        values.update(line for line in text.read_text().splitlines() if line.strip())
    values.update(EXTRA)
    return sorted(values)


CORPUS = _corpus()


def test_the_corpus_holds_every_kind_a_value_can_be():
    """The superset test below means something only if the examples cover every kind the
    value rules report (school names are found by their column's header only)."""
    value_kinds = {kind for kind, _pattern, _validator in identifiers._TEXT_RULES}
    found = {k for v in CORPUS for k in value_identifier_kinds(v, business_ref_context=True)}
    assert found >= value_kinds | {"ons_business_ref"}


@pytest.mark.parametrize("context", [False, True])
def test_possible_kinds_is_a_superset_of_what_is_found(context):
    missed = {
        v: sorted(set(value_identifier_kinds(v, business_ref_context=context))
                  - possible_kinds([v], context))
        for v in CORPUS
    }  # fmt: skip
    assert {v: k for v, k in missed.items() if k} == {}


def test_a_value_of_no_kind_plans_no_kind():
    assert possible_kinds(["E06000318", "Caring, leisure", "36106.34"]) <= {"person_name"}
    assert "email" in possible_kinds(["E06000318", "jane.doe@example.com"])


def _csv(path: Path, rows: list[list]) -> Path:
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([["area", "note", "n"], *rows])
    return path


def test_only_the_possible_kinds_reach_the_suite(tmp_path, monkeypatch):
    calls: list[list[str]] = []
    real = suites.validate

    def spy(frame, suite, parameters):
        calls.append([e.expectation_type for e in suite.expectations])
        return real(frame, suite, parameters)

    monkeypatch.setattr(suites, "validate", spy)
    rows = [[f"E0600{i:04d}", "jane.doe@example.com" if i == 3 else "see note", 40]
            for i in range(20)]  # fmt: skip
    findings = check_table_file(_csv(tmp_path / "t.csv", rows), "t.csv", "csv", CheckPolicy())
    assert [(f.rule, f.kind) for f in findings] == [("direct_identifier", "email")]
    (types,) = calls
    assert "expect_column_values_to_not_be_email_addresses" in types
    assert "expect_column_values_to_not_be_valid_nhs_numbers" not in types
    assert len(types) < len(KIND_LABEL)


def test_planning_fewer_kinds_finds_the_same(tmp_path, monkeypatch):
    """A table mixing many kinds: the same findings as when every kind is planned."""
    cells = [
        "9434765919",
        "AB123456C",
        "SW1A 1AA",
        "jane.doe@example.com",
        "020 7946 0018",
        "Mrs Jane Smith",
        "A123456789012",
        "52.2053, 0.1218",
        "GB123456789",
        "fine text",
    ]
    rows = [[f"E0600{i:04d}", cell, 40 + i] for i, cell in enumerate(cells)]
    path = _csv(tmp_path / "t.csv", rows)
    planned = check_table_file(path, "t.csv", "csv", CheckPolicy())
    monkeypatch.setattr(tabular, "possible_kinds", lambda values, context=False: set(KIND_LABEL))
    everything = check_table_file(path, "t.csv", "csv", CheckPolicy())
    assert len(planned) >= 6
    assert [f.to_dict() for f in planned] == [f.to_dict() for f in everything]
