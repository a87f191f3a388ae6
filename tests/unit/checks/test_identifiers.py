"""Identifier validators, header classifier and free-text scanning (no GX, no files)."""

from __future__ import annotations

import pytest

from include.checks.findings import Location, Severity
from include.checks.identifiers import (
    classify_header,
    find_identifiers,
    is_coordinate_pair,
    is_crn,
    is_email,
    is_grid_reference,
    is_nhs_number,
    is_ni_number,
    is_postcode,
    is_uk_phone,
    is_upn,
    is_vat_number,
    scan_text,
    value_identifier_kinds,
)
from include.checks.policy import CheckPolicy


@pytest.mark.parametrize("value", ["9434765919", "943 476 5919", "943-476-5919", "4010232137"])
def test_nhs_number_valid(value):
    assert is_nhs_number(value)


@pytest.mark.parametrize(
    "value",
    ["9434765918", "1234567890", "0000000000", "943476591", "94347659190", "2021202220"],
)
def test_nhs_number_lookalikes(value):
    # wrong check digit, placeholder, wrong length, a pair of years run together
    assert not is_nhs_number(value)


@pytest.mark.parametrize("value", ["AB123456C", "ab 12 34 56 c", "JG103759A", "ZR123456D"])
def test_nino_valid(value):
    assert is_ni_number(value)


@pytest.mark.parametrize(
    "value",
    ["DA123456A", "AD123456A", "QQ123456C", "GB123456A", "NK123456B", "TN123456A",
     "ZZ123456A", "AO123456A", "AB123456E", "AB12345C", "AB123456"],
)  # fmt: skip
def test_nino_invalid_prefix_suffix_shape(value):
    assert not is_ni_number(value)


@pytest.mark.parametrize(
    "value", ["SW1A 1AA", "EC1A 1BB", "E1W 1AA", "W1A 0AX", "M1 1AE", "B33 8TH", "CR2 6XH",
              "DN55 1PT", "GIR 0AA", "sw1a1aa", "BT1 1AA"]
)  # fmt: skip
def test_postcode_valid(value):
    assert is_postcode(value)


@pytest.mark.parametrize(
    "value", ["E09000001", "W06000015", "S12000033", "E02000001", "XX1 1AA", "Q1 1AA",
              "SW1A", "SW1A 1", "SW1A 1CI", "1234 5AB", "2020"]
)  # fmt: skip
def test_postcode_lookalikes(value):
    # ONS geography codes, districts and sectors, unreal areas, invalid inward letters
    assert not is_postcode(value)


def test_upn_check_letter():
    assert is_upn("A123456789012")
    assert not is_upn("B123456789012")  # wrong check letter
    assert not is_upn("A12345678901")  # too short


def test_vat_mod97_and_mod9755():
    assert is_vat_number("GB980780684")  # mod 97
    assert is_vat_number("GB 980 7806 84")
    assert is_vat_number("GB434031494")  # mod 97-55
    assert not is_vat_number("GB123456789")  # fails both checks
    assert not is_vat_number("980780684")  # bare digits need a VAT header
    assert is_vat_number("980780684", require_prefix=False)


def test_crn():
    assert is_crn("SC123456") and is_crn("OC301234") and is_crn("NI012345")
    assert not is_crn("12345678")  # bare digits: only under a company-number header
    assert is_crn("12345678", allow_digits=True)
    assert not is_crn("E0900000")  # not a Companies House prefix


def test_email_phone():
    assert is_email("jane.smith@example.org")
    assert not is_email("@handle") and not is_email("a@localhost")
    assert is_uk_phone("020 7946 0958") and is_uk_phone("+44 (0)20 7946 0958")
    assert is_uk_phone("07700 900123") and is_uk_phone("0044 7700 900123")
    assert not is_uk_phone("12345678901")  # a phone-length count: no trunk zero, no +44
    assert not is_uk_phone("0123456")  # too short
    assert not is_uk_phone("06123 456789")  # 06 is not a UK range


@pytest.mark.parametrize("value", ["59648.02463470344", "0.02463470344", "-1,02463470344"])
def test_decimal_fractions_are_not_phone_numbers(value):
    """A mean or standard deviation printed to 17 significant figures (as ACRO and pandas
    write them) has a fraction shaped like a UK number; it is not one."""
    assert value_identifier_kinds(value, frozenset()) == []


@pytest.mark.parametrize("value", ["call 02463 470344", "tel:02463470344", "(02463) 470344"])
def test_phone_numbers_in_text_are_still_found(value):
    assert value_identifier_kinds(value, frozenset()) == ["phone"]


def test_grid_reference_and_coordinates():
    assert is_grid_reference("TQ 3004 8025") and is_grid_reference("SU123456")
    assert not is_grid_reference("XX123456")  # not a real 100 km square
    assert not is_grid_reference("TQ12345")  # odd number of digits
    assert not is_grid_reference("NO 2020")  # too coarse (and a word + a year)
    assert is_coordinate_pair("51.5074, -0.1278")
    assert not is_coordinate_pair("0.1234, 0.5678")  # a confidence interval
    assert not is_coordinate_pair("51.5, -0.1")  # too coarse


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        ("name", "person_name"), ("Surname", "person_name"), ("first_name", "person_name"),
        ("patientName", "person_name"), ("company_name", "person_name"),
        ("address_line_1", "address"), ("email", "email"), ("Contact email", "email"),
        ("phone_number", "phone"), ("NINO", "ni_number"), ("NHS number", "nhs_number"),
        ("passport_no", "passport"), ("Latitude", "coordinates"), ("lon", "coordinates"),
        ("Easting", "easting_northing"), ("osnrth1m", "easting_northing"),
        ("grid_ref", "grid_reference"), ("UPRN", "uprn"), ("company_number", "crn"),
        ("UPN", "upn"), ("vat_number", "vat"), ("Postcode", "postcode"),
        ("dateOfBirth", "date_of_birth"), ("DOB", "date_of_birth"), ("dod", "date_of_death"),
        ("RUREF", "ons_business_ref"), ("entref", "ons_business_ref"),
        ("school_name", "school_name"), ("URN", "school_id"), ("UKPRN", "school_id"),
        ("LAESTAB", "school_id"),
    ],
)  # fmt: skip
def test_identifier_headers(header, kind):
    assert classify_header(header).identifier_kind == kind


