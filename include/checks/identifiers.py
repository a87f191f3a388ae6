"""Direct and indirect identifiers (shared/RULES.md "Identifiers").

Three layers, all plain Python (no pandas, no Great Expectations at import):

* validators (``is_nhs_number``, ``is_ni_number``, ``is_postcode`` ...): a value rule must
  validate, not merely match a shape, so area codes, years, counts and SIC codes never pass;
* ``classify_header``: what a column header says the column holds (identifier kinds, and the
  statistical roles the tabular checks need: counts, dominance evidence, min/max, residual df);
* ``find_identifiers`` / ``scan_text``: validated identifiers inside a value or free text
  (documents, code, comments, free-text cells).

Findings never repeat the identifying value itself: a report or email that quoted an NHS number
would spread the disclosure it is warning about.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from include.checks.findings import Finding, Location, Severity
from include.checks.person_names import find_person_names, first_name_prefilter
from include.checks.policy import INDIRECT_KINDS, CheckPolicy

DIRECT = "direct_identifier"
INDIRECT = "indirect_identifier"

DIRECT_KINDS = (
    "person_name",
    "address",
    "email",
    "phone",
    "ni_number",
    "nhs_number",
    "passport",
    "coordinates",
    "easting_northing",
    "grid_reference",
    "uprn",
    "crn",
    "upn",
    "vat",
)

KIND_LABEL = {
    "person_name": "names of people or companies",
    "address": "street addresses",
    "email": "email addresses",
    "phone": "telephone numbers",
    "ni_number": "National Insurance numbers",
    "nhs_number": "NHS numbers",
    "passport": "passport numbers",
    "coordinates": "latitude/longitude coordinates",
    "easting_northing": "eastings/northings",
    "grid_reference": "OS grid references",
    "uprn": "Unique Property Reference Numbers (UPRN)",
    "crn": "Company Registration Numbers",
    "upn": "Unique Pupil Numbers",
    "vat": "VAT registration numbers / HMRC references",
    "postcode": "full postcodes",
    "date_of_birth": "dates of birth",
    "date_of_death": "dates of death",
    "ons_business_ref": "ONS business references (RUREF/LUREF/ENTREF)",
    "school_name": "school or academy names",
    "school_id": "school or academy identifiers (URN/UKPRN/LAESTAB)",
}


def rule_for(kind: str) -> str:
    """The rule id a kind belongs to."""
    return INDIRECT if kind in INDIRECT_KINDS else DIRECT


def severity_for(kind: str, policy: CheckPolicy) -> Severity | None:
    """Block, or None when the project holds permission for this indirect kind."""
    if kind in INDIRECT_KINDS and kind in policy.allowed_indirect:
        return None
    return Severity.BLOCK


def identifier_finding(
    kind: str,
    policy: CheckPolicy,
    location: Location,
    what: str,
    values: Iterable[object] = (),
) -> Finding | None:
    """One finding with an actionable message; None when the project may hold the kind.
    ``values``: the values found (never quoted), so the message can say when their check
    character fails: a mistyped or synthetic identifier is still blocked."""
    severity = severity_for(kind, policy)
    if severity is None:
        return None
    values = tuple(values)
    if (
        kind == "person_name"
        and values
        and all(name_is_only_lexical(str(v)) for v in values)
        and classify_header(location.column or "").identifier_kind != "person_name"
    ):
        return Finding(
            rule=DIRECT,
            kind=kind,
            severity=Severity.REVIEW,
            message=(
                f"{what} looks like a person's name (a common UK first name and surname, with "
                "no title or header saying so): an officer checks it; if it names a person, "
                "remove it before resubmitting"
            ),
            location=location,
        )
    label = KIND_LABEL[kind]
    failed = sum(1 for v in values if _fails_check(kind, str(v)))
    if failed:
        them = "it fails" if failed == 1 else f"{failed:,} of them fail"
        label += (
            f" ({them} the {CHECK_NAME[kind]}: a mistyped or synthetic identifier is still "
            "one, and is blocked all the same)"
        )
    if rule_for(kind) == DIRECT:
        advice = "direct identifiers are never allowed: remove them before resubmitting"
    else:
        advice = (
            "indirect identifiers need the project's permission, which it does not hold "
            "for this kind: remove or aggregate them, or request an addendum"
        )
    return Finding(
        rule=rule_for(kind),
        kind=kind,
        severity=severity,
        message=f"{what} looks like {label}; {advice}",
        location=location,
    )


# --------------------------------------------------------------------------- validators


def _digits_only(value: str, seps: str = " -") -> str:
    for sep in seps:
        value = value.replace(sep, "")
    return value


def is_nhs_number(value: str) -> bool:
    """10 digits (optionally 3-3-4 spaced) whose modulus-11 check digit is right."""
    value = value.strip()
    if not re.fullmatch(r"\d{10}|\d{3}[ -]\d{3}[ -]\d{4}", value):
        return False
    digits = _digits_only(value)
    if len(set(digits)) == 1:  # 0000000000, 1111111111 ... are placeholders, not numbers
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


_NINO = re.compile(
    r"([A-CEGHJ-PR-TW-Z])([A-CEGHJ-NPR-TW-Z])\s?(\d{2})\s?(\d{2})\s?(\d{2})\s?([A-D])",
    re.IGNORECASE,
)
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"})


def is_ni_number(value: str) -> bool:
    """HMRC NINo: valid prefix letters (not D F I Q U V first, not D F I O Q U V second, not
    BG GB NK KN TN NT ZZ), six digits, suffix A-D."""
    m = _NINO.fullmatch(value.strip())
    return bool(m) and (m.group(1) + m.group(2)).upper() not in _NINO_BAD_PREFIXES


# The 121 UK postcode areas plus the Crown dependencies.
_AREAS = """AB AL B BA BB BD BH BL BN BR BS BT CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT
    DY E EC EH EN EX FK FY G GL GU GY HA HD HG HP HR HS HU HX IG IM IP IV JE KA KT KW KY L LA
    LD LE LL LN LS LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM S SA SE
    SG SK SL SM SN SO SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD WF WN WR WS WV
    YO ZE"""
POSTCODE_AREAS = frozenset(_AREAS.split())
_POSTCODE = re.compile(
    r"(?P<out>(?P<area>[A-PR-UWYZ][A-HK-Y]?)(?:[0-9][0-9]?|[0-9][A-HJKPSTUW]|[0-9][ABEHMNPRVWXY]))"
    r"\s?(?P<in>[0-9][ABD-HJLNP-UW-Z]{2})"
)


def is_postcode(value: str) -> bool:
    """A full UK postcode (outward and inward code) in a real postcode area, or GIR 0AA."""
    v = value.strip().upper()
    if v in ("GIR 0AA", "GIR0AA"):
        return True
    m = _POSTCODE.fullmatch(v)
    if not m:
        return False
    return m.group("area") in POSTCODE_AREAS  # the leading letters: "EC" in EC1A, "E" in E1W


_UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


def is_upn(value: str) -> bool:
    """Unique Pupil Number: check letter + 12 characters (11 digits + digit, or a temporary
    UPN's final letter), check letter = weighted sum (weights 2..13) mod 23."""
    v = value.strip().upper()
    if not re.fullmatch(r"[A-Z]\d{11}[0-9A-Z]", v) or v[0] not in _UPN_LETTERS:
        return False
    total = 0
    for weight, ch in zip(range(2, 14), v[1:], strict=True):
        if ch.isdigit():
            total += int(ch) * weight
        elif ch in _UPN_LETTERS:
            total += _UPN_LETTERS.index(ch) * weight
        else:
            return False
    return _UPN_LETTERS[total % 23] == v[0]


def is_vat_shape(value: str) -> bool:
    """GB followed by 9 digits (12 with a branch), spaced or not: a shape only a VAT number has,
    so it is an identifier even when its check digits fail (mistyped or synthetic)."""
    m = re.fullmatch(r"GB(\d{9}|\d{12})", _digits_only(value.strip().upper()))
    return bool(m) and int(m.group(1)[:9]) != 0


def _vat_check(nine: str) -> bool:
    total = sum(int(d) * w for d, w in zip(nine[:7], range(8, 1, -1), strict=True))
    total += int(nine[7:9])
    return total % 97 == 0 or (total + 55) % 97 == 0


def is_vat_number(value: str, *, require_prefix: bool = True) -> bool:
    """UK VAT number: GB + 9 digits (or 12 with a branch) passing mod-97 or mod-97-55;
    GD/HA + 3 digits (government departments, health authorities)."""
    v = _digits_only(value.strip().upper())
    m = re.fullmatch(r"(GB)?(\d{9}|\d{12})", v)
    if m:
        if require_prefix and not m.group(1):
            return False
        nine = m.group(2)[:9]
        return int(nine) != 0 and _vat_check(nine)
    m = re.fullmatch(r"GD([0-4]\d\d)|HA([5-9]\d\d)", v)
    return bool(m)


_CRN = (
    "AC BR CE CS FC FE GE GS IC IP LP NA NF NI NL NO NP NR NZ OC OE RC SA SC SE SF SG SI SL SO "
    "SP SR SZ ZC R0"
)
CRN_PREFIXES = frozenset(_CRN.split())


def is_crn(value: str, *, allow_digits: bool = False) -> bool:
    """Company Registration Number: 8 characters, a Companies House prefix (SC, NI, OC ...)
    and 6 digits; 8 bare digits only when a header says it is a company number."""
    v = value.strip().upper()
    if len(v) != 8:
        return False
    if v[:2] in CRN_PREFIXES and v[2:].isdigit():
        return True
    return allow_digits and v.isdigit() and v != "00000000"


_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
)


