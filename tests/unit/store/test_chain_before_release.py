"""Release and placement verify the ticket's audit chain first: tampered through plain SQL, the
request is held (nothing sent, nothing placed, the ticket left in its state, operations told
which event broke it); an untampered ticket goes out."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from include import request_steps as steps
from include.archive_chain import CHAIN_FILE, read_archive, store_differs, verify_archive
from include.audit_chain import GENESIS, event_hash
from include.audit_verify import verify_archived
from include.db import get_engine
from include.demo import DEMO_FOLDER, write_demo_request
from include.release import CHAIN_HELD, ChainBroken, ReleaseHeld
from include.signoff_record import Response
from include.states import TicketState as S
from include.storage import INGEST, Place
from tests.unit.core.test_ingest_transfer import FOLDER, TABLE, lay_out
from tests.unit.store.helpers import drop_guard


@pytest.fixture
def p(database_url, monkeypatch, request):
    """The demo pipeline on SQLite and on PostgreSQL (its store is where the tampering is)."""
    monkeypatch.setenv("SRS_DATABASE_URL", database_url)
    pipeline = request.getfixturevalue("demo_pipeline")
    write_demo_request(pipeline.storage)
    return pipeline


def _sql(p, sql: str, **params) -> None:
    with get_engine(p.settings.database_url).begin() as conn:
        conn.execute(text(sql), params)


def _event_id(p, stats_id: str, seq: int) -> int:
    with get_engine(p.settings.database_url).connect() as conn:
        return conn.execute(
            text(
                "SELECT e.id FROM audit_events e JOIN tickets t ON t.id = e.ticket_id "
                "WHERE t.stats_id = :s AND e.seq = :q"
            ),
            {"s": stats_id, "q": seq},
        ).scalar_one()


def _signed_off_output(p) -> str:
    """An output request through its checks and both officers' passes, ready to release."""
    result = steps.intake(
        p,
        started_by="ops",
        project="1234567",
        folder=DEMO_FOLDER,
        requester="r_rahman",
        run_id="manual__1",
    )
    t = p.store.get(result.stats_id)
    steps.take_snapshot(p, t.stats_id)
    assert steps.run_checks(p, t.stats_id)["verdict"] == "pass"
    answers = [
        Response("officer_1", t.assigned_officers[0], "Pass"),
        Response("officer_2", t.assigned_officers[1], "Pass"),
    ]
    assert steps.officers_decision(p, t.stats_id, answers) == "release"
    assert p.store.verify_chain(t.stats_id).ok
    return t.stats_id


def _signed_off_ingest(p) -> str:
    lay_out(p, Place("1234567", INGEST, FOLDER), {"lookup.csv": TABLE}, listed=[("lookup.csv", [])])
    result = steps.intake(
        p,
        kind="ingest",
        started_by="ops",
        project="1234567",
        folder=FOLDER,
        requester="r_rahman",
        run_id="manual__i",
    )
    t = p.store.get(result.stats_id)
    steps.take_snapshot(p, t.stats_id)
    assert steps.run_checks(p, t.stats_id)["verdict"] == "pass"
    answers = [Response("officer_1", t.assigned_officers[0], "Pass")]
    assert steps.officers_decision(p, t.stats_id, answers) == "place"
    assert p.store.verify_chain(t.stats_id).ok
    return t.stats_id


def _subjects(smtp_sink) -> list[str]:
    return [m["Subject"] for m in smtp_sink.messages()]


def _assert_held(p, smtp_sink, stats_id: str, state, *, problem: str, seq: int | None) -> str:
    """Held for a broken chain: the ticket's state unchanged, one incident email naming the
    first bad event, nothing for the researcher. Returns the incident's body."""
    ticket = p.store.get(stats_id)
    assert ticket.state == state
    report = p.store.verify_chain(stats_id)
    assert (report.ok, report.problem, report.bad_seq) == (False, problem, seq)
    incidents = [m for m in smtp_sink.messages() if "audit chain broken" in m["Subject"]]
    assert len(incidents) == 1
    assert "srs.operations@srs.example" in incidents[0]["To"]
    body = incidents[0].get_content()
    assert report.describe() in body
    subjects = _subjects(smtp_sink)
    assert not any("cleared" in s or "placed" in s.lower() for s in subjects), subjects
    return body


