"""Telling people a sign-off waits for them: one email per ticket round and step.

The sign-off operator calls :func:`notify_waiting` when a sign-off task starts waiting in
Airflow's Required Actions. The assigned people (officer, or a dataset's data owners) get one
email whose subject carries the STATS-ID, with the direct link to that task's Required Action and
a link to their own waiting list (``/srs/signoffs``). A task asked again (a refused answer, a
retry) sends nothing more: the Mailer's key ``signoff-waiting-r<round>-<step>`` is sent once.

Blinded review: the email names only the recipient's own step. It never says whether another
officer has answered, nor what they chose or wrote.

The link sent is recorded on the audit trail (``signoff_notice``), so the reminder sweep
(``include.signoff_reminders``) can point at the same Required Action, and can send a notice
that the mail server refused when the task started.
"""

from __future__ import annotations

import logging
import re
import smtplib
from collections.abc import Sequence
from typing import Any

from include.notifications import Email, EmailInFlight, render
from include.tickets import Ticket

log = logging.getLogger(__name__)

NOTICE_ACTION = "signoff_notice"
WAITING_LIST = "srs/signoffs"
_STATS_PREFIX = re.compile(r"^\s*\[STATS\d+\]\s*")


def waiting_key(round: int, step: str) -> str:
    return f"signoff-waiting-r{round}-{step}"


def step_label(step: str) -> str:
    """``officer_1`` → "officer 1"; ``data_owner_ASHE`` → "data owner (ASHE)"."""
    if step.startswith("data_owner_"):
        return f"data owner ({step.removeprefix('data_owner_')})"
    return step.replace("_", " ")


def bare_subject(subject: str) -> str:
    """The sign-off's subject without its leading ``[STATS-ID]`` (render adds it again)."""
    return _STATS_PREFIX.sub("", subject, count=1).strip()


def recipients(p: Any, assignees: Sequence[tuple[str, str]]) -> tuple[list[Any], list[str]]:
    """(registry people to write to, usernames the registry does not know)."""
    people, unknown = [], []
    for username, _name in assignees:
        person = p.person(username)
        if person is not None and person.email:
            people.append(person)
        else:
            unknown.append(username)
    return people, unknown


def notify_waiting(
    p: Any,
    ticket: Ticket,
    *,
    step: str,
    assignees: Sequence[tuple[str, str]],
    action_url: str,
    subject: str,
) -> bool:
    """Email the assignees that ``step`` of ``ticket``'s current round waits for them.

    Sent once per ticket round and step; True if sent now. A mail server that refuses the
    message does not stop the sign-off from waiting: the failure is logged and on the audit
    trail, and the reminder sweep sends the notice later.
    """
    key = waiting_key(ticket.round, step)
    if p.store.email_status(ticket.stats_id, key) == "sent":
        return False
    p.store.append_audit(
        ticket.stats_id,
        actor="pipeline",
        action=NOTICE_ACTION,
        details={
            "step": step,
            "round": ticket.round,
            "assigned": [u for u, _ in assignees],
            "action_url": action_url,
            "subject": subject,
        },
    )
    try:
        return send_waiting_notice(
            p, ticket, step=step, assignees=assignees, action_url=action_url, subject=subject
        )
    except (smtplib.SMTPException, OSError, EmailInFlight) as exc:
        # EmailInFlight: an earlier try is sending it right now; the sign-off waits regardless.
        log.warning(
            "%s: could not email %s that %s waits: %s", ticket.stats_id, assignees, step, exc
        )
        p.store.append_audit(
            ticket.stats_id,
            actor="pipeline",
            action="signoff_notice_failed",
            details={"step": step, "round": ticket.round, "error": str(exc)},
        )
        return False


def send_waiting_notice(
    p: Any,
    ticket: Ticket,
    *,
    step: str,
    assignees: Sequence[tuple[str, str]],
    action_url: str,
    subject: str,
) -> bool:
    """The email itself, once per key (True if sent now); a refusing mail server raises."""
    key = waiting_key(ticket.round, step)
    people, unknown = recipients(p, assignees)
    if not people:
        return p.email_operations(ticket, f"{key}-nobody", _nobody(ticket, step, assignees))
    if unknown:
        log.warning(
            "%s: %s not in the registry; not emailed for %s", ticket.stats_id, unknown, step
        )
    email = render(
        "signoff_waiting",
        ticket.stats_id,
        ticket=ticket,
        people=people,
        step=step_label(step),
        signoff_subject=bare_subject(subject),
        action_url=action_url,
        waiting_url=p.settings.ui_url(WAITING_LIST),
    )
    return p.mailer.send(ticket.stats_id, key, email, to=[x.email for x in people])


def _nobody(ticket: Ticket, step: str, assignees: Sequence[tuple[str, str]]) -> Email:
    names = ", ".join(u for u, _ in assignees) or "nobody"
    return Email(
        subject=f"[{ticket.stats_id}] Sign-off {step} waits, but its assignees have no email",
        body=(
            f"The {step_label(step)} sign-off of {ticket.stats_id} (project {ticket.project}, "
            f"round {ticket.round}) waits in Required Actions, assigned to {names}, but the "
            "registry has no email address for them, so nobody was told. Contact them by "
            "other means, or correct the registry.\n"
        ),
    )