def is_email(value: str) -> bool:
    v = value.strip()
    return len(v) <= 254 and bool(_EMAIL.fullmatch(v))


def is_uk_phone(value: str, *, allow_missing_zero: bool = False) -> bool:
    """UK phone number: +44 / 0044 / 0 forms; 9-10 national digits starting 1,2,3,5,7,8,9.
    ``allow_missing_zero``: the trunk 0 was lost (a phone column stored as numbers)."""
    v = value.strip().replace("(0)", "")
    v = _digits_only(v, " -().")
    if v.startswith("+44"):
        national = v[3:]
    elif v.startswith("0044"):
        national = v[4:]
    elif v.startswith("0"):
        national = v[1:]
    elif allow_missing_zero and v.isdigit():
        national = v
    else:
        return False
    if not national.isdigit() or national[:1] not in set("1235789"):
        return False
    if len(national) == 10:
        return True
    return len(national) == 9 and national[0] in "18"


# 100 km squares of the OS National Grid that contain land.
_SQUARES = """HL HM HN HO HP HQ HR HS HT HU HW HX HY HZ NA NB NC ND NE NF NG NH NJ NK NL NM NN NO NP
    NQ NR NS NT NU NW NX NY NZ OV OW SC SD SE SH SJ SK SL SM SN SO SP SQ SR SS ST SU SV SW SX
    SY SZ TA TF TG TL TM TQ TR TV"""