# --- release -----------------------------------------------------------------------------------


def test_an_untampered_ticket_releases_and_its_chain_still_verifies(p, smtp_sink):
    stats_id = _signed_off_output(p)
    assert steps.release(p, stats_id)["released"]
    assert p.store.get(stats_id).state == S.RELEASED
    assert any("Output cleared" in s for s in _subjects(smtp_sink))
    assert not any("audit chain" in s for s in _subjects(smtp_sink))
    assert p.store.verify_chain(stats_id).ok


def test_an_altered_event_holds_the_release(p, smtp_sink):
    stats_id = _signed_off_output(p)
    drop_guard(get_engine(p.settings.database_url), "audit_events")
    victim = _event_id(p, stats_id, 2)
    _sql(p, "UPDATE audit_events SET details = '{}' WHERE id = :i", i=victim)
    with pytest.raises(ChainBroken, match=r"release held, nothing was sent.*altered event #2"):
        steps.release(p, stats_id)
    body = _assert_held(p, smtp_sink, stats_id, S.AWAITING_OFFICERS, problem="altered", seq=2)
    assert f"row id {victim}" in body and "The ticket's audit trail records this hold" in body
    assert any("audit chain broken, release held" in s for s in _subjects(smtp_sink))
    # The hold is on the chain, after the ticket's recorded head; the first break stays named.
    (held,) = [e for e in p.store.audit(stats_id) if e.action == CHAIN_HELD]
    assert held.details["bad_seq"] == 2 and held.details["step"] == "release"
    # Cleared and run again: held again, without a second incident email or audit event.
    with pytest.raises(ReleaseHeld):
        steps.release(p, stats_id)
    assert len([e for e in p.store.audit(stats_id) if e.action == CHAIN_HELD]) == 1
    _assert_held(p, smtp_sink, stats_id, S.AWAITING_OFFICERS, problem="altered", seq=2)


def test_a_deleted_event_holds_the_release(p, smtp_sink):
    stats_id = _signed_off_output(p)
    drop_guard(get_engine(p.settings.database_url), "audit_events")
    _sql(p, "DELETE FROM audit_events WHERE id = :i", i=_event_id(p, stats_id, 3))
    with pytest.raises(ChainBroken, match="removed"):
        steps.release(p, stats_id)
    _assert_held(p, smtp_sink, stats_id, S.AWAITING_OFFICERS, problem="removed", seq=4)


def test_a_changed_decision_holds_the_release(p, smtp_sink):
    """The second pass claimed by someone else: still two passes, so only the chain sees it."""
    stats_id = _signed_off_output(p)
    drop_guard(get_engine(p.settings.database_url), "decisions")
    _sql(
        p,
        "UPDATE decisions SET actor = 'officer_mallory' WHERE step = 'officer_2' AND ticket_id = "
        "(SELECT id FROM tickets WHERE stats_id = :s)",
        s=stats_id,
    )
    with pytest.raises(ChainBroken, match="decision altered"):
        steps.release(p, stats_id)
    report = p.store.verify_chain(stats_id)
    _assert_held(
        p, smtp_sink, stats_id, S.AWAITING_OFFICERS, problem="decision altered", seq=report.bad_seq
    )
    assert "officer_2" in report.detail


def test_a_decision_changed_to_revisions_is_reported_as_a_broken_chain(p, smtp_sink):
    """Before the sign-offs are counted: a tampered decision is an incident, not a refusal."""
    stats_id = _signed_off_output(p)
    drop_guard(get_engine(p.settings.database_url), "decisions")
    _sql(
        p,
        "UPDATE decisions SET outcome = 'Request revisions' WHERE step = 'officer_1' AND "
        "ticket_id = (SELECT id FROM tickets WHERE stats_id = :s)",
        s=stats_id,
    )
    with pytest.raises(ChainBroken, match="decision altered"):
        steps.release(p, stats_id)
    report = p.store.verify_chain(stats_id)
    _assert_held(
        p, smtp_sink, stats_id, S.AWAITING_OFFICERS, problem="decision altered", seq=report.bad_seq
    )


