"""Sign-off notices and reminders: one email each, working days, blinded, from the ticket store.

The clock is frozen: the ticket store's ``utcnow`` (which stamps audit events) is set by the test,
and the sweep is given ``now``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from include import tickets
from include.mailsink import envelope_recipients
from include.settings import Settings, reset_settings
from include.signoff_notices import notify_waiting
from include.signoff_reminders import remind_waiting, waiting_signoffs
from include.states import TicketState as S
from include.working_days import add_working_days, is_working_day, working_days_between

ALICE = ("officer_alice", "Alice Adeyemi")
BOB = ("officer_bob", "Bob Brennan")
ALICE_MAIL, BOB_MAIL = "alice.adeyemi@srs.example", "bob.brennan@srs.example"
OPS_MAIL = "srs.operations@srs.example"
MON = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)  # a Monday (GMT: London time is UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- working days ---------------------------------------------------------------------------


def test_five_working_days_skip_the_weekend():
    assert add_working_days(MON, 5) == utc(2026, 11, 23, 10)
    assert add_working_days(utc(2026, 11, 20, 16), 1) == utc(2026, 11, 23, 16)  # Fri → Mon


def test_bank_holidays_of_england_and_wales_do_not_count():
    # Christmas 2026: Fri 25, Sat 26 (Boxing Day), substitute Mon 28.
    assert not is_working_day(utc(2026, 12, 25).date())
    assert not is_working_day(utc(2026, 12, 28).date())
    assert add_working_days(utc(2026, 12, 24, 10), 1) == utc(2026, 12, 29, 10)
    # Easter 2026: Good Friday 3 April, Easter Monday 6 April.
    assert add_working_days(utc(2026, 4, 2, 9), 1) == utc(2026, 4, 7, 9)
    # Summer bank holiday (England and Wales, not Scotland): Monday 31 August 2026.
    assert not is_working_day(utc(2026, 8, 31).date())
    # Christmas to New Year: 24 Dec + 5 working days = 31 Dec, 29, 30, 31 Dec, 4 Jan ...
    assert add_working_days(utc(2026, 12, 23, 12), 5) == utc(2027, 1, 4, 12)


def test_a_wait_that_starts_on_a_weekend_counts_from_monday():
    sat = utc(2026, 11, 21, 15)
    assert add_working_days(sat, 0) == utc(2026, 11, 23, 0)
    assert add_working_days(sat, 5) == utc(2026, 11, 30, 0)
    # London time decides the day: 23:30 UTC on Friday in summer is Saturday 00:30 in London.
    assert add_working_days(utc(2026, 7, 17, 23, 30), 1) == utc(2026, 7, 20, 23, 0)


def test_working_days_between():
    assert working_days_between(MON, MON) == 0
    assert working_days_between(MON, utc(2026, 11, 23, 9, 59)) == 4
    assert working_days_between(MON, utc(2026, 11, 23, 10)) == 5


def test_the_setting_defaults_to_five_and_is_checked(tmp_path):
    assert Settings.from_env({"AIRFLOW_HOME": str(tmp_path)}).signoff_reminder_days == 5
    env = {"AIRFLOW_HOME": str(tmp_path), "SRS_SIGNOFF_REMINDER_DAYS": "2"}
    assert Settings.from_env(env).signoff_reminder_days == 2
    with pytest.raises(ValueError, match="SRS_SIGNOFF_REMINDER_DAYS must be at least 1"):
        Settings.from_env({**env, "SRS_SIGNOFF_REMINDER_DAYS": "0"})
    with pytest.raises(ValueError, match="SRS_SIGNOFF_REMINDER_DAYS must be a whole number"):
        Settings.from_env({**env, "SRS_SIGNOFF_REMINDER_DAYS": "five"})


# --- set-up ---------------------------------------------------------------------------------


class Clock:
    def __init__(self, monkeypatch, start: datetime) -> None:
        self.now = start
        monkeypatch.setattr(tickets, "utcnow", lambda: self.now)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch, MON)


@pytest.fixture
def p(demo_pipeline):
    return demo_pipeline


def awaiting_officers(p, folder="2026_Energy_v1"):
    t = p.store.create(
        kind="output", project="1234567", requester="r_rahman", folder=folder, actor="t"
    )
    p.store.set_fields(
        t.stats_id,
        actor="t",
        action="officers_assigned",
        assigned_officers=["officer_alice", "officer_bob"],
    )
    p.store.transition(t.stats_id, S.CHECKING, actor="t")
    return p.store.transition(t.stats_id, S.AWAITING_OFFICERS, actor="t")


def request_signoff(p, ticket, step, assignees, *, notify=True):
    """What the sign-off operator does when its task starts waiting."""
    p.store.append_audit(
        ticket.stats_id,
        actor="pipeline",
        action="signoff_requested",
        details={"step": step, "assigned": [u for u, _ in assignees], "try": 1},
    )
    if notify:
        return notify_waiting(
            p,
            ticket,
            step=step,
            assignees=assignees,
            action_url=f"http://localhost:8080/dags/output_request/runs/{ticket.run_id}/tasks/{step}/required_actions?map_index=-1",
            subject=f"[{ticket.stats_id}] Output check 1 of 2: project 1234567, {ticket.folder} (round {ticket.round})",
        )
    return None


def decide(p, ticket, step, actor, outcome="Pass", guidance=""):
    p.store.record_decision(
        ticket.stats_id,
        round=ticket.round,
        step=step,
        role="officer",
        actor=actor,
        outcome=outcome,
        guidance=guidance,
    )


def mails_to(sink, address):
    return [m for m in sink.messages() if address in envelope_recipients(m)]


# --- the waiting notice -----------------------------------------------------------------------


def test_one_waiting_notice_per_round_and_step_with_links(p, clock, smtp_sink):
    t = awaiting_officers(p)
    assert request_signoff(p, t, "officer_1", [ALICE]) is True
    assert request_signoff(p, t, "officer_1", [ALICE]) is False  # asked again: no second email
    [mail] = smtp_sink.wait_for(1)
    assert envelope_recipients(mail) == [ALICE_MAIL]
    assert mail["Subject"] == (
        f"[{t.stats_id}] Waiting for your sign-off: Output check 1 of 2: project 1234567, "
        f"{t.folder} (round 1)"
    )
    body = mail.get_content()
    assert "Dear Alice Adeyemi," in body and "as officer 1" in body
    assert f"/dags/output_request/runs/{t.stats_id}-r1/tasks/officer_1/required_actions" in body
    assert "http://localhost:8080/srs/signoffs" in body
    events = [e for e in p.store.audit(t.stats_id) if e.action == "signoff_notice"]
    assert len(events) == 1 and events[0].details["step"] == "officer_1"


def test_the_notice_never_tells_one_officer_what_the_other_said(p, clock, smtp_sink):
    t = awaiting_officers(p)
    request_signoff(p, t, "officer_2", [BOB])
    decide(p, t, "officer_2", "officer_bob", "Request revisions", guidance="SECRET-GUIDANCE-42")
    # officer_1's task starts waiting (e.g. retried) after officer 2 answered.
    request_signoff(p, t, "officer_1", [ALICE])
    [to_alice] = mails_to(smtp_sink, ALICE_MAIL)
    body = to_alice.get_content()
    for leak in ("SECRET-GUIDANCE-42", "Request revisions", "officer_bob", "Bob", "officer 2"):
        assert leak not in body and leak not in str(to_alice["Subject"]), leak


def test_a_notice_the_mail_server_refused_is_sent_by_the_sweep(p, clock, smtp_sink, monkeypatch):
    t = awaiting_officers(p)

    def refuse(*_a, **_k):
        raise OSError("connection refused")

    monkeypatch.setattr(p.mailer, "_deliver", refuse)
    assert request_signoff(p, t, "officer_1", [ALICE]) is False  # the sign-off still waits
    assert any(e.action == "signoff_notice_failed" for e in p.store.audit(t.stats_id))
    monkeypatch.undo()
    Clock(monkeypatch, MON)
    result = remind_waiting(p, now=utc(2026, 11, 16, 10, 5))  # within the grace: not yet
    assert result.notices_sent == []
    result = remind_waiting(p, now=utc(2026, 11, 16, 11))
    assert result.notices_sent == [f"{t.stats_id} officer_1"]
    [mail] = smtp_sink.wait_for(1)
    assert "Waiting for your sign-off" in mail["Subject"]
    assert f"/runs/{t.stats_id}-r1/tasks/officer_1/required_actions" in mail.get_content()
    assert remind_waiting(p, now=utc(2026, 11, 16, 12)).notices_sent == []


def test_a_notice_whose_sender_died_after_claiming_is_sent_by_the_sweep(p, clock, smtp_sink):
    """A task killed between claiming the notice and sending it leaves a claim that was never
    marked sent: the sweep takes it over once the Mailer's lease has passed, and sends it once."""
    t = awaiting_officers(p)
    request_signoff(p, t, "officer_1", [ALICE], notify=False)
    key = "signoff-waiting-r1-officer_1"
    assert p.store.claim_email(t.stats_id, key, subject="dying", recipients=[ALICE_MAIL])
    assert p.store.email_status(t.stats_id, key) == "claimed"
    clock.now = utc(2026, 11, 16, 10, 0, 10)  # within the lease: still the dying sender's
    assert remind_waiting(p, now=utc(2026, 11, 16, 11)).notices_sent == []
    assert smtp_sink.messages() == []
    clock.now = utc(2026, 11, 16, 11)
    result = remind_waiting(p, now=clock.now)
    assert result.notices_sent == [f"{t.stats_id} officer_1"]
    [mail] = smtp_sink.wait_for(1)
    assert "Waiting for your sign-off" in mail["Subject"]
    assert p.store.email_status(t.stats_id, key) == "sent"
    assert any(e.action == "email_claim_taken_over" for e in p.store.audit(t.stats_id))
    assert remind_waiting(p, now=utc(2026, 11, 16, 12)).notices_sent == []
    assert len(smtp_sink.messages()) == 1