GRID_SQUARES = frozenset(_SQUARES.split())


def is_grid_reference(value: str, *, min_digits: int = 6) -> bool:
    """OS grid reference: a real 100 km square and an even number (>= min_digits) of digits,
    e.g. "TQ 3004 8025", "SU123456"."""
    v = value.strip().upper()
    m = re.fullmatch(r"([A-Z]{2})\s?(\d+)(?:\s(\d+))?", v)
    if not m or m.group(1) not in GRID_SQUARES:
        return False
    if m.group(3) is not None:
        if len(m.group(2)) != len(m.group(3)):
            return False
        digits = m.group(2) + m.group(3)
    else:
        digits = m.group(2)
    return len(digits) % 2 == 0 and min_digits <= len(digits) <= 10


# Coordinates written as a pair in one value. The valid range for a pair with no header is the
# British Isles (lat 49..61, lon -11..2.5) and at least 4 decimal places (~10 m): a wider range
# would flag confidence intervals and ratios printed as pairs.
_COORD_PAIR = re.compile(r"\(?\s*(-?\d{1,2}\.\d{4,})\s*[,; ]\s*(-?\d{1,3}\.\d{4,})\s*\)?")


def is_coordinate_pair(value: str) -> bool:
    m = _COORD_PAIR.fullmatch(value.strip())
    if not m:
        return False
    lat, lon = float(m.group(1)), float(m.group(2))
    return 49.0 <= lat <= 61.0 and -11.0 <= lon <= 2.5


STREET_SUFFIXES = (
    "Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Close|Drive|Dr|Way|Crescent|Cres|Court|Ct|Place|Pl|"
    "Terrace|Gardens|Grove|Hill|Square|Sq|Mews|Row|Walk|Parade|Rise|Green|Park|Gate|Wharf|"
    "Boulevard|Vale|Villas|Cottages|Yard"
)
_ADDRESS = re.compile(
    rf"\b(?:Flat\s+\d+[A-Za-z]?,?\s+)?\d{{1,4}}[A-Za-z]?,?\s+(?:[A-Z][a-z']+\s+){{1,3}}"
    rf"(?:{STREET_SUFFIXES})\b\.?"
)


def is_street_address(value: str) -> bool:
    """A house number, capitalised street words and a street suffix ("10 Downing Street")."""
    return bool(_ADDRESS.search(value))


def is_ruref(value: str) -> bool:
    """11-digit ONS reporting-unit reference (only meaningful near a RUREF-like header)."""
    return bool(re.fullmatch(r"\d{11}", value.strip()))


# What the check character of a kind is called, for findings that say it failed.
CHECK_NAME = {
    "upn": "UPN check letter",
    "vat": "VAT check digits (modulus 97)",
    "nhs_number": "NHS number check digit (modulus 11)",
    "ni_number": "rules for NINo prefix letters",
}
_UPN_SHAPE = re.compile(r"[A-Z]\d{11}[0-9A-Z]")
_NHS_SHAPE = re.compile(r"\d{10}|\d{3}[ -]\d{3}[ -]\d{4}")
_NINO_SHAPE = re.compile(r"[A-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]")


def check_failed(kind: str, value: str) -> bool:
    """Whether ``value`` has the shape of ``kind`` but fails its check character."""
    v = value.strip().upper()
    if kind == "upn":
        return bool(_UPN_SHAPE.fullmatch(v)) and not is_upn(v)
    if kind == "vat":
        digits = _digits_only(v).removeprefix("GB")
        return bool(re.fullmatch(r"\d{9}|\d{12}", digits)) and not _vat_check(digits[:9])
    if kind == "nhs_number":
        return bool(_NHS_SHAPE.fullmatch(v)) and not is_nhs_number(v)
    if kind == "ni_number":
        return bool(_NINO_SHAPE.fullmatch(v)) and not is_ni_number(v)
    return False


