from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from include.db import session_scope
from include.eligibility import ingest_eligibility, output_eligibility, transfer_eligibility
from include.permissions import (
    NotPermitted,
    assign_officers,
    verify_data_owner,
    verify_officer_responses,
)
from include.registry import get_project, load, officers
from include.registry_file import read_registry_file
from include.settings import get_settings

DEMO = Path(__file__).resolve().parents[3] / "demo" / "registry.yaml"
TODAY = date(2026, 11, 25)


@pytest.fixture
def reg():
    with session_scope(get_settings().database_url) as s:
        load(s, read_registry_file(DEMO))
        projects = {n: get_project(s, n) for n in ("1234567", "4567890", "2345678", "3456789")}
        return projects, officers(s)


def rules(refusals):
    return [r.rule for r in refusals]


def test_output_eligibility(reg):
    p, _ = reg
    assert output_eligibility(p["1234567"], "r_rahman", TODAY) == []
    assert rules(output_eligibility(p["1234567"], "r_smith", TODAY)) == ["not_a_researcher"]
    assert rules(output_eligibility(p["2345678"], "r_okafor", TODAY)) == [
        "outputs_need_full_project"
    ]
    ended = output_eligibility(p["3456789"], "r_jones", TODAY)
    assert rules(ended) == ["project_not_live"] and "ended on 2026-06-30" in ended[0].message
    early = replace(p["1234567"], start_date=date(2027, 1, 1))
    assert "has not started" in output_eligibility(early, "r_rahman", TODAY)[0].message
    # The end date is the last live day.
    assert output_eligibility(p["1234567"], "r_rahman", date(2028, 12, 31)) == []
    assert rules(output_eligibility(p["1234567"], "r_rahman", date(2029, 1, 1))) == [
        "project_not_live"
    ]


def test_ingest_any_kind_and_transfer_needs_both(reg):
    p, _ = reg
    assert ingest_eligibility(p["2345678"], "r_okafor", TODAY) == []
    assert transfer_eligibility(p["1234567"], p["4567890"], "r_rahman", TODAY) == []
    refused = transfer_eligibility(p["1234567"], p["4567890"], "r_jones", TODAY)
    assert (
        rules(refused) == ["not_a_researcher"]
        and "destination project 4567890" in refused[0].message
    )
    refused = transfer_eligibility(p["3456789"], p["1234567"], "r_jones", TODAY)
    assert rules(refused) == ["project_not_live"] and "source project 3456789" in refused[0].message


def test_assign_two_least_loaded_independent_officers(reg):
    p, staff = reg
    assert assign_officers(staff, p["1234567"], {}) == ["officer_alice", "officer_bob"]
    picked = assign_officers(
        staff, p["1234567"], {"officer_alice": 3, "officer_bob": 1, "officer_carol": 0}
    )
    assert picked == ["officer_carol", "officer_bob"]
    researcher_officer = replace(p["1234567"], researchers=p["1234567"].researchers + (staff[0],))
    assert "officer_alice" not in assign_officers(staff, researcher_officer, {})
    with pytest.raises(NotPermitted, match="only 1 officer"):
        assign_officers(staff[:2], researcher_officer, {})


def test_verify_responses(reg):
    p, staff = reg
    verify_officer_responses(["officer_alice", "officer_bob"], staff, p["1234567"])
    with pytest.raises(NotPermitted, match="not independent"):
        verify_officer_responses(["officer_alice", "officer_alice"], staff, p["1234567"])
    with pytest.raises(NotPermitted, match="not an SRS officer"):
        verify_officer_responses(["r_rahman", "officer_bob"], staff, p["1234567"])
    ashe = p["4567890"].datasets[0]
    verify_data_owner("do_ashe", ashe)
    with pytest.raises(NotPermitted, match="not a data owner of dataset ASHE"):
        verify_data_owner("do_lfs", ashe)