def test_a_state_changed_by_sql_holds_the_release(p, smtp_sink):
    stats_id = _signed_off_output(p)
    _sql(p, "UPDATE tickets SET state = 'release_held' WHERE stats_id = :s", s=stats_id)
    with pytest.raises(ChainBroken, match="state altered"):
        steps.release(p, stats_id)
    report = p.store.verify_chain(stats_id)
    _assert_held(
        p, smtp_sink, stats_id, S.RELEASE_HELD, problem="state altered", seq=report.bad_seq
    )


def test_a_forged_tail_holds_the_release_though_the_chain_cannot_take_the_hold(p, smtp_sink):
    """An event forged after the ticket's head takes the next number: the hold cannot be
    appended, and operations are told so."""
    stats_id = _signed_off_output(p)
    last = p.store.audit(stats_id)[-1]
    at = datetime(2026, 12, 3, 12, tzinfo=UTC)
    forged = event_hash(
        stats_id=stats_id,
        seq=last.seq + 1,
        action="decision",
        actor="forger",
        at=at,
        from_state=None,
        to_state=None,
        details={},
        prev_hash=last.hash,
    )
    engine = get_engine(p.settings.database_url)
    _sql(
        p,
        "INSERT INTO audit_events (ticket_id, at, actor, action, details, seq, prev_hash, hash) "
        "SELECT id, :at, 'forger', 'decision', '{}', :q, :prev, :h FROM tickets WHERE stats_id = :s",
        at=at.replace(tzinfo=None) if engine.dialect.name == "sqlite" else at,
        q=last.seq + 1,
        prev=last.hash,
        h=forged,
        s=stats_id,
    )
    with pytest.raises(ChainBroken, match="inserted"):
        steps.release(p, stats_id)
    body = _assert_held(
        p, smtp_sink, stats_id, S.AWAITING_OFFICERS, problem="inserted", seq=last.seq + 1
    )
    assert "could not record this hold" in body
    assert not [e for e in p.store.audit(stats_id) if e.action == CHAIN_HELD]


# --- placement ---------------------------------------------------------------------------------


def test_an_untampered_ingest_is_placed(p, smtp_sink):
    stats_id = _signed_off_ingest(p)
    assert steps.place(p, stats_id)["placed"]
    assert p.store.get(stats_id).state == S.PLACED
    assert p.storage.exists(Place("1234567", "Input", stats_id), "manifest.json")
    assert p.store.verify_chain(stats_id).ok


def test_an_altered_event_holds_the_placement(p, smtp_sink):
    stats_id = _signed_off_ingest(p)
    drop_guard(get_engine(p.settings.database_url), "audit_events")
    _sql(
        p,
        "UPDATE audit_events SET actor = 'forger' WHERE id = :i",
        i=_event_id(p, stats_id, 4),
    )
    with pytest.raises(ChainBroken, match=r"place held, nothing was placed.*altered event #4"):
        steps.place(p, stats_id)
    _assert_held(p, smtp_sink, stats_id, S.AWAITING_OFFICERS, problem="altered", seq=4)
    assert any("audit chain broken, placement held" in s for s in _subjects(smtp_sink))
    # Nothing copied into Input, the landing folder left as it was.
    assert not p.storage.list_files(Place("1234567", "Input", stats_id))
    assert p.storage.exists(Place("1234567", INGEST, FOLDER), "lookup.csv")


def test_a_changed_manifest_holds_the_placement(p, smtp_sink):
    stats_id = _signed_off_ingest(p)
    drop_guard(get_engine(p.settings.database_url), "round_files")
    _sql(
        p,
        "UPDATE round_files SET sha256 = :h WHERE path = 'lookup.csv' AND round_id IN "
        "(SELECT r.id FROM rounds r JOIN tickets t ON t.id = r.ticket_id WHERE t.stats_id = :s)",
        h="c" * 64,
        s=stats_id,
    )
    with pytest.raises(ChainBroken, match="manifest altered"):
        steps.place(p, stats_id)
    report = p.store.verify_chain(stats_id)
    _assert_held(
        p, smtp_sink, stats_id, S.AWAITING_OFFICERS, problem="manifest altered", seq=report.bad_seq
    )
    assert not p.storage.list_files(Place("1234567", "Input", stats_id))


