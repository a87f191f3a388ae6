"""How a DAG task runs one step of the core, so every request DAG fails and skips alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from srs_priority import RECEIPT_ORDER

T = TypeVar("T")

# Every request DAG's tasks: owned by operations, retried where safe (sign-offs and decisions
# override this with 0), and prioritised in order of receipt.
REQUEST_DEFAULT_ARGS: dict[str, Any] = {
    "owner": "srs-operations",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "weight_rule": RECEIPT_ORDER,
}


def run_step(step: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``step``: a refusal fails the task at once (no retries); a ticket closed because its
    project ended skips the rest of the run, which then ends without failing."""
    from include.output_requests import ReleaseHeld
    from include.permissions import NotPermitted
    from include.tickets import TicketClosed

    try:
        return step(*args, **kwargs)
    except TicketClosed as exc:
        raise AirflowSkipException(str(exc)) from exc
    except (NotPermitted, ReleaseHeld) as exc:
        raise AirflowFailException(str(exc)) from exc
