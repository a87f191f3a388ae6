"""What every request step works with: settings, tickets, registry, storage, mail, archive.

One ``Pipeline`` per task run; DAG tasks build it inside the task (never at parse time).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from include.db import session_scope
from include.notifications import Attachment, Email, Mailer, render
from include.registry import Person, Project, get_person, get_project, officers, operations_staff
from include.settings import Settings, get_settings
from include.storage import ARCHIVE, Manifest, Place, Storage, UnsafePath, get_storage
from include.tickets import Ticket, TicketStore

UNREGISTERED = "unregistered"


class Pipeline:
    def __init__(self, settings: Settings | None = None, storage: Storage | None = None) -> None:
        self.settings = settings or get_settings()
        self.store = TicketStore(self.settings.database_url)
        self.storage = storage or get_storage(self.settings)
        self.mailer = Mailer(self.settings, self.store, keep_copy=self._archive_email)

    # --- registry -----------------------------------------------------------------------------

    def project(self, number: str) -> Project:
        with session_scope(self.settings.database_url) as s:
            return get_project(s, number)

    def person(self, username: str) -> Person | None:
        with session_scope(self.settings.database_url) as s:
            return get_person(s, username)

    def officers(self) -> list[Person]:
        with session_scope(self.settings.database_url) as s:
            return officers(s)

    def operations_emails(self) -> list[str]:
        with session_scope(self.settings.database_url) as s:
            staff = [p.email for p in operations_staff(s)]
        return sorted({self.settings.operations_email, *staff})

    @staticmethod
    def today() -> date:
        return datetime.now(UTC).date()

    # --- archive ------------------------------------------------------------------------------

    @staticmethod
    def archive_place(ticket: Ticket) -> Place:
        """The ticket's permanent folder, outside every project area researchers can see."""
        try:
            return Place(ticket.project, ARCHIVE, ticket.stats_id)
        except UnsafePath:  # a refused request that named no real project
            return Place(UNREGISTERED, ARCHIVE, ticket.stats_id)

    def _archive_email(self, stats_id: str, key: str, message: bytes) -> None:
        ticket = self.store.get(stats_id)
        self.storage.write_bytes(self.archive_place(ticket), f"emails/{key}.eml", message)

    def archive_json(self, ticket: Ticket, name: str, data: Any) -> None:
        payload = json.dumps(data, indent=2, default=_jsonable).encode()
        self.storage.write_bytes(self.archive_place(ticket), name, payload)

    # --- mail ---------------------------------------------------------------------------------

    def email_requester(
        self,
        ticket: Ticket,
        key: str,
        template: str,
        *,
        bcc: Sequence[str] = (),
        attachments: Sequence[Attachment] = (),
        **context: Any,
    ) -> bool:
        """Send a templated email to the ticket's requester (once per key)."""
        requester = self.person(ticket.requester)
        if requester is None:
            # Nobody to write to: tell operations instead, so the requester is not left waiting.
            return self.email_operations(
                ticket,
                f"{key}-ops",
                Email(
                    subject=f"[{ticket.stats_id}] Requester {ticket.requester!r} is not in the registry",
                    body=f"Could not send '{template}' for {ticket.stats_id}: the requester "
                    f"{ticket.requester!r} is unknown. Contact them by other means.\n",
                ),
            )
        email = render(
            template,
            ticket.stats_id,
            ticket=ticket,
            requester=requester,
            kind=ticket.kind,
            **context,
        )
        return self.mailer.send(
            ticket.stats_id, key, email, to=[requester.email], bcc=bcc, attachments=attachments
        )

    def email_operations(self, ticket: Ticket, key: str, email: Email) -> bool:
        return self.mailer.send(ticket.stats_id, key, email, to=self.operations_emails())


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, Manifest):  # a round's snapshot in ticket.json: every entry, kept
        return value.to_dict()
    return str(value)
