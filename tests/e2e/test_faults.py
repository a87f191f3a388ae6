"""Fault injection end to end: a real Airflow, the real mail sink, S3 on loopback.

The unit-level fault tests (tests/unit/test_faults_*.py) drive the steps directly; this one
lets Airflow's own retry machinery do the retrying.
"""

from __future__ import annotations

import time

import pytest

from include.states import TicketState as S
from tests.e2e.test_output_request import (
    DAG,
    RUN_TIMEOUT,
    answer,
    mails_for,
    new_folder,
    officers_of,
    submit,
    wait_mails,
)

pytestmark = pytest.mark.e2e


def test_smtp_down_during_release_airflow_retries_and_one_email_goes(
    airflow_server, srs, smtp_sink_session
):
    """Invariant: nothing released unsent, nothing lost, nothing duplicated.

    Fault: the mail server is stopped just before the second officer passes the request, so
    the ``release`` task's first try meets a refused connection. Airflow marks it
    ``up_for_retry``; the ticket is ``releasing`` (never ``released``) and no release email
    exists. The mail server comes back; Airflow's retry (30 s later) sends exactly one release
    email and the run ends ``archived``.
    """
    client, sink = airflow_server, smtp_sink_session
    folder = new_folder(srs=srs)
    ticket = submit(client, srs, "1234567", folder, "r_rahman")
    run_id = ticket.run_id
    first, second = officers_of(client, srs, ticket.stats_id, run_id)
    wait_mails(sink, ticket.stats_id, 1)  # the acknowledgement, before the fault
    answer(client, run_id, "officer_1", "Pass", first)
    sink.stop()
    try:
        answer(client, run_id, "officer_2", "Pass", second)
        client.wait_for_task(DAG, run_id, "release", {"up_for_retry"}, timeout=RUN_TIMEOUT)
        t = srs.store.get(ticket.stats_id)
        assert t.state == S.RELEASING
        assert srs.store.email_status(ticket.stats_id, "release") is None
    finally:
        sink.start()
    assert not [m for m in mails_for(sink, ticket.stats_id) if "Output cleared" in m["Subject"]]

    client.wait_for_run(DAG, run_id, {"success"}, timeout=RUN_TIMEOUT)
    t = srs.store.get(ticket.stats_id)
    assert t.state == S.ARCHIVED
    time.sleep(1)
    released = [m for m in mails_for(sink, ticket.stats_id) if "Output cleared" in m["Subject"]]
    assert len(released) == 1
    audit = srs.store.audit(ticket.stats_id)
    i_sent = next(
        i for i, e in enumerate(audit) if e.action == "email_sent" and e.details.get("key") == "release"
    )
    i_released = next(i for i, e in enumerate(audit) if e.to_state == S.RELEASED)
    assert i_sent < i_released
    tries = {
        ti["task_id"]: ti["try_number"] for ti in client.task_instances(DAG, run_id)
    }
    assert tries["release"] >= 2  # Airflow retried it
