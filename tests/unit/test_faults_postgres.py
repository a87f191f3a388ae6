"""Fault injection: the ticket store's PostgreSQL goes away while requests are in flight.

Invariants: nothing duplicated (no transition, decision or email is applied twice however
the steps are retried), nothing lost (every step succeeds on retry and the request reaches
``archived``), nothing released unsigned or unsent. Asserted from the ticket store (its audit
trail), the storage and the mail sink.

Faults, at the real boundary: the store talks to the local PostgreSQL server (its own
database, ``srs_faults_<random>``, dropped afterwards; the shared server is never restarted)
through a TCP proxy (tests/fixtures/faultproxy.py) that

- cuts every connection and refuses new ones for a moment, as a server restart does, just as
  a step sends its ``UPDATE tickets`` (the change is never applied: the step fails cleanly);
- forwards a step's ``COMMIT`` after its ``UPDATE tickets`` and cuts the connection before the
  reply (the change *is* applied, the step never hears so and fails: its retry must not apply
  it again).
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy import create_engine, event, text

from include import request_steps as out
from include.db import dispose_engines, get_engine
from include.demo import DEMO_FOLDER, DEMO_PROJECT, write_demo_request
from include.states import TicketState as S
from tests.fixtures.databases import POSTGRES_URL, _postgres_reachable
from tests.fixtures.faultproxy import FaultProxy


@pytest.fixture
def pg_proxy_url(monkeypatch, request):
    reason = _postgres_reachable(POSTGRES_URL)
    if reason:
        pytest.skip(reason)
    from sqlalchemy.engine import make_url

    base = make_url(POSTGRES_URL)
    name = f"srs_faults_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    proxy = FaultProxy(base.host or "127.0.0.1", base.port or 5432)
    url = base.set(host=proxy.host, port=proxy.port, database=name).render_as_string(
        hide_password=False
    )
    monkeypatch.setenv("SRS_DATABASE_URL", url)
    try:
        yield proxy, url
    finally:
        dispose_engines()
        proxy.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_pipeline(pg_proxy_url, request):
    proxy, url = pg_proxy_url
    p = request.getfixturevalue("demo_pipeline")
    assert p.settings.database_url == url
    return p, proxy, url


class Injector:
    """Arms one fault for the next ``UPDATE tickets`` a step sends."""

    def __init__(self, proxy: FaultProxy, url: str, fault: str, on: str = "UPDATE TICKETS") -> None:
        self.proxy, self.fault, self.armed, self.fired, self.on = proxy, fault, False, 0, on
        event.listen(get_engine(url), "before_cursor_execute", self._before)

    def _before(self, _conn, _cursor, statement, *_args) -> None:
        if not self.armed or not statement.lstrip().upper().startswith(self.on):
            return
        self.armed = False
        self.fired += 1
        if self.fault == "restart":
            self.proxy.mode = "refuse"
            self.proxy.cut()
            threading.Timer(0.5, setattr, (self.proxy, "mode", "pass")).start()
        else:  # the change reaches the server; the acknowledgement of its COMMIT never returns
            self.proxy.drop_reply_after(b"COMMIT")


def run_with_retries(step, inject: Injector, tries: int = 4):
    """Run a step as Airflow would with retries: the first try meets the fault."""
    from sqlalchemy.exc import DBAPIError

    inject.armed = True
    failures = []
    for _ in range(tries):
        try:
            result = step()
        except DBAPIError as exc:  # the database went away under the step: it failed cleanly
            failures.append(exc)
            time.sleep(0.6)
            inject.proxy.mode = "pass"
            continue
        inject.armed = False
        return result, failures
    raise AssertionError(f"the step never succeeded: {failures}")


@pytest.mark.parametrize("fault", ["restart", "commit_ack_lost"])
def test_database_faults_during_a_whole_request_apply_nothing_twice(pg_pipeline, smtp_sink, fault):
    """Invariant: no transition applied twice, nothing lost, nothing released unsigned.

    Every step of an output request (intake, snapshot, checks, the officers' decision,
    release, archive) meets the fault on its first ``UPDATE tickets`` and is retried until it
    succeeds. The ticket ends ``archived``; its audit holds each state change exactly once, in
    order; two decisions, one acknowledgement and one release email; ``released`` only after
    the release email was marked sent.
    """
    p, proxy, url = pg_pipeline
    write_demo_request(p.storage)
    inject = Injector(proxy, url, fault)
    stats_id = None

    def intake():
        return out.intake(
            p, started_by="ops", project=DEMO_PROJECT, folder=DEMO_FOLDER, requester="r_rahman",
            run_id="manual__pg",
        )

    result, failures = run_with_retries(intake, inject)
    stats_id = result.stats_id
    total_failures = len(failures)
    t = p.store.get(stats_id)

    def decide():
        return out.officers_decision(
            p,
            stats_id,
            [
                out.Response("officer_1", t.assigned_officers[0], "Pass"),
                out.Response("officer_2", t.assigned_officers[1], "Pass"),
            ],
        )

    steps = [
        lambda: out.take_snapshot(p, stats_id),
        lambda: out.run_checks(p, stats_id),
        decide,
        lambda: out.release(p, stats_id),
        lambda: out.archive(p, stats_id),
    ]
    for step in steps:
        _, failures = run_with_retries(step, inject)
        total_failures += len(failures)
    assert inject.fired >= 5 and total_failures >= 5  # the faults really hit the steps

    t = p.store.get(stats_id)
    assert t.state == S.ARCHIVED
    audit = p.store.audit(stats_id)
    moves = [e.to_state for e in audit if e.action == "state_changed"]
    assert moves == ["checking", "awaiting_officers", "releasing", "released", "archived"]
    assert len([e for e in audit if e.action == "created"]) == 1
    assert len(p.store.find(project=DEMO_PROJECT)) == 1  # no second ticket for the retried intake
    assert len(p.store.decisions(stats_id)) == 2
    sent = [e.details["key"] for e in audit if e.action == "email_sent"]
    assert sorted(sent) == ["ack-r1", "release"]
    i_sent = next(i for i, e in enumerate(audit) if e.details.get("key") == "release" and e.action == "email_sent")
    i_released = next(i for i, e in enumerate(audit) if e.to_state == S.RELEASED)
    assert i_sent < i_released
    subjects = [m["Subject"] for m in smtp_sink.messages()]
    assert len(subjects) == 2, subjects
    assert sum("Output cleared" in s for s in subjects) == 1
    where = p.archive_place(t)
    assert p.storage.exists(where, "audit.json") and p.storage.exists(where, "emails/release.eml")
    snap = out.snapshot_place(t)
    assert p.storage.verify(snap, out.snapshot_manifest(t)) == []


def test_terminated_backends_fail_the_step_cleanly(pg_pipeline):
    """Invariant: a step whose database connections are killed fails without a half-applied
    change, and succeeds on retry, applying the change once.

    Fault: ``pg_terminate_backend`` on every connection to this test's own database (what a
    server restart does to its clients), after the store's connections are pooled.
    """
    p, _proxy, url = pg_pipeline
    write_demo_request(p.storage)
    stats_id = out.intake(
        p, started_by="ops", project=DEMO_PROJECT, folder=DEMO_FOLDER, requester="r_rahman",
        run_id="manual__term",
    ).stats_id
    out.take_snapshot(p, stats_id)
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    admin = create_engine(make_url(POSTGRES_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")
    engine = get_engine(url)
    killed = {"n": 0}

    def kill_all(_conn, _cursor, statement, *_args):
        if killed["n"] == 0 and statement.lstrip().upper().startswith("UPDATE TICKETS"):
            killed["n"] += 1
            with admin.connect() as c:
                c.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :d AND pid <> pg_backend_pid()"
                    ),
                    {"d": name},
                )

    event.listen(engine, "before_cursor_execute", kill_all)
    from sqlalchemy.exc import DBAPIError

    try:
        with pytest.raises(DBAPIError):
            out.run_checks(p, stats_id)
        assert p.store.get(stats_id).state == S.RECEIVED  # nothing half-applied
        summary = out.run_checks(p, stats_id)
    finally:
        event.remove(engine, "before_cursor_execute", kill_all)
        admin.dispose()
    assert summary["verdict"] == "pass"
    moves = [e.to_state for e in p.store.audit(stats_id) if e.action == "state_changed"]
    assert moves == ["checking", "awaiting_officers"]


def test_lost_acknowledgement_of_the_email_claim_neither_loses_nor_duplicates(
    pg_pipeline, smtp_sink, monkeypatch
):
    """Invariant: nothing lost, nothing duplicated, never ``released`` without the email.

    Fault: the release email's claim (``INSERT INTO sent_emails``) is committed but its
    acknowledgement is lost, so the release fails with a claim on record and nothing sent. The
    retry within the claim's lease refuses (EmailInFlight); the one after takes the claim over
    and sends exactly one email, and only then is the ticket ``released``.
    """
    from datetime import timedelta

    from include.notifications import EmailInFlight, Mailer

    p, proxy, url = pg_pipeline
    write_demo_request(p.storage)
    stats_id = out.intake(
        p, started_by="ops", project=DEMO_PROJECT, folder=DEMO_FOLDER, requester="r_rahman",
        run_id="manual__claim",
    ).stats_id
    t = p.store.get(stats_id)
    out.take_snapshot(p, stats_id)
    out.run_checks(p, stats_id)
    out.officers_decision(
        p,
        stats_id,
        [
            out.Response("officer_1", t.assigned_officers[0], "Pass"),
            out.Response("officer_2", t.assigned_officers[1], "Pass"),
        ],
    )
    monkeypatch.setattr(Mailer, "claim_lease", timedelta(seconds=1))
    inject = Injector(proxy, url, "commit_ack_lost", on="INSERT INTO SENT_EMAILS")
    inject.armed = True
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError):
        out.release(p, stats_id)
    assert inject.fired == 1
    assert p.store.email_status(stats_id, "release") == "claimed"  # applied, never heard
    with pytest.raises(EmailInFlight):
        out.release(p, stats_id)
    assert p.store.get(stats_id).state == S.RELEASING
    time.sleep(1.2)
    out.release(p, stats_id)
    assert p.store.get(stats_id).state == S.RELEASED
    assert sum("Output cleared" in m["Subject"] for m in smtp_sink.messages()) == 1
    assert p.store.email_status(stats_id, "release") == "sent"
