"""`srs ticket` shows each decision's (and assigned officer's) full name beside the username."""

from __future__ import annotations

from include.cli import main


def test_decisions_show_full_names_from_the_registry(demo_pipeline, capsys):
    store = demo_pipeline.store
    t = store.create(
        kind="output", project="1234567", requester="r_rahman", folder="f_v1", actor="intake"
    )
    store.set_fields(
        t.stats_id,
        actor="intake",
        action="officers_assigned",
        assigned_officers=["officer_alice", "officer_bob"],
    )
    store.record_decision(
        t.stats_id, round=1, step="officer_1", role="officer", actor="officer_alice", outcome="Pass"
    )
    store.record_decision(
        t.stats_id,
        round=1,
        step="officer_2",
        role="officer",
        actor="someone_gone",  # no longer in the registry: the username alone
        outcome="Request revisions",
        guidance="Round the counts.",
    )
    assert main(["ticket", t.stats_id]) == 0
    out = capsys.readouterr().out
    assert "officers: officer_alice (Alice Adeyemi), officer_bob (Bob Brennan)" in out
    decisions = out.split("decisions:")[1].split("audit trail:")[0]
    assert "officer_1 officer_alice (Alice Adeyemi): Pass" in decisions
    assert "officer_2 someone_gone: Request revisions — Round the counts." in decisions