# --- reminders ------------------------------------------------------------------------------


def test_one_reminder_and_one_operations_note_after_five_working_days(p, clock, smtp_sink):
    t = awaiting_officers(p)
    request_signoff(p, t, "officer_1", [ALICE])
    request_signoff(p, t, "officer_2", [BOB])
    clock.now = utc(2026, 11, 17, 9)
    decide(p, t, "officer_2", "officer_bob", "Pass", guidance="BOB-SAYS-FINE")
    smtp_sink.clear()

    before = remind_waiting(p, now=utc(2026, 11, 23, 9, 59))  # 4 working days and 23h59
    assert before.waiting == [f"{t.stats_id} officer_1 (4 working day(s))"]
    assert before.reminded == [] and before.operations_told == []
    assert smtp_sink.messages() == []

    for hour in range(10, 16):  # the hourly sweep keeps running: one of each, ever
        result = remind_waiting(p, now=utc(2026, 11, 23, hour))
        if hour == 10:
            assert result.reminded == [f"{t.stats_id} officer_1 ['officer_alice']"]
            assert result.operations_told == [f"{t.stats_id} ['officer_1']"]
        else:
            assert result.reminded == [] and result.operations_told == []
    smtp_sink.wait_for(2)
    assert len(smtp_sink.messages()) == 2
    [reminder] = mails_to(smtp_sink, ALICE_MAIL)
    [note] = mails_to(smtp_sink, OPS_MAIL)
    assert mails_to(smtp_sink, BOB_MAIL) == []  # Bob answered: not reminded
    assert reminder["Subject"].startswith(f"[{t.stats_id}] Reminder: waiting 5 working days")
    body = reminder.get_content()
    assert "since 16/11/2026 10:00" in body and "as officer 1" in body
    assert "/tasks/officer_1/required_actions" in body and "/srs/signoffs" in body
    assert "BOB-SAYS-FINE" not in body and "Bob" not in body
    assert note["Subject"] == (
        f"[{t.stats_id}] Sign-off overdue: {t.stats_id} (project 1234567) has waited over 5 "
        "working days"
    )
    ops = note.get_content()
    assert "officer 1: assigned to officer_alice (Alice Adeyemi)" in ops
    assert "officer 2" not in ops and "BOB-SAYS-FINE" not in ops and "Pass" not in ops
    assert f"http://localhost:8080/srs/requests/{t.stats_id}" in ops


