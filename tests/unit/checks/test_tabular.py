"""Table content rules (identifiers + SDC) through check_table_file, on CSV and XLSX files
generated here. GX is imported once for the whole module (first table with candidates)."""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import pytest
from openpyxl import Workbook

from include.checks import tabular
from include.checks.findings import Severity
from include.checks.policy import CheckPolicy
from include.checks.tabular import FINDINGS_CAP, check_table_file

FORMATS = ["csv", "xlsx"]


def write(tmp_path: Path, fmt: str, header: list, rows: list[list], name: str = "t") -> Path:
    path = tmp_path / f"{name}.{fmt}"
    if fmt == "csv":
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)
    else:
        wb = Workbook()
        ws = wb.active
        ws.title = "Table 1"
        ws.append(header)
        for row in rows:
            ws.append(row)
        wb.save(path)
    return path


def check(path: Path, policy: CheckPolicy | None = None, fmt: str | None = None):
    return check_table_file(
        path, f"out/{path.name}", fmt or path.suffix[1:], policy or CheckPolicy()
    )


def rules(findings, rule=None):
    return [(f.rule, f.kind) for f in findings if rule is None or f.rule == rule]


# ------------------------------------------------------------------------ threshold


@pytest.mark.parametrize("fmt", FORMATS)
def test_threshold_blocks_below_minimum_and_passes_exactly_minimum(tmp_path, fmt):
    path = write(tmp_path, fmt, ["area", "n"], [["E09000001", 7], ["E09000002", 10],
                                                ["E09000003", 25]])  # fmt: skip
    findings = check(path)
    threshold = [f for f in findings if f.rule == "threshold"]
    assert len(threshold) == 1
    f = threshold[0]
    assert f.severity == Severity.BLOCK
    assert f.location.row == 2 and f.location.column == "n" and f.location.file == f"out/t.{fmt}"
    assert "count 7 in column 'n' is below this project's minimum of 10" in f.message
    assert "suppress or combine" in f.message
    if fmt == "xlsx":
        assert f.location.sheet == "Table 1" and f.location.cell == "B2"
    assert "missing_counts" not in [r for r, _ in rules(findings)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_project_threshold_changes_outcome(tmp_path, fmt):
    path = write(tmp_path, fmt, ["category", "count"], [["a", 7], ["b", 12]])
    assert rules(check(path, CheckPolicy(threshold=10)), "threshold") == [("threshold", None)]
    assert rules(check(path, CheckPolicy(threshold=5)), "threshold") == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_zero_is_zero_cell_and_negative_is_negative_values(tmp_path, fmt):
    path = write(tmp_path, fmt, ["category", "freq"], [["a", 0], ["b", -3], ["c", 40]])
    findings = check(path)
    assert sorted(rules(findings)) == [("negative_values", None), ("zero_cell", None)]
    assert all(f.severity == Severity.REVIEW for f in findings)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("header", ["N", "Frequency", "n_people", "count_2020", "Unweighted N",
                                    "obs", "base"])  # fmt: skip
def test_count_columns_recognised_by_header(tmp_path, fmt, header):
    path = write(tmp_path, fmt, ["group", header], [["a", 3], ["b", 30]])
    assert rules(check(path), "threshold") == [("threshold", None)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_declared_counts_and_missing_counts(tmp_path, fmt):
    path = write(tmp_path, fmt, ["group", "people"], [["a", 3], ["b", 30]])
    findings = check(path)
    assert rules(findings) == [("missing_counts", None)]
    assert findings[0].severity == Severity.REVIEW
    declared = CheckPolicy(declared_counts={f"out/t.{fmt}": ("people",)})
    assert rules(check(path, declared)) == [("threshold", None)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_suppression_markers_and_weighted_counts_are_not_counts(tmp_path, fmt):
    path = write(tmp_path, fmt, ["group", "count", "weighted_count"],
                 [["a", "c", 2.5], ["b", "<10", 3], ["c", 12, 4]])  # fmt: skip
    assert rules(check(path)) == []


# ------------------------------------------------------------------ dominance / p%


@pytest.mark.parametrize("fmt", FORMATS)
def test_dominance_and_p_ratio(tmp_path, fmt):
    header = ["industry", "n", "x1", "x2", "total"]
    rows = [
        ["A", 20, 95, 2, 100],  # 97% dominance; 3 < 9.5 p%
        ["B", 20, 50, 30, 100],  # 80%; 20 >= 5: passes both
        ["C", 20, 60, 35, 100],  # 95% dominance; 5 < 6 p%
        ["D", 20, 40, 5, 100],  # passes
        ["E", 20, 88, 1, 100],  # 89%: passes n,k; 11 >= 8.8 passes p%
    ]
    findings = check(write(tmp_path, fmt, header, rows))
    got = sorted((f.rule, f.location.row) for f in findings)
    assert got == [("dominance", 2), ("dominance", 4), ("p_ratio", 2), ("p_ratio", 4)]
    assert all(f.severity == Severity.BLOCK for f in findings)
    assert "97%" in next(f.message for f in findings if f.rule == "dominance")


@pytest.mark.parametrize("fmt", FORMATS)
def test_dominance_parameters_from_policy(tmp_path, fmt):
    rows = [["A", 20, 88, 1, 100]]
    path = write(tmp_path, fmt, ["industry", "n", "largest", "second_largest", "total"], rows)
    assert rules(check(path)) == []
    strict = CheckPolicy(dominance_k=0.85, p_ratio=0.2)
    assert sorted(rules(check(path, strict))) == [("dominance", None), ("p_ratio", None)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_negative_contributions_make_dominance_undefined(tmp_path, fmt):
    path = write(tmp_path, fmt, ["group", "n", "x1", "x2", "total"], [["A", 20, 95, -2, 93]])
    assert rules(check(path)) == [("negative_values", None)]


# -------------------------------------------------------------- min/max, residual df


@pytest.mark.parametrize("fmt", FORMATS)
def test_min_max_columns_review(tmp_path, fmt):
    path = write(tmp_path, fmt, ["group", "n", "mean_pay", "median_pay", "max_age"],
                 [["a", 30, 1.5, 1.2, 90]])  # fmt: skip
    findings = check(path)
    assert sorted((f.rule, f.location.column) for f in findings) == [
        ("min_max", "max_age"), ("min_max", "median_pay")]  # fmt: skip
    assert all(f.severity == Severity.REVIEW for f in findings)


@pytest.mark.parametrize("fmt", FORMATS)
def test_degrees_of_freedom(tmp_path, fmt):
    path = write(tmp_path, fmt, ["model", "n", "df_resid", "coef"],
                 [["m1", 15, 5, 0.3], ["m2", 200, 10, 0.1]])  # fmt: skip
    findings = check(path)
    assert [(f.rule, f.location.row) for f in findings] == [("degrees_of_freedom", 2)]
    assert "fewer than the minimum of 10" in findings[0].message


# ------------------------------------------------------------------------ identifiers

VALUE_CASES = [
    ("jane.smith@example.org", "email"),
    ("call 020 7946 0958 please", "phone"),
    ("943 476 5919", "nhs_number"),
    ("AB123456C", "ni_number"),
    ("SW1A 1AA", "postcode"),
    ("GB980780684", "vat"),
    ("A123456789012", "upn"),
    ("SC123456", "crn"),
    ("TQ 3004 8025", "grid_reference"),
    ("51.50740, -0.12780", "coordinates"),
    ("lives at 10 Downing Street", "address"),
]
LOOKALIKES = [
    "E09000001", "W06000015", "S12000033", "E02000001", "2021", "47110", "12.5%", "1234567",
    "1234567890", "9434765918", "QQ123456C", "GB12345678", "B123456789012", "XX123456",
    "0.1234, 0.5678", "High Street", "2020-03-01", "NO 2020", "Deaths in 2020",
]  # fmt: skip


@pytest.mark.parametrize("fmt", FORMATS)
def test_value_led_identifiers_every_kind(tmp_path, fmt):
    rows = [[f"r{i}", value, 20] for i, (value, _) in enumerate(VALUE_CASES)]
    findings = check(write(tmp_path, fmt, ["ref", "notes", "count"], rows))
    got = {(f.location.row, f.kind) for f in findings}
    assert got == {(i + 2, kind) for i, (_, kind) in enumerate(VALUE_CASES)}
    for f in findings:
        assert f.severity == Severity.BLOCK and f.location.column == "notes"
        assert f.rule == ("indirect_identifier" if f.kind == "postcode" else "direct_identifier")
    messages = " ".join(f.message for f in findings)
    assert "jane.smith" not in messages and "5919" not in messages  # values never repeated


@pytest.mark.parametrize("fmt", FORMATS)
def test_statistical_lookalikes_are_not_identifiers(tmp_path, fmt):
    rows = [[v, 2015 + i, 47110, 1234567 + i, 20] for i, v in enumerate(LOOKALIKES)]
    # numbers that look like phones/NHS numbers in a count and a magnitude column
    rows.append(["E09000033", 2020, 1234567890, 12345678901, 12345678901])
    findings = check(write(tmp_path, fmt, ["area_code", "year", "sic", "project_id", "count"],
                           rows))  # fmt: skip
    assert rules(findings) == []


def _ten_digit_numbers(count: int, seed: int) -> list[int]:
    import random

    rng = random.Random(seed)
    return [rng.randint(10**9, 10**10 - 1) for _ in range(count)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_ten_digit_magnitudes_are_not_nhs_numbers_by_chance(tmp_path, fmt):
    """Turnover in pounds: about 1 in 11 values passes the NHS check digit by chance. Not a
    block, but an officer still looks: NHS numbers mixed into such a column would show so."""
    from include.checks.identifiers import is_nhs_number

    values = _ten_digit_numbers(200, seed=7)
    valid = sum(is_nhs_number(str(v)) for v in values)
    assert 5 < valid < 40  # the premise: some pass by chance
    rows = [[f"S{i}", v, 40] for i, v in enumerate(values)]
    findings = check(write(tmp_path, fmt, ["sector", "turnover_gbp", "n"], rows))
    [note] = findings
    assert (note.rule, note.kind, note.severity) == ("direct_identifier", "nhs_number",
                                                     Severity.REVIEW)  # fmt: skip
    assert f"{valid} of the 200 ten-digit numbers in column 'turnover_gbp'" in note.message


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_column_of_nhs_numbers_under_any_header_still_blocks(tmp_path, fmt):
    from include.checks.identifiers import is_nhs_number

    nhs = [v for v in _ten_digit_numbers(400, seed=3) if is_nhs_number(str(v))][:20]
    rows = [[f"g{i}", v, 40] for i, v in enumerate(nhs)]
    findings = check(write(tmp_path, fmt, ["group", "ref", "n"], rows))
    assert {(f.rule, f.kind, f.severity) for f in findings} == {
        ("direct_identifier", "nhs_number", Severity.BLOCK)
    }
    assert len(findings) == 20


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_titled_name_in_a_free_text_cell_blocks(tmp_path, fmt):
    rows = [["a", "seen by Dr Patel", 40], ["b", "MRSA ward", 50], ["c", "Professional", 60]]
    findings = check(write(tmp_path, fmt, ["group", "notes", "n"], rows))
    assert [(f.rule, f.kind, f.location.row) for f in findings] == [
        ("direct_identifier", "person_name", 2)
    ]


HEADER_CASES = [
    ("name", "Jane Smith", "person_name"),
    ("surname", "Smith", "person_name"),
    ("address_line_1", "Flat 2", "address"),
    ("dob", "1985-03-12", "date_of_birth"),
    ("date_of_death", "2020-01-05", "date_of_death"),
    ("RUREF", "49900012345", "ons_business_ref"),
    ("school_name", "St Mary's Primary", "school_name"),
    ("URN", "100000", "school_id"),
    ("UKPRN", "10001234", "school_id"),
    ("uprn", "100023336956", "uprn"),
    ("passport_number", "123456789", "passport"),
    ("latitude", "51.5074", "coordinates"),
    ("easting", "530000", "easting_northing"),
    ("grid_ref", "TQ 30 80", "grid_reference"),
    ("phone", "2079460958", "phone"),
    ("company_number", "01234567", "crn"),
    ("vat_number", "980780684", "vat"),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("header", "value", "kind"), HEADER_CASES)
def test_header_led_identifiers(tmp_path, fmt, header, value, kind):
    path = write(tmp_path, fmt, ["group", header, "n"], [["a", value, 30], ["b", value, 40]])
    findings = check(path)
    assert [(f.kind, f.location.column, f.location.row) for f in findings] == [(kind, header, 2)]
    assert "(2 values, first at row 2)" in findings[0].message


@pytest.mark.parametrize("fmt", FORMATS)
def test_header_lookalikes(tmp_path, fmt):
    header = ["area_name", "variable_name", "sheet_name", "UKPRN", "uprn", "passport_number",
              "easting", "n"]  # fmt: skip
    rows = [["Hartlepool", "Age band", "Table 2", "90001234", "n/a", "12345", "12", 30]]
    assert rules(check(write(tmp_path, fmt, header, rows))) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_allowed_indirect_permits_only_that_kind(tmp_path, fmt):
    path = write(tmp_path, fmt, ["postcode", "dob", "notes", "n"],
                 [["SW1A 1AA", "1985-03-12", "EC1A 1BB", 30]])  # fmt: skip
    everything = sorted(rules(check(path)))
    assert everything == [("indirect_identifier", "date_of_birth"),
                          ("indirect_identifier", "postcode"),
                          ("indirect_identifier", "postcode")]  # fmt: skip
    permitted = CheckPolicy(allowed_indirect=frozenset({"postcode"}))
    assert rules(check(path, permitted)) == [("indirect_identifier", "date_of_birth")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_business_ref_values_near_business_header(tmp_path, fmt):
    rows = [["49900012345", "49900054321", 30]]
    findings = check(write(tmp_path, fmt, ["ruref", "parent", "n"], rows))
    assert sorted((f.kind, f.location.column) for f in findings) == [
        ("ons_business_ref", "parent"), ("ons_business_ref", "ruref")]  # fmt: skip
    alone = check(write(tmp_path, fmt, ["parent", "n"], [["49900054321", 30]], name="u"))
    assert rules(alone) == []


# --------------------------------------------------------------- places and volume


def test_xlsx_header_on_first_non_empty_row_and_visible_sheets_only(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.title = "Counts"
    ws["B3"], ws["C3"] = "area", "count"
    ws["B4"], ws["C4"] = "E09000001", 4
    ws["B6"], ws["C6"] = "E09000002", 50
    hidden = wb.create_sheet("Workings")
    hidden.append(["count"])
    hidden.append([1])
    hidden.sheet_state = "hidden"
    second = wb.create_sheet("Model")
    second.append(["term", "df_resid", "n"])
    second.append(["x", 3, 100])
    path = tmp_path / "book.xlsx"
    wb.save(path)
    findings = check(path)
    got = [(f.rule, f.location.sheet, f.location.row, f.location.column, f.location.cell)
           for f in findings]  # fmt: skip
    assert sorted(got) == [
        ("degrees_of_freedom", "Model", 2, "df_resid", "B2"),
        ("threshold", "Counts", 4, "count", "C4"),
    ]


def test_csv_rows_are_line_numbers_with_blank_lines_and_multiline_values(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text('group,note,n\n\na,"two\nlines",30\nb,x,4\n\n')
    findings = check(path)
    assert [(f.rule, f.location.row) for f in findings] == [("threshold", 5)]  # line 5


@pytest.mark.parametrize("above", ["\n", "\r\n\r\n", ",,\n", "\n\t\n"])
def test_blank_lines_above_the_header_do_not_hide_the_table(tmp_path, above):
    """The header is the first row with a non-blank cell; before, a blank first line made the
    table look empty and every rule was skipped."""
    path = tmp_path / "lead.csv"
    path.write_bytes(f"{above}group,n\na,3\nb,40\n".encode())
    lines = above.count("\n")
    assert [(f.rule, f.location.row) for f in check(path)] == [("threshold", lines + 2)]


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_blank_lines_between_rows_keep_line_numbers_without_a_rescan(tmp_path, fmt):
    sep = "," if fmt == "csv" else "\t"
    rows = [f"g{i}{sep}{3 if i in (5, 900) else 40}" for i in range(1000)]
    body = "\n".join(rows[:300]) + "\n\n\n" + "\n".join(rows[300:]) + "\n\n"
    path = tmp_path / f"gaps.{fmt}"
    path.write_text(f"group{sep}n\n{body}")
    assert [(f.rule, f.location.row) for f in check(path, fmt=fmt)] == [
        ("threshold", 7),
        ("threshold", 904),
    ]


def test_multiline_value_in_a_late_block_maps_rows_exactly(tmp_path, monkeypatch):
    monkeypatch.setattr(tabular, "CSV_BLOCK_BYTES", 4096)
    lines = [f"g{i},x,40" for i in range(2000)]
    lines[1000] = 'g1000,"two\nlines",40'
    lines[1500] = "g1500,x,3"
    path = tmp_path / "multi.csv"
    path.write_text("group,note,n\n" + "\n".join(lines) + "\n")
    assert [(f.rule, f.location.row) for f in check(path)] == [("threshold", 1503)]


def test_one_enormous_line_is_refused_unread(tmp_path):
    """10 MB of one line of 5M short fields: before, the header alone took ~1 min and 2.6 GB."""
    path = tmp_path / "oneline.csv"
    path.write_text("a," * 5_000_000 + "a\n")
    [finding] = check(path)
    assert (finding.rule, finding.kind, finding.severity) == ("too_large", "table", Severity.BLOCK)
    assert f"longer than {tabular.MAX_LINE_CHARS:,} characters" in finding.message


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("a," * tabular.MAX_COLUMNS + "a\n1\n", "the header row has 16,385 fields"),
        ("g,n\nx,3\n" + "a," * tabular.MAX_COLUMNS + "a\n", "line 3 has 16,385 fields"),
    ],
)
def test_tables_wider_than_excel_allows_are_refused(tmp_path, text, what):
    path = tmp_path / "wide.csv"
    path.write_text(text)
    [finding] = check(path)
    assert (finding.rule, finding.kind) == ("too_large", "table")
    assert what in finding.message


def _random_csv(rng) -> tuple[str, set[tuple[str, int]]]:
    """A CSV with blank lines, CRLF or LF, quoted commas and line breaks, and the threshold
    findings a person would expect: (rule, line where the record starts)."""
    eol = rng.choice(["\n", "\r\n"])
    lines = [""] * rng.randint(0, 2) + ["group,note,n"]
    expected = set()
    for i in range(rng.randint(1, 60)):
        if rng.random() < 0.1:
            lines.append("")
        note = rng.choice(["plain", '"a, b"', '"two\nlines"', '"say ""hi"""', ""])
        n = rng.choice([0, 3, 9, 10, 40, 1200])
        start = len(lines) + 1 + sum(x.count("\n") for x in lines)
        if 0 < n < 10:
            expected.add(("threshold", start))
        lines.append(f"g{i},{note},{n}")
    return eol.join(lines) + eol, expected


@pytest.mark.parametrize("block", [256, 4096, 8 << 20])
def test_row_numbers_match_a_person_counting_lines(tmp_path, monkeypatch, block):
    """Whatever path reads the file (pyarrow blocks, read-ahead, the csv module after a
    quoted line break across blocks), a finding's row is the line its record starts on."""
    import random

    monkeypatch.setattr(tabular, "CSV_BLOCK_BYTES", block)
    rng = random.Random(block)
    for case in range(40):
        text, expected = _random_csv(rng)
        path = tmp_path / f"r{case}.csv"
        path.write_bytes(text.encode())
        got = {(f.rule, f.location.row) for f in check(path) if f.rule == "threshold"}
        assert got == expected, (case, text)


def test_tsv_and_ragged_rows(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("group\tn\na\t3\nb\t40\textra jane@example.org\n")
    findings = check(path, fmt="tsv")
    assert sorted((f.rule, f.kind, f.location.row) for f in findings) == [
        ("direct_identifier", "email", 3), ("threshold", None, 2)]  # fmt: skip


def test_csv_read_ahead_keeps_row_numbers_and_falls_back_on_a_late_ragged_block(
    tmp_path, monkeypatch
):
    """Blocks are parsed one ahead in a worker thread: findings in late blocks keep their line
    numbers, a ragged row found there still sends the file to the exact reader, and the
    worker thread does not outlive the check."""
    monkeypatch.setattr(tabular, "CSV_BLOCK_BYTES", 4096)  # ~400 rows per block
    rows = [[f"g{i}", 40] for i in range(3000)]
    rows[10][1] = 3
    rows[2500][1] = 4
    path = write(tmp_path, "csv", ["group", "n"], rows)
    assert sorted((f.rule, f.location.row) for f in check(path)) == [
        ("threshold", 12), ("threshold", 2502)]  # fmt: skip

    rows[2900] = ["g2900", 40, "extra jane@example.org"]
    path = write(tmp_path, "csv", ["group", "n"], rows, name="ragged")
    assert sorted((f.rule, f.kind, f.location.row) for f in check(path)) == [
        ("direct_identifier", "email", 2902), ("threshold", None, 12),
        ("threshold", None, 2502)]  # fmt: skip
    assert not [t for t in threading.enumerate() if t.name.startswith("srs-csv-read")]


def test_findings_capped_with_summary(tmp_path):
    rows = [[f"g{i}", 3] for i in range(FINDINGS_CAP + 70)]
    findings = check(write(tmp_path, "csv", ["group", "n"], rows))
    assert len(findings) == FINDINGS_CAP + 1
    summary = [f for f in findings if f.location.row is None]
    assert len(summary) == 1 and summary[0].rule == "threshold"
    assert "70 more cells in column 'n'" in summary[0].message
    assert f"({FINDINGS_CAP + 70} in all)" in summary[0].message


def test_unreadable_xlsx(tmp_path):
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    findings = check(path)
    assert rules(findings) == [("unreadable", None)]


def test_gx_suite_parameter_changes_outcome_at_run_time():
    import pandas as pd

    from include.checks import suites

    frame = pd.DataFrame(
        {"srs_row": [2, 3, 4, 5], "srs_col": 0, "n": [3.0, 7.0, 10.0, 12.0]}
    ).set_index(["srs_row", "srs_col"])
    suite = suites.threshold_suite(["n"])
    at_ten = suites.validate(frame, suite, suites.suite_parameters(CheckPolicy(threshold=10)))
    at_five = suites.validate(frame, suite, suites.suite_parameters(CheckPolicy(threshold=5)))
    assert suites.unexpected_rows(at_ten)[0].rows == [2, 3]
    assert suites.unexpected_rows(at_five)[0].rows == [2]
    assert suite.expectations[0].threshold == {"$PARAMETER": "threshold"}


def test_gx_identifier_and_dominance_suites():
    import pandas as pd

    from include.checks import expectations as ex
    from include.checks import suites

    frame = pd.DataFrame(
        {"srs_row": [2, 3, 4], "srs_col": [1, 1, 1], "v": ["9434765919", "9434765918", "E09000001"],
         "x1": [95.0, 40, 10], "x2": [2.0, 5, 1], "total": [100.0, 100, 100]},
    ).set_index(["srs_row", "srs_col"])  # fmt: skip
    params = suites.suite_parameters(CheckPolicy())
    result = suites.validate(frame, suites.identifier_suite(["v"]), params)
    assert suites.unexpected_rows(result)[0].rows == [2]
    nhs = suites.build_suite("nhs", [])
    nhs.add_expectation(ex.ExpectColumnValuesToNotBeValidNhsNumbers(column="v"))
    assert suites.unexpected_rows(suites.validate(frame, nhs, params))[0].rows == [2]
    dom = suites.validate(frame, suites.dominance_suite(["x1", "x2"], "total"), params)
    assert [u.rows for u in suites.unexpected_rows(dom)] == [[2], [2]]


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_in_count_column_is_scanned_but_numbers_are_not(tmp_path, fmt):
    rows = [["a", "jane@example.org"], ["b", 4010232137], ["c", 30]]
    findings = check(write(tmp_path, fmt, ["group", "n"], rows))
    assert sorted((f.rule, f.kind, f.location.row) for f in findings) == [
        ("direct_identifier", "email", 2)]  # fmt: skip