@pytest.mark.parametrize(
    "header",
    ["area_name", "sheet_name", "variable_name", "la_name", "region_name", "geography_code",
     "year", "count", "sic2007", "age", "event_date", "date_of_registration", "percentage",
     "year_of_birth", "postcode_district", "ip_address", "project_id"],
)  # fmt: skip
def test_non_identifier_headers(header):
    assert classify_header(header).identifier_kind is None


@pytest.mark.parametrize(
    ("header", "role"),
    [("count", "count"), ("N", "count"), ("n", "count"), ("Freq", "count"),
     ("frequency", "count"), ("obs", "count"), ("observations", "count"),
     ("unweighted_count", "count"), ("Unweighted N", "count"), ("base", "count"),
     ("n_people", "count"), ("count_2020", "count"), ("x1", "x1"), ("largest", "x1"),
     ("second_largest", "x2"), ("total", "total"), ("median_income", "minmax"),
     ("max", "minmax"), ("p90", "minmax"), ("mode", "minmax"), ("df_resid", "df"),
     ("residual_df", "df"), ("degrees_of_freedom", "df"), ("percentage", "percent"),
     ("weighted_count", None), ("mean_income", None), ("p_value", None)],
)  # fmt: skip
def test_statistical_roles(header, role):
    assert classify_header(header).role == role


def test_find_identifiers_in_text():
    text = (
        "Contact j.smith@example.org or 020 7946 0958; NHS 943 476 5919, NINo AB123456C, "
        "10 Downing Street, SW1A 2AA. DOB: 12/03/1985. VAT GB980780684, grid TQ 3004 8025"
    )
    kinds = {m.kind for m in find_identifiers(text)}
    assert kinds == {"email", "phone", "nhs_number", "ni_number", "address", "postcode",
                     "date_of_birth", "vat", "grid_reference"}  # fmt: skip


def test_statistical_text_is_not_flagged():
    text = (
        "In 2021 the LSOA E01000001 (LA E09000001, W06000015, S12000033, MSOA E02000001) had "
        "1234 people; SIC 47110 grew 12.5%; project 1234567; 1234567890 records; counts of "
        "12345678901 lines; deaths registered 2020-03-01; ages 16-64; NO 2020 data."
    )
    assert find_identifiers(text) == []


@pytest.mark.parametrize(
    "text",
    ["seen by Dr Patel on Tuesday", "Mrs. O'Neill called", "letter to Mr Smith-Jones",
     "Prof Okafor's cohort", "Sir Ken Dodd", "Mx Rivera"],
)  # fmt: skip
def test_a_title_before_a_name_is_a_person_name(text):
    assert [m.kind for m in find_identifiers(text)] == ["person_name"]


@pytest.mark.parametrize(
    "text",
    ["MRSA cases", "MS Word", "Professional services", "Dr. who", "title: Mr/Mrs/Ms",
     "Park Dr, London", "Mr", "DR CONGO", "Misc. items", "Revenue rose"],
)  # fmt: skip
def test_titles_without_a_name_and_lookalikes_are_not_names(text):
    assert find_identifiers(text) == []


def test_value_kinds_respect_allowed_and_business_context():
    assert value_identifier_kinds("SW1A 1AA") == ["postcode"]
    assert value_identifier_kinds("SW1A 1AA", allowed=frozenset({"postcode"})) == []
    assert value_identifier_kinds("49900012345") == []
    assert value_identifier_kinds("49900012345", business_ref_context=True) == ["ons_business_ref"]


def test_scan_text_sets_line_and_severity():
    text = "# model of energy use\nx = 1\n# ask jane.doe@example.org\n# site SW1A 1AA\n"
    base = Location(file="code/model.py")
    findings = scan_text(text, CheckPolicy(), base)
    assert [(f.rule, f.kind, f.location.line) for f in findings] == [
        ("direct_identifier", "email", 3),
        ("indirect_identifier", "postcode", 4),
    ]
    assert all(f.severity == Severity.BLOCK and f.location.file == "code/model.py"
               for f in findings)  # fmt: skip
    assert "jane.doe" not in findings[0].message  # never repeat the identifier


def test_scan_text_allowed_indirect_permits_only_that_kind():
    text = "postcode SW1A 1AA\nDate of birth: 01/02/1990\n"
    policy = CheckPolicy(allowed_indirect=frozenset({"postcode"}))
    kinds = [f.kind for f in scan_text(text, policy, Location(file="notes.txt"))]
    assert kinds == ["date_of_birth"]


def test_scan_text_keyword_kinds():
    text = (
        "RUREF: 49900012345\nUPRN 100023336956\npassport no 123456789\nURN 100000\n"
        "easting 530000 northing 180000\nlat = 51.50740\nsurname: Smith\n"
    )
    kinds = {f.kind for f in scan_text(text, CheckPolicy(), Location())}
    assert kinds == {"ons_business_ref", "uprn", "passport", "school_id", "easting_northing",
                     "coordinates", "person_name"}  # fmt: skip
