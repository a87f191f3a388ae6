"""Fault injection: the mail server is down, or the task dies, while a release is being sent.

Invariants: nothing lost (the cleared email goes out once the fault is gone), nothing
duplicated (exactly one release email however many tries), nothing released unsigned or
unsent (the ticket is never ``released`` without the release email marked sent). Asserted
from the ticket store (state, sent_emails, audit), the mail sink and the archive storage.
"""

from __future__ import annotations

import socket
import time
from datetime import timedelta

import pytest

from include import request_steps as out
from include.demo import DEMO_FOLDER, DEMO_PROJECT, write_demo_request
from include.mailsink import MailSink
from include.notifications import EmailInFlight, Mailer, wire_format
from include.pipeline import Pipeline
from include.settings import reset_settings
from include.states import TicketState as S


class Killed(BaseException):  # noqa: N818 - stands for SIGKILL: not an Exception, nothing catches it
    """The task process dying at this exact point (no except-clause runs)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def own_sink(tmp_path, demo_pipeline, monkeypatch):
    """A mail sink of this test's own, on a fixed port, that the test stops and starts."""
    port = _free_port()
    sink = MailSink(tmp_path / "own-mail", host="127.0.0.1", port=port).start()
    monkeypatch.setenv("SRS_SMTP_PORT", str(port))
    reset_settings()
    yield sink
    sink.stop()


def _signed_off(own_sink) -> tuple[Pipeline, str]:
    p = Pipeline()
    write_demo_request(p.storage)
    result = out.intake(
        p, started_by="ops", project=DEMO_PROJECT, folder=DEMO_FOLDER, requester="r_rahman",
        run_id="manual__faults",
    )
    stats_id = result.stats_id
    t = p.store.get(stats_id)
    out.take_snapshot(p, stats_id)
    assert out.run_checks(p, stats_id)["verdict"] == "pass"
    responses = [
        out.Response("officer_1", t.assigned_officers[0], "Pass"),
        out.Response("officer_2", t.assigned_officers[1], "Pass"),
    ]
    assert out.officers_decision(p, stats_id, responses) == "release"
    own_sink.wait_for(1)  # the acknowledgement
    return p, stats_id


def _release_mails(sink: MailSink, stats_id: str) -> list:
    return [m for m in sink.messages() if m["Subject"].startswith(f"[{stats_id}] Output cleared")]


def _assert_never_released_unsent(p: Pipeline, stats_id: str) -> None:
    """No audit event moved the ticket to released before the release email was marked sent."""
    sent_at = None
    for i, e in enumerate(p.store.audit(stats_id)):
        if e.action == "email_sent" and e.details.get("key") == "release":
            sent_at = i
        if e.to_state == S.RELEASED:
            assert sent_at is not None and sent_at < i, "released before the email was sent"


def test_smtp_down_release_fails_retries_and_sends_exactly_once(own_sink):
    """Invariant: nothing released unsent, nothing lost, nothing duplicated.

    Fault: the SMTP server is stopped (connection refused) while ``release`` runs, twice.
    Each try fails loudly, the ticket stays ``releasing`` and the claim is given back; when the
    server is back the next try sends exactly one release email and only then is it
    ``released``; a further retry sends nothing more.
    """
    p, stats_id = _signed_off(own_sink)
    own_sink.stop()
    for _try in range(2):
        with pytest.raises(OSError):
            out.release(p, stats_id)
        t = p.store.get(stats_id)
        assert t.state == S.RELEASING
        assert p.store.email_status(stats_id, "release") is None  # claim given back
    own_sink.start()
    assert _release_mails(own_sink, stats_id) == []

    out.release(p, stats_id)
    out.release(p, stats_id)  # a rerun after success
    assert p.store.get(stats_id).state == S.RELEASED
    assert p.store.email_status(stats_id, "release") == "sent"
    assert len(_release_mails(own_sink, stats_id)) == 1
    assert [e.details["key"] for e in p.store.audit(stats_id) if e.action == "email_sent"].count(
        "release"
    ) == 1
    _assert_never_released_unsent(p, stats_id)
    archived = p.storage.read_bytes(p.archive_place(p.store.get(stats_id)), "emails/release.eml")
    assert b"Output cleared" in archived