# --- the archive keeps the chain ----------------------------------------------------------------


def _archived(p, smtp_sink):
    stats_id = _signed_off_output(p)
    steps.release(p, stats_id)
    steps.archive(p, stats_id)
    return stats_id, p.archive_place(p.store.get(stats_id))


def test_the_archive_keeps_the_chain_head_and_verifies_alone(p, smtp_sink):
    stats_id, where = _archived(p, smtp_sink)
    chain, decisions, manifests = read_archive(p.storage, where)
    report = p.store.verify_chain(stats_id)
    assert report.ok
    assert (chain["audit_seq"], chain["audit_head"]) == (report.events, report.head)
    assert chain["verified"]["ok"] and chain["events"][-1]["to_state"] == "archived"
    assert [e["hash"] for e in chain["events"]] == [e.hash for e in p.store.audit(stats_id)]
    assert len(decisions) == 2 and set(manifests) == {1}
    archived = verify_archive(p.storage, where)
    assert (archived.ok, archived.events, archived.head) == (True, report.events, report.head)
    assert store_differs(p.store, chain) is None


def _event_where(chain, action):
    return next(e for e in chain["events"] if e["action"] == action)


TAMPERINGS = {
    "an event's details": (
        lambda c, d, m: _event_where(c, "decision")["details"].update(outcome="Request revisions"),
        "altered",
    ),
    "an event removed": (lambda c, d, m: c["events"].pop(2), "removed"),
    "the last event removed": (lambda c, d, m: c["events"].pop(), "removed"),
    "an event re-linked": (lambda c, d, m: c["events"][3].update(prev_hash="f" * 64), "inserted"),
    "the head moved": (lambda c, d, m: c.update(audit_head="a" * 64), "inserted"),
    "a decision changed": (lambda c, d, m: d[0].update(outcome="Approve"), "decision altered"),
    "a decision removed": (lambda c, d, m: d.pop(), "decision removed"),
    "a manifest changed": (
        lambda c, d, m: m[1]["files"][0].update(sha256="0" * 64),
        "manifest altered",
    ),
    "a snapshot place changed": (
        lambda c, d, m: c["rounds"][0].update(snapshot_place="elsewhere"),
        "manifest altered",
    ),
}


def test_each_tampering_with_the_archive_copy_is_named(p, smtp_sink):
    _, where = _archived(p, smtp_sink)
    for name, (tamper, problem) in TAMPERINGS.items():
        chain, decisions, manifests = read_archive(p.storage, where)
        tamper(chain, decisions, manifests)
        report = verify_archived(chain, decisions, manifests)
        assert (report.ok, report.problem) == (False, problem), name


def test_a_tampered_archive_file_is_caught(p, smtp_sink):
    _, where = _archived(p, smtp_sink)
    chain = json.loads(p.storage.read_bytes(where, CHAIN_FILE))
    victim = chain["events"][4]
    victim["actor"] = "forger"
    p.storage.write_bytes(where, CHAIN_FILE, json.dumps(chain).encode())
    report = verify_archive(p.storage, where)
    assert (report.ok, report.problem, report.bad_seq) == (False, "altered", victim["seq"])


