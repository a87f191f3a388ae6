from datetime import date
from pathlib import Path

import pytest

from include.cli import main
from include.db import session_scope
from include.registry import UnknownProject, get_project, list_projects, load, officers
from include.registry_file import RegistryFileError, parse_registry, read_registry_file
from include.settings import get_settings

DEMO = Path(__file__).resolve().parents[3] / "demo" / "registry.yaml"


def _load(text: str):
    with session_scope(get_settings().database_url) as s:
        return load(s, parse_registry(text))


def _project(number: str):
    with session_scope(get_settings().database_url) as s:
        return get_project(s, number)


def test_demo_registry_loads_with_every_kind_the_demo_needs():
    doc = read_registry_file(DEMO)
    with session_scope(get_settings().database_url) as s:
        load(s, doc)
        projects = {p.number: p for p in list_projects(s)}
        staff = officers(s)
    today = date(2026, 11, 25)
    assert len(staff) >= 2
    kinds = {(p.kind, p.is_live(today)) for p in projects.values()}
    assert ("full", True) in kinds and ("exploratory", True) in kinds
    assert any(p.has_ended(today) for p in projects.values())
    reviews = {d.review for p in projects.values() for d in p.datasets}
    assert {"for_approval", "for_information"} <= reviews
    assert any(p.threshold not in (None, 10) and p.indirect_permitted for p in projects.values())


def test_reload_updates_end_date_in_place():
    text = DEMO.read_text()
    _load(text)
    assert _project("1234567").end_date == date(2028, 12, 31)
    result = _load(text.replace("end_date: 2028-12-31", "end_date: 2026-12-01"))
    assert "1234567" in result.updated_projects and not result.added_projects
    assert _project("1234567").end_date == date(2026, 12, 1)


def test_reload_replaces_researchers():
    text = DEMO.read_text()
    _load(text)
    _load(text.replace("researchers: [r_rahman, r_jones]", "researchers: [r_rahman]"))
    assert [p.username for p in _project("1234567").researchers] == ["r_rahman"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("kind: exploratory", "kind: pilot"), "projects[2] (2345678).kind"),
        (("end_date: 2027-01-14", "end_date: 2025-01-14"), "projects[2] (2345678)"),
        (("researchers: [r_okafor]", "researchers: [r_nobody]"), "'r_nobody' is not in people"),
        (
            ("datasets: [ASHE]", "datasets: [NOPE]"),
            "projects[1] (4567890).datasets: 'NOPE' is not in datasets",
        ),
        (
            (
                "indirect_identifiers_permitted: [postcode]",
                "indirect_identifiers_permitted: [shoe_size]",
            ),
            "projects[1] (4567890).indirect_identifiers_permitted",
        ),
        (("threshold: 20", "threshold: 0"), "projects[1] (4567890).threshold"),
        (
            ("email: ruth.rahman@university.example", "email: not-an-email"),
            "people[6] (r_rahman).email",
        ),
        (('number: "1234567"', 'number: "12ab"'), "projects[0]"),
    ],
)
def test_bad_file_is_refused_whole_naming_entry_and_field(change, expected):
    text = DEMO.read_text()
    _load(text)
    bad = text.replace(*change)
    assert bad != text
    with pytest.raises(RegistryFileError) as err:
        parse_registry(bad)
    assert expected in str(err.value)
    assert "nothing changed" in str(err.value)


