"""Emails: rendered from templates, carrying the STATS-ID, sent once, with a copy kept.

Every email belongs to a ticket and has a key (e.g. ``ack-r1``, ``release-r2``). The key is
claimed in the ticket store before sending, so a retried or re-run task never sends it twice.
If the SMTP server refuses the message the claim is released and the task's retry sends it.
"""

from __future__ import annotations

import mimetypes
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


class Mailer:
    """Sends a ticket's emails once each, keeping a copy of every message sent."""

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
        if not self.store.claim_email(stats_id, key, subject=email.subject, recipients=recipients):
            return False
        msg = build_message(self.settings, email, to=to, cc=cc, attachments=attachments)
        try:
            self._deliver(msg, recipients)
        except (smtplib.SMTPException, OSError):
            self.store.release_email_claim(stats_id, key)
            raise
        if self.keep_copy is not None:
            # Bcc recipients are not in the headers; the archive copy records them.
            copy = message_from_bytes(msg.as_bytes(), policy=policy.default)
            if bcc:
                copy["Bcc"] = ", ".join(bcc)
            self.keep_copy(stats_id, key, copy.as_bytes())
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
