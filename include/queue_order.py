"""Requests are actioned in order of receipt (guidance section 2): a task's priority says when
its request (this round of it) joined the queue. Resubmissions go to the back."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from include.tickets import TicketStore, UnknownTicket

# Airflow keeps priority weights within 32 bits; seconds before this moment fit and shrink as
# time goes on, so an earlier receipt always weighs more.
_CEILING = 2_000_000_000
_ROUND_RUN = re.compile(r"^(STATS\d+)-r(\d+)$")
_TIMESTAMPED_RUN = re.compile(r"__(\d{4}-\d{2}-\d{2}T[0-9:.+\-]+)$")


def weight_of(received: datetime) -> int:
    return max(1, _CEILING - int(received.timestamp()))


def receipt_time(run_id: str, store: TicketStore, now: datetime | None = None) -> datetime | None:
    """When the request behind ``run_id`` joined the queue, if that can be told."""
    now = now or datetime.now(UTC)
    match = _ROUND_RUN.match(run_id)
    if match:
        try:
            ticket = store.get(match[1])
        except UnknownTicket:
            return None
        # A round whose run is only now being created has not started yet: it joins the queue now.
        return ticket.queued_at if int(match[2]) <= ticket.round else now
    match = _TIMESTAMPED_RUN.search(run_id)  # manual__<time>, as the trigger form makes
    if match:
        try:
            stamp = datetime.fromisoformat(match[1])
        except ValueError:
            return None
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    return None