def _fails_check(kind: str, value: str) -> bool:
    """check_failed for a whole value, or for the identifier of that kind inside free text."""
    if kind not in CHECK_NAME:
        return False
    return check_failed(kind, value) or any(
        check_failed(kind, value[m.start : m.end])
        for m in find_identifiers(value)
        if m.kind == kind
    )


# ----------------------------------------------------------------------- header classifier

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def header_tokens(header: str) -> tuple[str, ...]:
    """ "dateOfBirth" -> ("date", "of", "birth"); "N (unweighted)" -> ("n", "unweighted")."""
    text = _CAMEL.sub("_", str(header).strip())
    return tuple(t for t in re.split(r"[^A-Za-z0-9%]+", text.lower()) if t)


def _key(tokens: tuple[str, ...]) -> str:
    return "_".join(tokens)


_PERSON_EXACT = {
    "name", "names", "forename", "forenames", "surname", "surnames", "firstname", "lastname",
    "fullname", "givenname", "middlename", "maidenname", "familyname", "first_name",
    "last_name", "full_name", "given_name", "given_names", "middle_name", "maiden_name",
    "family_name", "initials", "first_names",
}  # fmt: skip
_PERSON_QUALIFIERS = {
    "person", "patient", "pupil", "student", "respondent", "employee", "child", "mother",
    "father", "contact", "owner", "director", "company", "business", "trading", "employer",
    "customer", "client", "member", "applicant", "claimant", "parent", "guardian", "staff",
    "teacher", "doctor", "gp", "officer", "landlord", "tenant", "occupier", "householder",
    "proprietor", "partner", "spouse", "individual", "worker", "participant", "user",
}  # fmt: skip

_HEADER_KINDS: dict[str, set[str]] = {
    "email": {"email", "e_mail", "email_address", "emailaddress", "contact_email", "mail"},
    "phone": {
        "phone", "telephone", "tel", "tel_no", "phone_no", "phone_number", "telephone_number",
        "telephone_no", "mobile", "mobile_number", "mobile_no", "contact_number", "landline",
        "fax", "phonenumber", "telno",
    },
    "ni_number": {
        "nino", "ni_number", "ni_no", "ninumber", "national_insurance_number",
        "national_insurance_no", "national_insurance", "nat_ins_no", "nin",
    },
    "nhs_number": {"nhs_number", "nhs_no", "nhsno", "nhsnumber", "nhs_num", "chi_number", "chi"},
    "passport": {"passport", "passport_number", "passport_no", "passportnumber"},
    "coordinates": {
        "lat", "latitude", "lon", "long", "longitude", "lng", "lat_long", "latlong", "lat_lon",
        "geo_lat", "geo_lon", "geo_long",
    },
    "easting_northing": {
        "easting", "eastings", "northing", "northings", "oseast1m", "osnrth1m", "os_easting",
        "os_northing", "grid_easting", "grid_northing", "x_easting", "y_northing",
    },
    "grid_reference": {
        "grid_ref", "grid_reference", "gridref", "os_grid_ref", "os_grid_reference", "osgr",
        "ngr", "national_grid_reference",
    },
    "uprn": {"uprn", "parent_uprn", "unique_property_reference_number", "property_reference"},
    "crn": {
        "crn", "company_number", "company_no", "company_registration_number",
        "company_reg_no", "companies_house_number", "registered_number", "company_reg_number",
    },
    "upn": {"upn", "unique_pupil_number", "pupil_number", "former_upn"},
    "vat": {
        "vat", "vat_number", "vat_no", "vat_reg", "vat_reg_no", "vat_registration_number",
        "vatref", "vat_ref", "utr", "unique_taxpayer_reference", "hmrc_reference",
        "hmrc_ref", "paye_reference", "paye_ref",
    },
    "address": {
        "address", "addr", "address1", "address2", "address3", "address_1", "address_2",
        "address_line", "address_line_1", "address_line_2", "address_line1", "address_line2",
        "street", "street_address", "street_name", "house_number", "house_no", "house_name",
        "property_address", "home_address", "registered_address", "postal_address",
        "full_address", "addressline1", "building_name", "flat_number",
    },
    "postcode": {
        "postcode", "post_code", "pcd", "pcds", "pcd2", "postal_code", "zip", "zipcode",
        "full_postcode",
    },
    "date_of_birth": {
        "dob", "date_of_birth", "dateofbirth", "birth_date", "birthdate", "birthday",
        "birth_dt", "dt_birth", "d_o_b", "date_birth", "dte_birth",
    },
    "date_of_death": {
        "dod", "date_of_death", "dateofdeath", "death_date", "deathdate", "death_dt",
        "dt_death", "date_death", "d_o_d", "dte_death",
    },
    "ons_business_ref": {
        "ruref", "luref", "entref", "iruref", "reporting_unit_ref", "reporting_unit_reference",
        "local_unit_ref", "local_unit_reference", "enterprise_ref", "enterprise_reference",
    },
    "school_name": {
        "school_name", "schoolname", "school", "establishment_name", "estab_name",
        "academy_name", "academy", "school_or_academy",
    },
    "school_id": {
        "urn", "school_urn", "ukprn", "laestab", "la_estab", "dfe_number", "dfe_no",
        "school_id", "school_code", "establishment_number", "estab", "estab_no",
        "academy_urn",
    },
}  # fmt: skip
_HEADER_LOOKUP = {key: kind for kind, keys in _HEADER_KINDS.items() for key in keys}

