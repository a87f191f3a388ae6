"""Emails: rendered from templates, carrying the STATS-ID, sent once, with a copy kept.

Every email belongs to a ticket and has a key (e.g. ``ack-r1``, ``release-r2``). The key is
claimed in the ticket store before sending, so a retried or re-run task never sends it twice.
If the SMTP server refuses the message the claim is released and the task's retry sends it; a
claim left by an attempt that died is taken over after a lease (``Mailer.claim_lease``).
"""

from __future__ import annotations

import mimetypes
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from include.settings import Settings
from include.tickets import TicketStore


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes


@dataclass(frozen=True)
class Email:
    subject: str
    body: str


@cache
def _templates() -> Environment:
    # Plain-text emails: no HTML autoescaping, but undefined variables are errors, not blanks.
    return Environment(
        loader=PackageLoader("include", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - text/plain emails, never rendered as HTML
    )


def render(template: str, stats_id: str, **context: Any) -> Email:
    """Render ``emails/<template>.txt.j2``; its first line is ``Subject: ...``.

    The subject always starts with ``[STATS-ID]``: SRS administration relies on it.
    """
    text = _templates().get_template(f"emails/{template}.txt.j2").render(**context)
    first, _, body = text.partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"email template {template} must start with a 'Subject: ' line")
    return Email(subject=f"[{stats_id}] {first.removeprefix('Subject: ').strip()}", body=body)


def disclaimer() -> str:
    return _templates().loader.get_source(_templates(), "release_disclaimer.txt")[0]


def build_message(
    settings: Settings,
    email: Email,
    *,
    to: Sequence[str],
    cc: Sequence[str] = (),
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    # Long subjects hold unbreakable folder names: fold late (RFC 5322 allows 998) rather than
    # right after 'Subject:', which some mail programs show as a blank subject line.
    msg = EmailMessage(policy=policy.default.clone(max_line_length=998))
    msg["From"] = settings.mail_from
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = email.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or None)
    msg.set_content(email.body)
    for item in attachments:
        ctype, _ = mimetypes.guess_type(item.filename)
        maintype, _, subtype = (ctype or "application/octet-stream").partition("/")
        msg.add_attachment(item.content, maintype=maintype, subtype=subtype, filename=item.filename)
    return msg


class EmailInFlight(RuntimeError):
    """The email is claimed by another attempt that has not finished (or has not yet been
    given up for dead); the task fails and its retry sends it, never a second copy."""


class Mailer:
    """Sends a ticket's emails once each, keeping a copy of every message sent.

    Once-only rests on the ticket store: ``claim_email`` (one row per key) before anything is
    built, ``mark_email_sent`` the moment the SMTP server has taken the message. An attempt
    that fails before the server took it releases its claim; one that dies outright (SIGKILL,
    a task timeout, this database gone) leaves a claim that is taken over after
    ``claim_lease``, shorter than a request task's retry delay (30 s), so the retry sends it.
    Until then ``send`` raises :class:`EmailInFlight`; it returns False only for an email
    that was sent, so a caller that goes on after ``send`` never goes on without the email.
    """

    claim_lease = timedelta(seconds=20)

    def __init__(
        self,
        settings: Settings,
        store: TicketStore,
        keep_copy: Callable[[str, str, bytes], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.keep_copy = keep_copy  # (stats_id, key, message bytes): the archive's copy

    def send(
        self,
        stats_id: str,
        key: str,
        email: Email,
        *,
        to: Sequence[str],
        cc: Sequence[str] = (),
        bcc: Sequence[str] = (),
        attachments: Sequence[Attachment] = (),
    ) -> bool:
        """Send unless ``key`` was already sent for this ticket; True if sent now."""
        recipients = [*to, *cc, *bcc]
        claimed = self.store.claim_email(
            stats_id,
            key,
            subject=email.subject,
            recipients=recipients,
            stale_after=self.claim_lease,
        )
        if not claimed:
            if self.store.email_status(stats_id, key) == "sent":
                return False
            raise EmailInFlight(
                f"{stats_id}: email {key!r} is claimed by an attempt that has not finished; "
                f"a retry after {int(self.claim_lease.total_seconds())} s sends it"
            )
        try:
            msg = build_message(self.settings, email, to=to, cc=cc, attachments=attachments)
            if self.keep_copy is not None:
                # The copy is kept before sending: every message the server took has its copy
                # (a retry that sends again replaces it). Bcc recipients are not in the
                # headers; the archive copy records them.
                copy = message_from_bytes(msg.as_bytes(), policy=policy.default)
                if bcc:
                    copy["Bcc"] = ", ".join(bcc)
                self.keep_copy(stats_id, key, copy.as_bytes())
            self._deliver(msg, recipients)
        except Exception:
            # Nothing was taken by the server: let the retry send it.
            self.store.release_email_claim(stats_id, key)
            raise
        self.store.mark_email_sent(stats_id, key)
        return True

    def _deliver(self, msg: EmailMessage, recipients: Sequence[str]) -> None:
        host, port, login, password = self.settings.smtp_endpoint()
        sender, data, options = wire_format(msg, recipients)
        with smtplib.SMTP(host, port, timeout=30) as smtp:
            if login:
                smtp.starttls()
                smtp.login(login, password or "")
            smtp.sendmail(sender, list(recipients), data, mail_options=options)


def wire_format(msg: EmailMessage, recipients: Sequence[str]) -> tuple[str, bytes, tuple[str, ...]]:
    """(envelope sender, message bytes, MAIL options) for SMTP, with body lines left as written.

    ``smtplib.SMTP.send_message`` flattens the message with a ``BytesGenerator`` that has no
    policy, which falls back to mbox-style ``mangle_from_``: every body line starting with
    "From " went out as ">From " (an officer's "From SRS officer 1" in the revisions email).
    Nothing on the SMTP path needs that escaping (it is for mbox files), so the message is
    flattened here with its own policy (``mangle_from_`` off) and CRLF line ends.
    """
    sender = str(msg["Sender"] or msg["From"] or "")
    international = any(not a.isascii() for a in (sender, *recipients))
    wire = msg.policy.clone(linesep="\r\n", mangle_from_=False, utf8=international)
    options = ("SMTPUTF8", "BODY=8BITMIME") if international else ()
    return sender, msg.as_bytes(policy=wire), options
