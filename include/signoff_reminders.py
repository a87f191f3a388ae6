"""Reminders for sign-offs that wait too long, once each, from the ticket store alone.

Which sign-offs wait, and since when, is read from the permanent record, never from Airflow:

* tickets in ``awaiting_officers`` (officer steps) or ``awaiting_data_owner`` (data-owner steps);
* the audit events ``signoff_requested`` (written by the sign-off operator each time a sign-off
  task starts waiting: ``{"step": ..., "assigned": [...]}``) of the ticket's **current round**
  (the events after the ticket's last ``resubmitted`` event, or any carrying that ``round``);
  a step waits since its first such event in the round;
* less the steps with a decision recorded for the round (``store.decisions(stats_id, round=r)``).

A step waiting longer than ``SRS_SIGNOFF_REMINDER_DAYS`` working days (``include.working_days``:
weekends and England and Wales bank holidays do not count) gets **one** reminder to its
assignees (key ``signoff-reminder-r<round>-<step>``), and the request **one** note to operations
per round and waiting stage (``signoff-overdue-r<round>-<state>``), listing every overdue step.
The Mailer's keys make the sweep idempotent: run hourly, it sends each of them once.

A step whose waiting notice was never sent (the mail server refused it when the task started)
gets that notice from the sweep, once, after a short grace; one already overdue gets only the
reminder, which carries the same links.

Blinded review: a reminder names only its recipient's own step. The operations note lists the
steps still waiting, never an answer given.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from include.notifications import EmailInFlight, render
from include.request_kinds import DAG_OF_KIND
from include.signoff_notices import (
    NOTICE_ACTION,
    WAITING_LIST,
    bare_subject,
    recipients,
    send_waiting_notice,
    step_label,
    waiting_key,
)
from include.states import TicketState
from include.tickets import AuditEvent, Ticket
from include.working_days import LONDON, add_working_days, working_days_between

S = TicketState
SWEEP = "signoff_reminder_sweep"
WAITING_STATES = (S.AWAITING_OFFICERS, S.AWAITING_DATA_OWNER)
# The operator sends its own notice right after recording the request; the sweep steps in only
# for one that is clearly missing.
NOTICE_GRACE = timedelta(minutes=15)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class WaitingSignoff:
    """One sign-off step of a ticket's current round that has no decision yet."""

    stats_id: str
    round: int
    step: str
    assigned: tuple[str, ...]
    since: datetime  # when the step first started waiting in this round
    action_url: str  # the link the waiting notice carried ("" if none was recorded)
    subject: str  # the sign-off's subject, as the notice had it ("" if none was recorded)


@dataclass
class ReminderResult:
    waiting: list[str] = field(default_factory=list)  # "<STATS-ID> <step> (<n> working days)"
    reminded: list[str] = field(default_factory=list)
    operations_told: list[str] = field(default_factory=list)
    notices_sent: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def log_lines(self) -> list[str]:
        lines = [
            f"sign-off reminder sweep: {len(self.waiting)} sign-off(s) waiting, "
            f"{len(self.reminded)} reminder(s) sent, {len(self.operations_told)} note(s) to "
            f"operations, {len(self.notices_sent)} missed notice(s) sent, "
            f"{len(self.errors)} error(s)"
        ]
        lines += [f"  waiting {w}" for w in self.waiting]
        lines += [f"  reminded {r}" for r in self.reminded]
        lines += [f"  told operations {o}" for o in self.operations_told]
        lines += [f"  notice sent {n}" for n in self.notices_sent]
        lines += [f"  ERROR {e}" for e in self.errors]
        return lines

    def to_xcom(self) -> dict[str, Any]:
        return {
            "waiting": self.waiting,
            "reminded": self.reminded,
            "operations_told": self.operations_told,
            "notices_sent": self.notices_sent,
            "errors": self.errors,
        }


def _is_data_owner_step(step: str) -> bool:
    return step.startswith("data_owner_")


def _current_round_events(events: list[AuditEvent], round: int) -> list[AuditEvent]:
    """The events of round ``round``: after the resubmission that started it (or all, for 1)."""
    current, mine = 1, []
    for e in events:
        if e.action == "resubmitted":
            current = int(e.details.get("round") or current + 1)
            continue
        tagged = e.details.get("round")
        if (tagged if isinstance(tagged, int) else current) == round:
            mine.append(e)
    return mine


def waiting_signoffs(p: Any, ticket: Ticket) -> list[WaitingSignoff]:
    """The ticket's sign-offs waiting on people in its current round (see the module doc)."""
    if ticket.state not in WAITING_STATES:
        return []
    data_owners = ticket.state == S.AWAITING_DATA_OWNER
    events = _current_round_events(p.store.audit(ticket.stats_id), ticket.round)
    decided = {d.step for d in p.store.decisions(ticket.stats_id, round=ticket.round)}
    asked: dict[str, dict[str, Any]] = {}
    for e in events:
        step = str(e.details.get("step") or "")
        if not step or _is_data_owner_step(step) != data_owners:
            continue
        if e.action == "signoff_requested":
            entry = asked.setdefault(step, {"since": e.at, "url": "", "subject": ""})
            entry["assigned"] = tuple(e.details.get("assigned") or ())
        elif e.action == NOTICE_ACTION and step in asked:
            asked[step]["url"] = str(e.details.get("action_url") or "")
            asked[step]["subject"] = str(e.details.get("subject") or "")
    return [
        WaitingSignoff(
            ticket.stats_id,
            ticket.round,
            step,
            entry.get("assigned", ()),
            entry["since"],
            entry["url"],
            entry["subject"],
        )
        for step, entry in asked.items()
        if step not in decided
    ]