COUNT_TOKENS = frozenset(
    {"count", "counts", "n", "freq", "frequency", "frequencies", "obs", "observations",
     "nobs", "base", "headcount", "cases"}
)  # fmt: skip
_COUNT_EXACT = {
    "unweighted_count", "unweighted_n", "unweighted_base", "number", "sample_size",
    "cell_count", "no_of_cases", "respondents", "number_of_respondents", "records",
    "n_obs", "n_unweighted",
}  # fmt: skip
_X1 = {"x1", "largest", "largest_value", "largest_contributor", "largest_contribution",
       "top1", "top_1", "max_contributor", "first_largest", "x_1"}  # fmt: skip
_X2 = {"x2", "second_largest", "second_largest_value", "second_largest_contributor",
       "second_largest_contribution", "top2", "top_2", "x_2"}  # fmt: skip
_TOTAL = {"total", "cell_total", "sum", "total_value", "cell_sum", "magnitude", "value_total"}
_MINMAX_TOKENS = frozenset(
    {"min", "max", "minimum", "maximum", "median", "percentile", "percentiles", "mode",
     "quartile", "decile", "centile", "pctl", "p10", "p25", "p50", "p75", "p90", "p95",
     "p99", "p5", "p1"}
)  # fmt: skip
_DF = {"df", "df_resid", "df_residual", "df_residuals", "residual_df", "resid_df",
       "degrees_of_freedom", "dof", "res_df", "residual_degrees_of_freedom", "df_error",
       "error_df", "denominator_df", "den_df", "ddf"}  # fmt: skip
_PERCENT = {"percent", "percentage", "pct", "%", "per_cent", "proportion", "share"}


@dataclass(frozen=True)
class HeaderClass:
    """What a header says: an identifier kind and/or a statistical role."""

    identifier_kind: str | None = None
    role: str | None = None  # count | x1 | x2 | total | minmax | df | percent


def classify_header(header: str) -> HeaderClass:
    """Classify one column header (case-insensitive, camelCase and separators normalised)."""
    tokens = header_tokens(header)
    if not tokens:
        return HeaderClass()
    key = _key(tokens)
    squashed = "".join(tokens)
    kind = _HEADER_LOOKUP.get(key) or _HEADER_LOOKUP.get(squashed)
    if kind is None:
        kind = _person_name_header(tokens, key)
    if kind is None and tokens[-1] in ("email", "postcode", "uprn", "nino", "ruref"):
        kind = _HEADER_LOOKUP[tokens[-1]]  # contact_email, home_postcode, property_uprn
    if kind is None and tokens[-1] == "address" and len(tokens) <= 3 and "ip" not in tokens:
        kind = "address"  # home_address, correspondence_address (not ip_address)
    if kind is not None:
        return HeaderClass(identifier_kind=kind)
    return HeaderClass(role=_role(tokens, key))


def _person_name_header(tokens: tuple[str, ...], key: str) -> str | None:
    if key in _PERSON_EXACT:
        return "person_name"
    if any(t in ("forename", "forenames", "surname", "surnames") for t in tokens):
        return "person_name"
    if tokens[-1] in ("name", "names", "firstname", "lastname", "fullname") and len(tokens) >= 2:
        qualifier = tokens[-2]
        if qualifier in _PERSON_QUALIFIERS or qualifier in (
            "first",
            "last",
            "full",
            "given",
            "middle",
            "maiden",
            "family",
        ):
            return "person_name"
    return None


def _role(tokens: tuple[str, ...], key: str) -> str | None:
    if key in _DF or (key.startswith("df_") and "resid" in key):
        return "df"
    if key in _X1:
        return "x1"
    if key in _X2:
        return "x2"
    if key in _TOTAL:
        return "total"
    if key in _COUNT_EXACT or key.startswith(("number_of_", "num_of_", "no_of_")):
        return "count"
    if "weighted" in tokens:  # weighted counts are not the underlying unweighted counts
        return None
    if any(t in _MINMAX_TOKENS for t in tokens) or re.fullmatch(r"p\d{1,2}", tokens[-1]):
        return "minmax"
    if tokens[0] in COUNT_TOKENS or tokens[-1] in COUNT_TOKENS:
        return "count"
    if key in _PERCENT or tokens[-1] in _PERCENT or tokens[0] in _PERCENT:
        return "percent"
    return None


