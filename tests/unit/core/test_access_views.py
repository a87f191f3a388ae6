"""include.access: who may see which request in the operator view, and blinded review."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from include import access
from include.access import Scope
from include.registry import Person
from include.states import TicketState as S
from include.tickets import AuditEvent, Decision

DATASETS_OF = {"1234567": {"Census2021", "LFS"}, "4567890": {"ASHE"}, "2345678": {"Census2021"}}
NOW = datetime(2026, 12, 2, tzinfo=UTC)


@dataclass
class T:
    project: str
    destination_project: str | None = None
    stats_id: str = "STATS00001"
    kind: str = "output"
    round: int = 1
    state: S = S.AWAITING_OFFICERS
    assigned_officers: tuple[str, ...] = ("officer_alice", "officer_bob")
    details: dict = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.state not in (S.RELEASED, S.ARCHIVED, S.CLOSED_PROJECT_ENDED)


def person(name: str, **flags: bool) -> Person:
    return Person(name, name.title(), f"{name}@x.example", **flags)


def test_operations_officers_and_airflow_admins_see_everything():
    for who in (
        access.reader("ops", person("ops", is_operations=True)),
        access.reader("officer_alice", person("officer_alice", is_officer=True)),
        access.reader("root", None, airflow_admin=True),
    ):
        assert who.scope is Scope.ALL and access.view_refusal(who) is None
        assert access.may_view(who, T("4567890"), DATASETS_OF)
        assert access.may_view(who, T("9999999"), DATASETS_OF)  # unregistered project too


def test_a_data_owner_sees_requests_using_their_dataset():
    owner = access.reader("do_ashe", person("do_ashe"), owned_datasets={"ASHE"})
    assert owner.scope is Scope.OWN_DATASETS and access.view_refusal(owner) is None
    assert access.may_view(owner, T("4567890"), DATASETS_OF)
    assert not access.may_view(owner, T("1234567"), DATASETS_OF)
    assert not access.may_view(owner, T("9999999"), DATASETS_OF)
    # a transfer touches its destination project too
    assert access.may_view(owner, T("2345678", "4567890", kind="transfer"), DATASETS_OF)
    assert not access.may_view(owner, T("2345678", "1234567", kind="transfer"), DATASETS_OF)
    refusal = access.ticket_refusal(owner, T("1234567"), DATASETS_OF)
    assert "STATS00001" in refusal and "none of the datasets" in refusal
    shown = access.visible(owner, [T("1234567"), T("4567890", stats_id="S2")], DATASETS_OF)
    assert [t.stats_id for t in shown] == ["S2"]


@pytest.mark.parametrize("who", [person("r_jones"), None])
def test_anyone_else_sees_nothing(who):
    r = access.reader("r_jones", who)
    assert r.scope is Scope.NONE
    assert "may not see SRS requests" in access.view_refusal(r)
    assert not access.may_view(r, T("1234567"), DATASETS_OF)
    assert access.ticket_refusal(r, T("1234567"), DATASETS_OF) == access.view_refusal(r)


def test_reader_is_loaded_from_the_registry(demo_pipeline):
    url = demo_pipeline.settings.database_url
    assert access.load_reader(url, "do_lfs").datasets == {"LFS"}
    assert access.load_reader(url, "officer_bob").sees_all
    assert access.load_reader(url, "r_rahman").scope is Scope.NONE
    assert access.load_reader(url, "nobody", airflow_admin=True).sees_all
    assert access.load_datasets_of(url)["4567890"] == {"ASHE"}


def _d(step: str, role: str = "officer", rnd: int = 1, outcome: str = "Pass") -> Decision:
    return Decision(rnd, step, role, f"by_{step}", outcome, "guide", "", NOW)


def _e(action: str, details: dict) -> AuditEvent:
    return AuditEvent(NOW, "someone", action, None, None, details)


def test_answers_stay_hidden_until_every_officer_has_answered():
    t = T("1234567")
    one = [_d("officer_1")]
    progress = {1: access.round_progress(t, one, 1)}
    assert progress[1].blinded and progress[1].label == "1 of 2 answered"
    assert access.blind_decisions(one, progress) == []
    audit = access.blind_audit(
        [
            _e("decision", {"round": 1, "step": "officer_1", "outcome": "Pass", "guidance": "g"}),
            _e("signoff_refused", {"reason": "officer_1 by x: Request revisions needs guidance"}),
            _e("snapshot_taken", {"files": 3}),
        ],
        progress,
        current_round=1,
    )
    assert audit[0].details == {"round": 1, "step": "officer_1", "answer": access.HIDDEN}
    assert audit[1].details == {"answer": access.HIDDEN}
    assert audit[2].details == {"files": 3}
    both = [*one, _d("officer_2", outcome="Request revisions")]
    progress = {1: access.round_progress(t, both, 1)}
    assert not progress[1].blinded and progress[1].label == "2 of 2 answered"
    assert access.blind_decisions(both, progress) == both


def test_airflows_count_of_answers_is_used_when_higher():
    t = T("1234567")
    assert access.round_progress(t, [], 1).label == "0 of 2 answered"
    assert access.round_progress(t, [], 1, answered_in_airflow=1).label == "1 of 2 answered"
    assert access.round_progress(t, [], 1, answered_in_airflow=5).label == "2 of 2 answered"


def test_data_owner_answers_hide_with_their_round_and_earlier_rounds_are_open():
    t = T("1234567", round=2)
    decisions = [_d("officer_1", rnd=1), _d("data_owner", role="data_owner", rnd=2)]
    progress = {n: access.round_progress(t, decisions, n) for n in (1, 2)}
    assert not progress[1].blinded  # round 1 is over: a later round began
    assert progress[2].blinded
    assert access.blind_decisions(decisions, progress) == decisions[:1]


def test_a_finished_ticket_is_never_blinded():
    t = T("1234567", state=S.RELEASED)
    assert not access.round_progress(t, [_d("officer_1")], 1).blinded


def test_ingest_with_one_officer_needs_one_answer():
    t = T("4567890", kind="ingest", assigned_officers=("officer_alice",))
    assert access.officers_needed(t) == 1
    assert not access.round_progress(t, [_d("officer_1")], 1).blinded