def test_a_store_chain_rewritten_whole_is_caught_against_the_archive(p, smtp_sink):
    """Every hash and the ticket's head recomputed: the store verifies, the archive does not
    agree."""
    stats_id, where = _archived(p, smtp_sink)
    engine = get_engine(p.settings.database_url)
    drop_guard(engine, "audit_events")
    with engine.begin() as conn:
        ticket_id = conn.execute(
            text("SELECT id FROM tickets WHERE stats_id = :s"), {"s": stats_id}
        ).scalar_one()
        rows = conn.execute(
            text(
                "SELECT id, seq, at, actor, action, from_state, to_state, details "
                "FROM audit_events WHERE ticket_id = :t ORDER BY seq"
            ),
            {"t": ticket_id},
        ).all()
        prev = GENESIS
        for row in rows:
            details = row.details if isinstance(row.details, dict) else json.loads(row.details)
            actor = "forger" if row.seq == 2 else row.actor
            h = event_hash(
                stats_id=stats_id,
                seq=row.seq,
                action=row.action,
                actor=actor,
                at=row.at if isinstance(row.at, datetime) else datetime.fromisoformat(row.at),
                from_state=row.from_state,
                to_state=row.to_state,
                details=details,
                prev_hash=prev,
            )
            conn.execute(
                text("UPDATE audit_events SET actor = :a, prev_hash = :p, hash = :h WHERE id = :i"),
                {"a": actor, "p": prev, "h": h, "i": row.id},
            )
            prev = h
        conn.execute(
            text("UPDATE tickets SET audit_head = :h WHERE id = :t"), {"h": prev, "t": ticket_id}
        )
    assert p.store.verify_chain(stats_id).ok  # the store alone cannot tell
    chain, _, _ = read_archive(p.storage, where)
    assert "event #2 in the store is not the archived one" in store_differs(p.store, chain)


def test_srs_audit_verify_archive(p, smtp_sink, capsys):
    from include.cli import main

    stats_id, where = _archived(p, smtp_sink)
    assert main(["audit", "verify", "--archive"]) == 0
    head = p.store.verify_chain(stats_id).head
    assert f"{stats_id}  archive ok" in capsys.readouterr().out and head
    chain = json.loads(p.storage.read_bytes(where, CHAIN_FILE))
    chain["events"][1]["details"] = {}
    p.storage.write_bytes(where, CHAIN_FILE, json.dumps(chain).encode())
    assert main(["audit", "verify", "--archive", stats_id]) == 1
    assert f"{stats_id} BROKEN: altered event #2" in capsys.readouterr().out
    other = steps.intake(
        p, started_by="ops", project="1234567", folder="x", requester="r_rahman", run_id="m__2"
    ).stats_id
    assert main(["audit", "verify", "--archive", other]) == 2  # not archived: nothing to verify


def test_a_two_round_output_and_a_placed_ingest_verify_from_their_archives(p, smtp_sink):
    from include.demo import demo_form_bytes

    stats_id = _signed_off_output(p)
    # Round 1 goes back (a new round, new decisions), round 2 is released.
    t = p.store.get(stats_id)
    p.store.transition(stats_id, S.REVISIONS_REQUESTED, actor="pipeline")
    v2 = DEMO_FOLDER.replace("_v1", "_v2")
    ready = Place("1234567", "Ready for Checking", v2)
    p.storage.copy_folder(Place("1234567", "Ready for Checking", DEMO_FOLDER), ready)
    p.storage.write_bytes(ready, "output_request_form.xlsx", demo_form_bytes("1234567", v2))
    steps.intake(
        p,
        started_by="ops",
        project="1234567",
        folder=v2,
        requester="r_rahman",
        run_id=f"{stats_id}-r2",
        stats_id=stats_id,
    )
    steps.take_snapshot(p, stats_id)
    steps.run_checks(p, stats_id)
    answers = [
        Response("officer_1", t.assigned_officers[0], "Pass"),
        Response("officer_2", t.assigned_officers[1], "Pass"),
    ]
    assert steps.officers_decision(p, stats_id, answers) == "release"
    steps.release(p, stats_id)
    steps.archive(p, stats_id)
    where = p.archive_place(p.store.get(stats_id))
    chain, decisions, manifests = read_archive(p.storage, where)
    assert set(manifests) == {1, 2} and {d["round"] for d in decisions} == {1, 2}
    assert verify_archive(p.storage, where).ok

    ingest = _signed_off_ingest(p)
    steps.place(p, ingest)
    steps.archive(p, ingest)
    report = verify_archive(p.storage, p.archive_place(p.store.get(ingest)))
    assert (report.ok, report.head) == (True, p.store.verify_chain(ingest).head)