# What a header-led column must hold for its header to count (None: any non-empty value).
# Patterns are RE2-compatible: the tabular checks run them vectorised with pyarrow.
HEADER_VALUE_PATTERNS: dict[str, str | None] = {
    "uprn": r"^\s*\d{1,12}(\.0)?\s*$",
    "passport": r"^\s*\d{9}\s*$",
    "easting_northing": r"^\s*\d{5,7}(\.\d+)?\s*$",
    "coordinates": r"^\s*-?\d{1,3}\.\d{3,}\s*$",
    "crn": r"^\s*(?:[A-Za-z][A-Za-z0-9]\d{6}|\d{8})\s*$",
    "phone": r"^\s*\+?[\d ()-]{9,18}\s*$",
    "nhs_number": r"^\s*\d{3}[ -]?\d{3}[ -]?\d{4}\s*$",
    "vat": r"^\s*(?:GB)?\s*[\d ]{9,15}\s*$",
    "upn": r"^\s*[A-Za-z]\d{11}[0-9A-Za-z]\s*$",
    "grid_reference": r"^\s*[A-Za-z]{2}\s?\d{2,5}\s?\d{2,5}\s*$",
    "postcode": r"^\s*[A-Za-z]{1,2}\d[A-Za-z\d]?\s*\d[A-Za-z]{2}\s*$",
    "ni_number": r"^\s*[A-Za-z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-Da-d]\s*$",
    "email": r"@",
    "school_id": None,
    "person_name": r"[A-Za-z]",
    "address": r"[A-Za-z0-9]",
    "date_of_birth": r"\d",
    "date_of_death": r"\d",
    "ons_business_ref": r"\d",
    "school_name": r"[A-Za-z]",
}


def header_value_validates(kind: str, header: str, value: str) -> bool:
    """Whether a value under a header of ``kind`` is that identifier (the exact rule behind the
    vectorised pattern prefilter: validators with check digits/letters where they exist)."""
    v = value.strip()
    if not v:
        return False
    # Under a header that names the identifier, its shape is enough: a failed check character
    # means a mistyped or synthetic identifier, which is blocked all the same (check_failed
    # lets the finding say so). Placeholders of one repeated digit are not identifiers.
    if kind == "nhs_number":
        return is_nhs_number(v) or (check_failed(kind, v) and len(set(_digits_only(v))) > 1)
    if kind == "ni_number":
        return is_ni_number(v) or check_failed(kind, v)
    if kind == "postcode":
        return is_postcode(v)
    if kind == "upn":
        return is_upn(v) or check_failed(kind, v)
    if kind == "email":
        return is_email(v)
    if kind == "phone":
        return is_uk_phone(v, allow_missing_zero=True)
    if kind == "vat":
        key = _key(header_tokens(header))
        if key in ("utr", "unique_taxpayer_reference"):
            return bool(re.fullmatch(r"\d{10}", _digits_only(v)))
        return (
            is_vat_number(v, require_prefix=False)
            or (check_failed(kind, v) and int(_digits_only(v.upper()).removeprefix("GB")) != 0)
            or bool(re.fullmatch(r"\d{3}/?[A-Z]{1,2}\d{3,6}", v.upper()))
        )
    if kind == "crn":
        return is_crn(v, allow_digits=True)
    if kind == "grid_reference":
        return is_grid_reference(v, min_digits=4)
    if kind == "coordinates":
        return _float_in(v, -180.0, 180.0) and abs(float(v)) > 0
    if kind == "easting_northing":
        return _float_in(v, 10_000.0, 1_300_000.0)
    if kind == "school_id":
        key = _key(header_tokens(header))
        if "ukprn" in key:
            return bool(re.fullmatch(r"1\d{7}", v))
        if key in ("urn", "school_urn", "academy_urn"):
            return bool(re.fullmatch(r"\d{5,7}", v))
        if "laestab" in key.replace("_", "") or key.startswith("dfe"):
            return bool(re.fullmatch(r"\d{3}/?\d{4}", v))
        return True
    pattern = HEADER_VALUE_PATTERNS.get(kind)
    return pattern is None or re.search(pattern, v) is not None


def _float_in(value: str, low: float, high: float) -> bool:
    try:
        x = float(value)
    except ValueError:
        return False
    return low <= x <= high


# --------------------------------------------------------------- identifiers inside text


@dataclass(frozen=True)
class Match:
    kind: str
    start: int
    end: int


_DATE = (
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{2}-\d{2}|"
    r"\d{1,2}(?:st|nd|rd|th)?\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
    r",?\s+\d{4})"
)

_TITLES = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Revd?)\.? "  # a person's title, case-exact
_TITLE_NAME = r"(?<![\w.])" + _TITLES + r"[A-Z](?:[a-z]+|'[A-Z][a-z]+)(?:[-'][A-Z]?[a-z]+)*\b"