def test_smtp_hangs_release_times_out_then_sends_once(own_sink, monkeypatch):
    """Invariant: nothing released unsent, nothing duplicated.

    Fault: a server that accepts the connection and never answers (a TCP blackhole in front
    of the mail port); the client's timeout fires, the try fails and the ticket stays
    ``releasing``. With the real server back, one email, then ``released``.
    """
    from tests.fixtures.faultproxy import FaultProxy

    p, stats_id = _signed_off(own_sink)
    proxy = FaultProxy("127.0.0.1", own_sink.port)
    proxy.mode = "blackhole"
    monkeypatch.setenv("SRS_SMTP_PORT", str(proxy.port))
    reset_settings()
    p = Pipeline()
    real = Mailer._deliver

    def short_timeout(self, msg, recipients):  # 30 s in production; 2 s here
        import smtplib

        host, port, *_ = self.settings.smtp_endpoint()
        sender, data, options = wire_format(msg, recipients)
        with smtplib.SMTP(host, port, timeout=2) as smtp:
            smtp.sendmail(sender, list(recipients), data, mail_options=options)

    monkeypatch.setattr(Mailer, "_deliver", short_timeout)
    try:
        with pytest.raises((TimeoutError, OSError)):
            out.release(p, stats_id)
        assert p.store.get(stats_id).state == S.RELEASING
        assert p.store.email_status(stats_id, "release") is None
        proxy.mode = "pass"
        proxy.cut()
        out.release(p, stats_id)
    finally:
        monkeypatch.setattr(Mailer, "_deliver", real)
        proxy.close()
    assert p.store.get(stats_id).state == S.RELEASED
    assert len(_release_mails(own_sink, stats_id)) == 1
    _assert_never_released_unsent(p, stats_id)


def test_task_killed_between_claim_and_send_is_neither_lost_nor_released(own_sink, monkeypatch):
    """Invariant: nothing lost, nothing duplicated, never ``released`` without the email.

    Fault: the task dies (a BaseException no handler catches, as SIGKILL) after the email was
    claimed in the ticket store and before the SMTP server was contacted. The claim stays
    behind. A retry within the claim's lease refuses to go on (EmailInFlight: the ticket stays
    ``releasing``, nothing sent); one after the lease takes the claim over (audited) and sends
    exactly one email, and only then is the ticket ``released``.

    Before the fix the retry found the claim, took it for "already sent", returned False and
    moved the ticket to ``released`` with no email ever sent (lost, and released unsent).
    """
    p, stats_id = _signed_off(own_sink)
    monkeypatch.setattr(Mailer, "claim_lease", timedelta(seconds=1))
    real = Mailer._deliver
    calls = {"n": 0}

    def dies_first_time(self, msg, recipients):
        calls["n"] += 1
        if calls["n"] == 1:
            raise Killed()
        return real(self, msg, recipients)

    monkeypatch.setattr(Mailer, "_deliver", dies_first_time)
    with pytest.raises(Killed):
        out.release(p, stats_id)
    assert p.store.email_status(stats_id, "release") == "claimed"

    with pytest.raises(EmailInFlight):  # the retry comes too soon: the attempt may be alive
        out.release(p, stats_id)
    assert p.store.get(stats_id).state == S.RELEASING
    assert _release_mails(own_sink, stats_id) == []

    time.sleep(1.2)
    out.release(p, stats_id)
    assert p.store.get(stats_id).state == S.RELEASED
    assert len(_release_mails(own_sink, stats_id)) == 1
    assert any(e.action == "email_claim_taken_over" for e in p.store.audit(stats_id))
    _assert_never_released_unsent(p, stats_id)


def test_archive_copy_failure_does_not_lose_the_email(own_sink, monkeypatch):
    """Invariant: nothing lost, nothing duplicated; every sent email has its archive copy.

    Fault: the storage write of the archive copy fails (e.g. S3 down) while releasing.
    The copy is kept before the message is handed to SMTP, so nothing was sent, the claim is
    given back, and the retry sends one email with its copy. (Before, the copy was written
    after sending: a failure there left a sent email claimed but never marked sent, and
    without a copy in the archive.)
    """
    p, stats_id = _signed_off(own_sink)
    real = Pipeline._archive_email
    calls = {"n": 0}

    def storage_down_once(self, sid, key, message):
        calls["n"] += 1
        if key == "release" and calls["n"] == 1:
            raise OSError("storage unavailable")
        return real(self, sid, key, message)

    monkeypatch.setattr(Pipeline, "_archive_email", storage_down_once)
    p = Pipeline()
    with pytest.raises(OSError, match="storage unavailable"):
        out.release(p, stats_id)
    assert _release_mails(own_sink, stats_id) == []
    assert p.store.email_status(stats_id, "release") is None
    out.release(p, stats_id)
    assert len(_release_mails(own_sink, stats_id)) == 1
    assert p.store.get(stats_id).state == S.RELEASED
    assert p.storage.exists(p.archive_place(p.store.get(stats_id)), "emails/release.eml")