def test_the_reminder_days_come_from_the_setting(p, clock, smtp_sink, monkeypatch):
    monkeypatch.setenv("SRS_SIGNOFF_REMINDER_DAYS", "2")
    reset_settings()
    from include.pipeline import Pipeline

    p2 = Pipeline()
    t = awaiting_officers(p2)
    request_signoff(p2, t, "officer_1", [ALICE], notify=False)
    assert remind_waiting(p2, now=utc(2026, 11, 18, 9)).reminded == []
    assert remind_waiting(p2, now=utc(2026, 11, 18, 10)).reminded != []


def test_a_decided_step_and_other_states_are_not_waiting(p, clock, smtp_sink):
    t = awaiting_officers(p)
    request_signoff(p, t, "officer_1", [ALICE], notify=False)
    decide(p, t, "officer_1", "officer_alice")
    assert waiting_signoffs(p, p.store.get(t.stats_id)) == []
    other = awaiting_officers(p, "2026_Other_v1")  # awaiting officers, no sign-off task waits yet
    assert waiting_signoffs(p, p.store.get(other.stats_id)) == []
    result = remind_waiting(p, now=utc(2026, 12, 31, 12))
    assert result.waiting == [] and result.reminded == []


def test_only_the_current_round_counts(p, clock, smtp_sink):
    t = awaiting_officers(p)
    request_signoff(p, t, "officer_1", [ALICE], notify=False)
    request_signoff(p, t, "officer_2", [BOB], notify=False)
    decide(p, t, "officer_1", "officer_alice", "Request revisions", guidance="Round.")
    decide(p, t, "officer_2", "officer_bob")
    p.store.transition(t.stats_id, S.REVISIONS_REQUESTED, actor="t")
    clock.now = utc(2026, 11, 30, 10)  # a fortnight later the researcher resubmits
    p.store.start_round(t.stats_id, folder="2026_Energy_v2", actor="t")
    t2 = p.store.transition(t.stats_id, S.AWAITING_OFFICERS, actor="t")
    assert t2.round == 2
    # Round 1's requests and decisions say nothing about round 2: nothing waits yet.
    assert waiting_signoffs(p, t2) == []
    clock.now = utc(2026, 11, 30, 11)
    request_signoff(p, t2, "officer_1", [ALICE], notify=False)
    [w] = waiting_signoffs(p, t2)
    assert (w.round, w.step, w.since) == (2, "officer_1", utc(2026, 11, 30, 11))
    assert remind_waiting(p, now=utc(2026, 12, 7, 10, 59)).reminded == []
    assert len(remind_waiting(p, now=utc(2026, 12, 7, 11)).reminded) == 1
    assert p.store.email_status(t.stats_id, "signoff-reminder-r2-officer_1") == "sent"