# (kind, compiled pattern, validator of the matched text or None)
_TEXT_RULES: list[tuple[str, re.Pattern[str], Callable[[str], bool] | None]] = [
    ("email", re.compile(r"(?<![\w.+-])" + _EMAIL.pattern + r"(?![\w-])"), None),
    (
        "nhs_number",
        re.compile(r"(?<![\w.-])(?:\d{3}[ -]\d{3}[ -]\d{4}|\d{10})(?![\w.-]|[ -]\d)"),
        is_nhs_number,
    ),
    ("ni_number", re.compile(r"(?<![\w])" + _NINO.pattern + r"(?!\w)", re.I), is_ni_number),
    (
        "vat",
        re.compile(
            r"(?<![\w])(?:GB ?\d{3} ?\d{4} ?\d{2}(?: ?\d{3})?|GD[0-4]\d\d|HA[5-9]\d\d)(?!\w)"
        ),
        # GB + 9 digits is a VAT number's own shape: no check-digit test (see is_vat_shape).
        lambda text: is_vat_number(text) or is_vat_shape(text),
    ),
    ("upn", re.compile(r"(?<![\w])[A-Z]\d{11}[0-9A-Z](?!\w)"), is_upn),
    ("crn", re.compile(r"(?<![\w])(?:[A-Z]{2}|R0)\d{6}(?!\w)"), is_crn),
    (
        "phone",
        # Not the fraction of a decimal number: 59648.02463470344 holds no phone number.
        re.compile(
            r"(?<![\w+])(?<!\d[.,])(?:(?:\+44|0044)\s?(?:\(0\)\s?)?\d|\(?0\d)[\d() -]{7,14}\d(?![\w])"
        ),
        is_uk_phone,
    ),
    (
        "postcode",
        re.compile(r"(?<![\w])(?:GIR ?0AA|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2})(?![\w])"),
        is_postcode,
    ),
    (
        "grid_reference",
        re.compile(
            r"(?<![\w])[A-Z]{2} ?(?:\d{6}|\d{8}|\d{10}|\d{3} \d{3}|\d{4} \d{4}|\d{5} \d{5})"
            r"(?![\w])"
        ),
        is_grid_reference,
    ),
    (
        "coordinates",
        re.compile(r"(?<![\w.])" + _COORD_PAIR.pattern + r"(?![\w.])"),
        is_coordinate_pair,
    ),
    ("address", _ADDRESS, None),
    (
        "date_of_birth",
        re.compile(
            r"\b(?:d\.?o\.?b\.?|date of birth|birth ?date|born(?: on)?)\s*[:=]?\s*" + _DATE, re.I
        ),
        None,
    ),
    (
        "date_of_death",
        re.compile(
            r"\b(?:d\.?o\.?d\.?|date of death|death ?date|died(?: on)?)\s*[:=]?\s*" + _DATE, re.I
        ),
        None,
    ),
    ("ons_business_ref", re.compile(r"\b(?:ru|lu|ent)ref\b\W{0,5}\d{10,11}\b", re.I), None),
    ("uprn", re.compile(r"\buprn\b\W{0,5}\d{1,12}\b", re.I), None),
    ("passport", re.compile(r"\bpassport(?: (?:no|number))?\.?\W{0,5}\d{9}\b", re.I), None),
    (
        "school_id",
        re.compile(r"\b(?:ukprn\W{0,5}1\d{7}|urn\W{0,5}\d{6}|laestab\W{0,5}\d{3}/?\d{4})\b", re.I),
        None,
    ),
    (
        "easting_northing",
        re.compile(r"\b(?:eastings?|northings?)\W{0,5}\d{6,7}\b", re.I),
        None,
    ),
    (
        "coordinates",
        re.compile(r"\b(?:lat(?:itude)?|lon(?:g(?:itude)?)?)\s*[:=]\s*-?\d{1,3}\.\d{4,}", re.I),
        None,
    ),
    (
        "person_name",
        re.compile(
            r"\b(?:forename|surname|first name|last name|full name|patient name|"
            r"respondent name)s?\s*[:=]\s*['\"]?[A-Z][a-z'-]+",
            re.I,
        ),
        None,
    ),
    # A title before a capitalised name ("Dr Patel", "Mrs. O'Neill"): titles are case-exact
    # so MRSA, MS Word and "Professional" are not titles.
    ("person_name", re.compile(_TITLE_NAME), None),
]

# An RE2-compatible superset of _TEXT_RULES, for the vectorised prefilter over table cells.
TEXT_PREFILTER = (
    r"@|\d{10}|\d{3}[ -]\d{3}[ -]\d{4}"
    r"|(?i:\b[a-z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[a-d]\b)"
    r"|\bG[BD] ?\d{3}|\bHA[5-9]\d\d\b"
    r"|\b[A-Z]\d{11}[0-9A-Z]\b|\b(?:[A-Z]{2}|R0)\d{6}\b"
    r"|(?:\+44|0044|\b0\d)[\d() -]{7,14}\d"
    r"|\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b|GIR ?0AA"
    r"|\b[A-Z]{2} ?\d{3}"
    r"|\d{1,2}\.\d{4,}\s*[,; ]\s*-?\d{1,3}\.\d{4}"
    r"|\b\d{1,4}[A-Za-z]?,?\s+[A-Z][a-z']+\s"
    r"|(?i:d\.?o\.?[bd]|birth|death|born|died|ruref|luref|entref|uprn|passport|ukprn|\burn\b|"
    r"laestab|easting|northing|\blat|\blon|forename|surname|first name|last name|full name|"
    r"patient name|respondent name)"
    r"|\b" + _TITLES + r"[A-Z]"
    r"|" + first_name_prefilter()
)
# A whole cell that is a lower-case or unspaced postcode/NINo (the text rules want upper case).
CELL_PREFILTER = r"(?i)^\s*(?:[a-z]{1,2}\d[a-z\d]?\s*\d[a-z]{2}|[a-z]{2}\s?\d{6}\s?[a-d])\s*$"


