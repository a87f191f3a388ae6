"""The embedded mail sink: what smtplib sends comes back as .eml files with the envelope."""

from __future__ import annotations

import smtplib
import socket
import subprocess
import sys
import time
from email.message import EmailMessage

import pytest

from include.mailsink import (
    ENVELOPE_TO_HEADER,
    MailSink,
    envelope_recipients,
    message_paths,
    read_messages,
)
from include.settings import REPO_ROOT


def _message(subject: str, to: str, cc: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "statistical.support@srs.example"
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg.set_content("Your output request STATS-12345 has been released.")
    return msg


def test_stores_message_with_attachment_and_bcc(tmp_path):
    with MailSink(tmp_path / "mail") as sink:
        assert sink.port > 0
        msg = _message("Released: STATS-12345", "researcher@uni.example", cc="officer@srs.example")
        msg.add_attachment(b"a,b\n1,2\n", maintype="text", subtype="csv", filename="table 1.csv")
        with smtplib.SMTP(sink.host, sink.port, timeout=5) as client:
            # Bcc is only in the envelope: send_message drops a Bcc header, so pass recipients.
            client.send_message(
                msg,
                to_addrs=["researcher@uni.example", "officer@srs.example", "owner@data.example"],
            )
        [received] = sink.wait_for(1)

    assert received["Subject"] == "Released: STATS-12345"
    assert "owner@data.example" not in str(received["To"]) + str(received.get("Cc", ""))
    assert received.get("Bcc") is None
    assert envelope_recipients(received) == [
        "researcher@uni.example",
        "officer@srs.example",
        "owner@data.example",
    ]
    assert received["X-Envelope-From"] == "statistical.support@srs.example"
    [attachment] = list(received.iter_attachments())
    assert attachment.get_filename() == "table 1.csv"
    assert attachment.get_content() == "a,b\n1,2\n"
    assert "released" in received.get_body(("plain",)).get_content()


def test_bcc_header_is_recorded_from_the_envelope(tmp_path):
    # smtplib.send_message adds Bcc addresses to the envelope itself and strips the header.
    with MailSink(tmp_path) as sink:
        msg = _message("Sign-off needed", "officer@srs.example")
        msg["Bcc"] = "owner@data.example"
        with smtplib.SMTP(sink.host, sink.port, timeout=5) as client:
            client.send_message(msg)
        [received] = sink.wait_for(1)
    assert received.get("Bcc") is None
    assert "owner@data.example" in envelope_recipients(received)


def test_files_are_sortable_safe_and_readable_in_arrival_order(tmp_path):
    folder = tmp_path / "mail"
    subjects = ["../../etc/passwd", "Re: a/b\\c: <x>", "third"]
    with MailSink(folder) as sink:
        with smtplib.SMTP(sink.host, sink.port, timeout=5) as client:
            for subject in subjects:
                client.send_message(_message(subject, "r@uni.example"))
        sink.wait_for(3)

    paths = message_paths(folder)
    assert [p.parent for p in paths] == [folder] * 3
    assert all(p.suffix == ".eml" for p in paths)
    assert all("passwd" not in p.name and " " not in p.name for p in paths)
    assert paths == sorted(paths)
    # Read back after the server stopped: the folder alone is the record.
    assert [m["Subject"] for m in read_messages(folder)] == subjects
    assert all(m[ENVELOPE_TO_HEADER] == "r@uni.example" for m in read_messages(folder))


def test_clear_and_login_accepted(tmp_path):
    with MailSink(tmp_path) as sink:
        with smtplib.SMTP(sink.host, sink.port, timeout=5) as client:
            client.login("airflow", "anything")  # an SMTP connection with a login still works
            client.send_message(_message("one", "r@uni.example"))
        sink.wait_for(1)
        sink.clear()
        assert sink.messages() == []
    assert not sink.running


def test_wait_for_times_out(tmp_path):
    with MailSink(tmp_path) as sink, pytest.raises(TimeoutError):
        sink.wait_for(1, timeout=0.3)


def test_busy_port_raises(tmp_path):
    with MailSink(tmp_path) as sink, pytest.raises(OSError):
        MailSink(tmp_path, port=sink.port).start()


def test_serve_runs_until_sigterm(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (
        f"import sys; from include.mailsink import serve; serve('127.0.0.1', {port}, sys.argv[1])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], cwd=REPO_ROOT, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=2) as client:
                    client.send_message(_message("via serve", "r@uni.example"))
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [m["Subject"] for m in read_messages(tmp_path)] == ["via serve"]