def test_cli_load_refuses_bad_file_and_changes_nothing(tmp_path, capsys):
    assert main(["registry", "load", str(DEMO)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO.read_text().replace("end_date: 2028-12-31", "end_date: someday"))
    assert main(["registry", "load", str(bad)]) == 2
    assert "projects[0] (1234567).end_date" in capsys.readouterr().err
    assert _project("1234567").end_date == date(2028, 12, 31)


def test_officers_must_remain_independent_of_a_project():
    text = DEMO.read_text().replace(
        "researchers: [r_okafor]", "researchers: [r_okafor, officer_alice, officer_bob]"
    )
    with pytest.raises(RegistryFileError, match="two independent officers"):
        parse_registry(text)


def test_show_prints_project_and_unknown_project_is_clear(capsys):
    main(["registry", "load", str(DEMO)])
    assert main(["registry", "show", "4567890"]) == 0
    out = capsys.readouterr().out
    assert "minimum threshold: 20" in out and "postcode" in out and "for_approval" in out
    assert main(["registry", "show", "9999999"]) == 2
    assert "not in the registry" in capsys.readouterr().err
    with pytest.raises(UnknownProject):
        _project("9999999")


def test_dataset_threshold_tightens_project_threshold():
    text = DEMO.read_text().replace(
        "  - name: Census2021\n    review: none",
        "  - name: Census2021\n    review: none\n    threshold: 15",
    )
    _load(text)
    assert _project("1234567").effective_threshold == 15
    assert _project("4567890").effective_threshold == 20


def test_not_yaml_is_a_clear_error():
    with pytest.raises(RegistryFileError, match="not valid YAML"):
        parse_registry("projects: [unclosed")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("start_date: 2024-01-01", "start_date: 2024-13-45"),
            "projects[0] (1234567).start_date: '2024-13-45' is not a date (month value",
        ),
        (
            ("end_date: 2029-03-31", "end_date: 2029-02-30"),
            "projects[1] (4567890).end_date: '2029-02-30' is not a date (day value",
        ),
    ],
)
def test_an_impossible_date_names_its_entry_and_field(change, expected):
    # Before: yaml raised a bare ValueError ("month must be in 1..12") naming nothing.
    with pytest.raises(RegistryFileError) as err:
        parse_registry(DEMO.read_text().replace(*change))
    assert expected in str(err.value) and "YYYY-MM-DD" in str(err.value)
    assert "nothing changed" in str(err.value)


def _line_of(text: str, needle: str, nth: int = 0) -> int:
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    return text[:at].count("\n") + 1


@pytest.mark.parametrize(
    ("change", "expected", "key_text"),
    [
        (  # a project's field: plain YAML would keep the second end date silently
            ("end_date: 2029-03-31", "end_date: 2029-03-31\n    end_date: 2035-01-01"),
            "projects[1] (4567890): key 'end_date' is given twice",
            "end_date: 2029",
        ),
        (
            ("  - name: LFS\n", "  - name: LFS\n    review: none\n"),
            "datasets[1] (LFS): key 'review' is given twice",
            "review: none\n    data_owners: [do_lfs]",  # the added one comes first
        ),
        (  # in a flow mapping, on one line
            ("{username: r_jones,", "{username: r_jones, username: r_bond,"),
            "people[7] (r_jones): key 'username' is given twice",
            "username: r_jones",
        ),
        (
            ("operations: [ops]\n", "operations: [ops]\nofficers: [officer_alice]\n"),
            "the top level of the file: key 'officers' is given twice",
            "officers: [",
        ),
    ],
)
def test_duplicate_keys_are_refused_naming_key_line_and_entry(change, expected, key_text):
    text = DEMO.read_text()
    bad = text.replace(*change, 1)
    assert bad != text
    with pytest.raises(RegistryFileError) as err:
        parse_registry(bad)
    message = str(err.value)
    assert expected in message and "nothing changed" in message
    first = _line_of(bad, key_text)
    key = key_text.split(":")[0]
    second = _line_of(bad, f"{key}:", bad[: bad.index(key_text)].count(f"{key}:") + 1)
    lines = f"line {first}" if first == second else f"lines {first} and {second}"
    assert f"({lines}); keep one" in message


def test_cli_load_of_a_duplicate_key_changes_nothing(tmp_path, capsys):
    assert main(["registry", "load", str(DEMO)]) == 0
    bad = tmp_path / "bad.yaml"
    text = DEMO.read_text().replace(
        "end_date: 2028-12-31", "end_date: 2028-12-31\n    end_date: 2026-12-01"
    )
    bad.write_text(text)
    assert main(["registry", "load", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "projects[0] (1234567): key 'end_date' is given twice" in err
    assert _project("1234567").end_date == date(2028, 12, 31)


def test_yaml_merge_keys_are_not_duplicates():
    doc = parse_registry(
        DEMO.read_text().replace(
            "  - name: Census2021\n    review: none",
            "  - &census\n    name: Census2021\n    review: none\n"
            "  - <<: *census\n    name: Census2011",
        )
    )
    assert [d.name for d in doc.datasets][-2:] == ["Census2021", "Census2011"]