def _person_name_rules() -> list[re.Pattern[str]]:
    return [pattern for kind, pattern, _ in _TEXT_RULES if kind == "person_name"]


def name_is_only_lexical(value: str) -> bool:
    """A person's name found in ``value`` by the name lists alone: no title and no keyword
    ("Jane Smith", not "Dr Smith" or "surname: Smith"), so an officer judges it (review)."""
    if any(p.search(value) for p in _person_name_rules()):
        return False
    return bool(find_person_names(value))


# A whole short cell written in lower or mixed case: upper-cased, it may be one of these.
_UPPER_CASED_KINDS = (("postcode", is_postcode), ("ni_number", is_ni_number))


def _upper_cased(text: str) -> str | None:
    """The cell upper-cased, when it is short and not already upper case; else None."""
    stripped = text.strip()
    if stripped and len(stripped) <= 10 and stripped.upper() != stripped:
        return stripped.upper()
    return None


def find_identifiers(text: str) -> list[Match]:
    """Validated identifiers inside ``text``; overlapping matches keep the first rule's. People's
    names without a title are found last, by the UK name lists (person_names.py)."""
    found: list[Match] = []
    taken: list[tuple[int, int]] = []
    upper = _upper_cased(text)
    if upper is not None:
        for kind, ok in _UPPER_CASED_KINDS:
            if ok(upper):
                return [Match(kind, 0, len(text))]
    for kind, pattern, validator in _TEXT_RULES:
        for m in pattern.finditer(text):
            s, e = m.span()
            if any(s < te and ts < e for ts, te in taken):
                continue
            if validator is not None and not validator(m.group(0)):
                continue
            found.append(Match(kind, s, e))
            taken.append((s, e))
    for name in find_person_names(text):
        if not any(name.start < te and ts < name.end for ts, te in taken):
            found.append(Match("person_name", name.start, name.end))
    found.sort(key=lambda m: m.start)
    return found


def possible_kinds(values: Iterable[str], business_ref_context: bool = False) -> set[str]:
    """Every kind ``value_identifier_kinds`` could report for some of ``values``: a superset,
    read from the same rules (a kind's pattern matches somewhere in a value, before its
    validator; a short value that upper-cases to a postcode/NINo shape; a name in the name
    lists; an 11-digit business reference beside a RUREF column). The table check plans only
    these kinds' expectations: one that no value could fail costs GX ~7 ms for nothing."""
    distinct = {str(v) for v in values}
    found: set[str] = set()
    for kind, pattern, _validator in _TEXT_RULES:
        if kind not in found and any(pattern.search(v) for v in distinct):
            found.add(kind)
    if any(_upper_cased(v) is not None for v in distinct):
        found |= {kind for kind, _ok in _UPPER_CASED_KINDS}
    if "person_name" not in found and any(find_person_names(v) for v in distinct):
        found.add("person_name")
    if business_ref_context and any(is_ruref(v) for v in distinct):
        found.add("ons_business_ref")
    return found


def value_identifier_kinds(
    value: str,
    allowed: frozenset[str] | set[str] | tuple[str, ...] = (),
    kinds: frozenset[str] | set[str] | tuple[str, ...] | None = None,
    business_ref_context: bool = False,
) -> list[str]:
    """Kinds of identifier in one table cell (free text or a whole value), minus permitted
    ``allowed`` kinds, limited to ``kinds`` when given. ``business_ref_context``: the table
    has a RUREF/LUREF/ENTREF column, so a bare 11-digit value is a business reference."""
    found = [m.kind for m in find_identifiers(value)]
    if business_ref_context and is_ruref(value) and "ons_business_ref" not in found:
        found.append("ons_business_ref")
    out: list[str] = []
    for kind in found:
        if kind in allowed or (kinds is not None and kind not in kinds) or kind in out:
            continue
        out.append(kind)
    return out


def iter_lines(text: str) -> Iterator[tuple[int, str]]:
    yield from enumerate(text.splitlines(), start=1)


def scan_text(text: str, policy: CheckPolicy, location: Location) -> list[Finding]:
    """Direct and indirect identifiers in free text (documents, code, comments). One finding per
    identifier found, located by ``line`` (1-based within ``text``); permitted indirect kinds
    are skipped. The message names the kind and position, never the value."""
    findings: list[Finding] = []
    for number, line in iter_lines(text):
        if not line.strip():
            continue
        for match in find_identifiers(line):
            loc = dataclasses.replace(location, line=number)
            finding = identifier_finding(
                match.kind,
                policy,
                loc,
                f"text at line {number}, character {match.start + 1},",
                values=(line[match.start : match.end],),
            )
            if finding is not None:
                findings.append(finding)
    return findings
