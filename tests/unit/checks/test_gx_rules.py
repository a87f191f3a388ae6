"""Great Expectations decides every tabular rule: the suite's parameters change the verdict,
every candidate reaches GX however many there are, and a headerless table's first row is read
as data."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from openpyxl import Workbook

from include.checks import suites, tabular
from include.checks.policy import CheckPolicy
from include.checks.tabular import FINDINGS_CAP, check_table_file


def _csv(path: Path, header: list[str] | None, rows: list[list]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        if header is not None:
            w.writerow(header)
        w.writerows(rows)
    return path


def _check(path: Path, policy: CheckPolicy | None = None):
    return check_table_file(path, path.name, path.suffix[1:], policy or CheckPolicy())


def _totals(findings, rule: str) -> int:
    """Failing cells of one rule: listed findings, plus the totals a summary adds."""
    listed = [f for f in findings if f.rule == rule and f.location.row is not None]
    more = 0
    for f in findings:
        if f.rule == rule and f.location.row is None and " more cell" in f.message:
            more += int(f.message.split(" more cell")[0].replace(",", ""))
    return len(listed) + more


@pytest.fixture
def validations(monkeypatch):
    """Every suites.validate call: (frame length, expectation types)."""
    calls: list[tuple[int, list[str]]] = []
    real = suites.validate

    def spy(frame, suite, parameters):
        calls.append((len(frame), [e.expectation_type for e in suite.expectations]))
        return real(frame, suite, parameters)

    monkeypatch.setattr(suites, "validate", spy)
    return calls


def test_the_suite_parameters_decide_not_the_prefilter(tmp_path, monkeypatch):
    """The prefilter chooses counts below the policy's 10; GX run with threshold 5 passes 7."""
    path = _csv(tmp_path / "t.csv", ["group", "n"], [["a", 3], ["b", 7], ["c", 40]])
    assert [f.location.row for f in _check(path) if f.rule == "threshold"] == [2, 3]
    real = suites.suite_parameters
    monkeypatch.setattr(suites, "suite_parameters", lambda p: {**real(p), "threshold": 5})
    assert [f.location.row for f in _check(path) if f.rule == "threshold"] == [2]


@pytest.mark.parametrize(
    ("parameter", "value", "rule", "rows"),
    [
        ("min_degrees_of_freedom", 2, "degrees_of_freedom", []),
        ("dominance_k", 0.99, "dominance", []),
        ("p_ratio", 0.01, "p_ratio", []),
        ("allowed_indirect", ["postcode"], "indirect_identifier", []),
    ],
)
def test_each_rule_follows_its_suite_parameter(tmp_path, monkeypatch, parameter, value, rule,
                                               rows):  # fmt: skip
    path = _csv(
        tmp_path / "t.csv",
        ["group", "df", "x1", "x2", "total", "where"],
        [["a", 20, 50, 10, 100, ""], ["b", 2, 95, 2, 100, "SW1A 1AA"]],
    )
    before = [f.location.row for f in _check(path) if f.rule == rule]
    assert before == [3], before  # every rule fails on row 3 with the project's parameters
    real = suites.suite_parameters
    monkeypatch.setattr(suites, "suite_parameters", lambda p: {**real(p), parameter: value})
    assert [f.location.row for f in _check(path) if f.rule == rule] == rows


@pytest.mark.parametrize("n", [10, 100_000])
def test_ten_and_a_hundred_thousand_candidates_take_the_same_path(tmp_path, validations, n):
    rng = np.random.default_rng(n)
    counts = rng.integers(0, 20, n)  # about half are candidates: 0..9
    emails = rng.random(n) < 0.3
    notes = np.where(emails, "write to jo.bloggs@example.org", "see note 3")
    rows = [[f"g{i}", int(c), str(t)] for i, (c, t) in enumerate(zip(counts, notes, strict=True))]
    findings = _check(_csv(tmp_path / "t.csv", ["group", "n", "notes"], rows))
    # Brute force, computed here: the cells each rule must report.
    assert _totals(findings, "threshold") == int(((counts > 0) & (counts < 10)).sum())
    assert _totals(findings, "zero_cell") == int((counts == 0).sum())
    assert _totals(findings, "direct_identifier") == int(emails.sum())
    # One validation with every candidate (counts below 10 and every email cell) in it.
    assert len(validations) == 1
    size, types = validations[0]
    assert size == int((counts < 10).sum() + emails.sum())
    assert {"expect_counts_at_or_above_threshold", "expect_counts_to_not_be_zero",
            "expect_column_values_to_not_be_email_addresses"} <= set(types)  # fmt: skip
    listed = [f for f in findings if f.rule == "threshold" and f.location.row is not None]
    first = [i + 2 for i, c in enumerate(counts) if 0 < c < 10][:FINDINGS_CAP]
    assert [f.location.row for f in listed] == first


def test_no_cap_and_no_python_copy_of_the_rules():
    assert not hasattr(tabular, "GX_CANDIDATES_CAP")
    assert not hasattr(tabular._TableCheck, "_predicate_fails")


ONE_ROW = ["9434765919", "jane.doe@example.com", "SW1A 1AA"]


def _xlsx(path: Path, rows: list[list]) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_table_of_one_row_of_identifiers_is_found(tmp_path, fmt):
    path = tmp_path / f"one.{fmt}"
    _csv(path, None, [ONE_ROW]) if fmt == "csv" else _xlsx(path, [ONE_ROW])
    found = sorted((f.kind, f.location.row, f.location.column) for f in _check(path)
                   if f.rule in ("direct_identifier", "indirect_identifier"))  # fmt: skip
    assert found == [("email", 1, "jane.doe@example.com"), ("nhs_number", 1, "9434765919"),
                     ("postcode", 1, "SW1A 1AA")]  # fmt: skip


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_headerless_table_is_read_in_every_row(tmp_path, fmt):
    rows = [["jo.bloggs@example.org", 40], ["someone@example.net", 35]]
    path = tmp_path / f"headless.{fmt}"
    _csv(path, None, rows) if fmt == "csv" else _xlsx(path, rows)
    assert sorted(f.location.row for f in _check(path) if f.kind == "email") == [1, 2]


def test_header_names_are_not_identifiers(tmp_path):
    """Lookalike control: headers naming identifiers, a header that is a year, a geography
    code and a 'born' header are names, not data."""
    header = ["nhs_number_count", "email_domain", "postcode_district", "2021", "E09000001",
              "people born abroad"]  # fmt: skip
    path = _csv(tmp_path / "t.csv", header, [["12", "example.org", "SW1A", "40", "55", "30"]])
    assert [f for f in _check(path) if f.rule.endswith("identifier")] == []
