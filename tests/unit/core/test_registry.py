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
