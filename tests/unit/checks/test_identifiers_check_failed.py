"""Identifier-specific shapes and identifier-named headers block even when the check character
fails (issue 14); a check digit stays the judge for shapes ordinary numbers share."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from include.checks.findings import Location, Severity
from include.checks.identifiers import (
    check_failed,
    header_value_validates,
    is_upn,
    is_vat_number,
    is_vat_shape,
    scan_text,
)
from include.checks.policy import CheckPolicy
from include.checks.tabular import check_table_file


def table(tmp_path: Path, header: list[str], rows: list[list[object]]) -> list:
    path = tmp_path / "t.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return check_table_file(path, "out/t.csv", "csv", CheckPolicy())


def test_premises_the_values_fail_their_check_characters():
    assert not is_upn("B123456789012") and check_failed("upn", "B123456789012")
    assert not is_vat_number("GB123456789") and check_failed("vat", "GB123456789")
    assert is_vat_shape("GB123456789") and is_vat_shape("GB 123 4567 89")
    assert not check_failed("upn", "A123456789012")  # a valid UPN fails nothing
    assert not is_vat_shape("GB12345678") and not is_vat_shape("GB000000000")


def test_upn_under_a_upn_header_blocks_though_the_check_letter_fails(tmp_path):
    findings = table(
        tmp_path, ["UPN", "n"], [["B123456789012", 30], ["C123456789013", 40], ["n/a", 20]]
    )
    [f] = findings
    assert (f.rule, f.kind, f.severity, f.location.column) == (
        "direct_identifier", "upn", Severity.BLOCK, "UPN")  # fmt: skip
    assert "2 of them fail the UPN check letter" in f.message
    assert "B123456789012" not in f.message


def test_upn_lookalikes_under_a_neutral_header_still_need_the_check_letter(tmp_path):
    # A letter and twelve digits is a shape other reference codes share: without a header
    # naming the UPN, the check letter judges (B... fails it, A... passes).
    findings = table(tmp_path, ["ref", "n"], [["B123456789012", 30], ["A123456789012", 40]])
    assert [(f.kind, f.location.row) for f in findings] == [("upn", 3)]
    assert "check letter" not in findings[0].message


def test_vat_shape_under_a_neutral_header_blocks_though_mod97_fails(tmp_path):
    findings = table(tmp_path, ["supplier", "n"], [["GB123456789", 30], ["GB12345678", 40]])
    [f] = findings
    assert (f.rule, f.kind, f.severity, f.location.row) == (
        "direct_identifier", "vat", Severity.BLOCK, 2)  # fmt: skip
    assert "it fails the VAT check digits" in f.message


def test_ten_plain_digits_keep_the_check_digit_as_judge(tmp_path):
    # 9434765918 fails the NHS check digit: under a neutral header it is an ordinary number.
    assert table(tmp_path, ["ref", "n"], [["9434765918", 30]]) == []
    # Under a header naming the NHS number, the same value is a mistyped NHS number.
    [f] = table(tmp_path, ["nhs_number", "n"], [["9434765918", 30]])
    assert f.kind == "nhs_number" and "NHS number check digit" in f.message


@pytest.mark.parametrize(
    ("kind", "header", "value", "expected"),
    [
        ("upn", "UPN", "B123456789012", True),
        ("upn", "UPN", "B12345678901", False),  # too short: not a UPN's shape
        ("vat", "vat_number", "123456789", True),  # fails mod 97, header names it
        ("vat", "vat_number", "000000000", False),  # a placeholder
        ("nhs_number", "nhs_no", "9434765918", True),
        ("nhs_number", "nhs_no", "0000000000", False),
        ("ni_number", "nino", "QQ123456C", True),  # an invalid prefix under a NINo header
        ("ni_number", "nino", "QQ123456", False),
    ],
)
def test_header_led_shapes(kind, header, value, expected):
    assert header_value_validates(kind, header, value) is expected


def test_free_text_says_the_check_failed_and_never_quotes_the_value():
    [f] = scan_text("invoice from GB 123 4567 89 paid", CheckPolicy(), Location(file="n.txt"))
    assert (f.kind, f.severity) == ("vat", Severity.BLOCK)
    assert "fails the VAT check digits" in f.message and "4567" not in f.message
    [ok] = scan_text("VAT GB980780684", CheckPolicy(), Location(file="n.txt"))
    assert "check" not in ok.message
    assert scan_text("ref GB12345678 and B123456789012", CheckPolicy(), Location()) == []