def test_a_data_owner_waiting_is_reminded(p, clock, smtp_sink):
    t = awaiting_officers(p)
    request_signoff(p, t, "officer_1", [ALICE], notify=False)
    request_signoff(p, t, "officer_2", [BOB], notify=False)
    decide(p, t, "officer_1", "officer_alice")
    decide(p, t, "officer_2", "officer_bob")
    t = p.store.transition(t.stats_id, S.AWAITING_DATA_OWNER, actor="t")
    clock.now = utc(2026, 11, 17, 10)
    owner = ("do_ashe", "Dara Owens (ASHE data owner)")
    request_signoff(p, t, "data_owner_ASHE", [owner], notify=False)
    [w] = waiting_signoffs(p, t)
    assert w.step == "data_owner_ASHE" and w.assigned == ("do_ashe",)
    smtp_sink.clear()
    result = remind_waiting(p, now=utc(2026, 11, 24, 10))
    assert result.reminded == [f"{t.stats_id} data_owner_ASHE ['do_ashe']"]
    [reminder] = mails_to(smtp_sink, "ashe.owner@dataowner.example")
    assert "as data owner (ASHE)" in reminder.get_content()
    [note] = mails_to(smtp_sink, OPS_MAIL)
    assert "data owner (ASHE): assigned to do_ashe" in note.get_content()


def test_a_new_round_gets_its_own_notice(p, clock, smtp_sink):
    t = awaiting_officers(p)
    assert request_signoff(p, t, "officer_1", [ALICE]) is True
    decide(p, t, "officer_1", "officer_alice", "Request revisions", guidance="Round.")
    p.store.transition(t.stats_id, S.REVISIONS_REQUESTED, actor="t")
    p.store.start_round(t.stats_id, folder="2026_Energy_v2", actor="t")
    t2 = p.store.transition(t.stats_id, S.AWAITING_OFFICERS, actor="t")
    assert request_signoff(p, t2, "officer_1", [ALICE]) is True
    assert request_signoff(p, t2, "officer_1", [ALICE]) is False
    subjects = [m["Subject"] for m in smtp_sink.wait_for(2)]
    assert len(smtp_sink.messages()) == 2
    assert subjects[0].endswith("(round 1)") and subjects[1].endswith("(round 2)")
    assert p.store.email_status(t.stats_id, "signoff-waiting-r2-officer_1") == "sent"