def remind_waiting(p: Any, *, now: datetime | None = None) -> ReminderResult:
    """Remind the assignees of every overdue sign-off, and tell operations, once each."""
    now = now or _now()
    days = p.settings.signoff_reminder_days
    result = ReminderResult()
    for ticket in p.store.find(states=WAITING_STATES):
        try:
            _sweep_ticket(p, ticket, now, days, result)
        except (smtplib.SMTPException, OSError) as exc:  # one ticket never stops the others
            result.errors.append(f"{ticket.stats_id}: {exc}")
    return result


def _sweep_ticket(p: Any, ticket: Ticket, now: datetime, days: int, result: ReminderResult) -> None:
    overdue: list[tuple[WaitingSignoff, int]] = []
    for w in waiting_signoffs(p, ticket):
        elapsed = working_days_between(w.since, now)
        result.waiting.append(f"{ticket.stats_id} {w.step} ({elapsed} working day(s))")
        if now < add_working_days(w.since, days):
            # Not overdue. A notice the task could not send is sent now; once overdue, the
            # reminder (with the same links) takes its place.
            if _missed_notice(p, ticket, w, now):
                result.notices_sent.append(f"{ticket.stats_id} {w.step}")
            continue
        overdue.append((w, elapsed))
        if _remind(p, ticket, w, elapsed, days):
            result.reminded.append(f"{ticket.stats_id} {w.step} {list(w.assigned)}")
    if overdue and _tell_operations(p, ticket, overdue, days):
        result.operations_told.append(f"{ticket.stats_id} {[w.step for w, _ in overdue]}")


def _missed_notice(p: Any, ticket: Ticket, w: WaitingSignoff, now: datetime) -> bool:
    """Send the waiting notice the task could not send: never claimed, its claim released, or
    claimed by an attempt that died before sending (the Mailer takes over a claim older than
    its lease; a fresher one is still in flight and is left to its sender)."""
    if now - w.since < NOTICE_GRACE:
        return False
    if p.store.email_status(ticket.stats_id, waiting_key(w.round, w.step)) == "sent":
        return False
    try:
        return send_waiting_notice(
            p,
            ticket,
            step=w.step,
            assignees=_assignees(p, w),
            action_url=_action_url(p, ticket, w),
            subject=w.subject or _default_subject(ticket, w),
        )
    except EmailInFlight:
        return False


def _assignees(p: Any, w: WaitingSignoff) -> list[tuple[str, str]]:
    out = []
    for username in w.assigned:
        person = p.person(username)
        out.append((username, person.name if person else username))
    return out


def _action_url(p: Any, ticket: Ticket, w: WaitingSignoff) -> str:
    """The Required Action's link as the notice had it; else built from the run and step."""
    if w.action_url:
        return w.action_url
    dag_id = DAG_OF_KIND.get(ticket.kind, "")
    if dag_id and not _is_data_owner_step(w.step):
        return p.settings.ui_url(
            f"dags/{dag_id}/runs/{ticket.run_id}/tasks/{w.step}/required_actions?map_index=-1"
        )
    return p.settings.ui_url(WAITING_LIST)  # a mapped data-owner task: their own list


def _default_subject(ticket: Ticket, w: WaitingSignoff) -> str:
    return (
        f"{ticket.kind.capitalize()} sign-off ({step_label(w.step)}): project {ticket.project}, "
        f"{ticket.folder} (round {ticket.round})"
    )


def _local(at: datetime) -> str:
    return at.astimezone(LONDON).strftime("%d/%m/%Y %H:%M")


def _remind(p: Any, ticket: Ticket, w: WaitingSignoff, elapsed: int, days: int) -> bool:
    people, _unknown = recipients(p, _assignees(p, w))
    if not people:
        return False  # operations' note names them; nobody else to write to
    email = render(
        "signoff_reminder",
        ticket.stats_id,
        ticket=ticket,
        people=people,
        step=step_label(w.step),
        signoff_subject=bare_subject(w.subject) or _default_subject(ticket, w),
        since=_local(w.since),
        elapsed=elapsed,
        days=days,
        action_url=_action_url(p, ticket, w),
        waiting_url=p.settings.ui_url(WAITING_LIST),
    )
    key = f"signoff-reminder-r{w.round}-{w.step}"
    return p.mailer.send(ticket.stats_id, key, email, to=[x.email for x in people])


def _tell_operations(
    p: Any, ticket: Ticket, overdue: list[tuple[WaitingSignoff, int]], days: int
) -> bool:
    steps = [
        {
            "step": step_label(w.step),
            "assigned": ", ".join(f"{u} ({n})" for u, n in _assignees(p, w)) or "nobody",
            "since": _local(w.since),
            "elapsed": elapsed,
        }
        for w, elapsed in overdue
    ]
    email = render(
        "signoff_overdue",
        ticket.stats_id,
        ticket=ticket,
        steps=steps,
        days=days,
        request_url=p.settings.ui_url(f"srs/requests/{ticket.stats_id}"),
    )
    return p.email_operations(
        ticket, f"signoff-overdue-r{ticket.round}-{ticket.state.value}", email
    )
