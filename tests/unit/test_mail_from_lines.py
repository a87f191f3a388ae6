"""A body line starting with "From" reaches the mail sink's .eml as written (no mbox ">From")."""

from __future__ import annotations

from include.mailsink import message_paths
from include.notifications import Email, Mailer
from include.settings import Settings
from include.tickets import TicketStore

BODY = (
    "Dear Dr Rahman,\n"
    "\n"
    "From SRS officer 1 (Request revisions):\n"
    "  Round the counts to base 10.\n"
    "From SRS officer 2 (Pass):\n"
    "  Fine.\n"
)


def _mailer(tmp_path, sink):
    settings = Settings.from_env(
        {
            "AIRFLOW_HOME": str(tmp_path / "home"),
            "SRS_SMTP_HOST": sink.host,
            "SRS_SMTP_PORT": str(sink.port),
        }
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = TicketStore(settings.database_url)
    ticket = store.create(
        kind="output", project="1234567", requester="r_rahman", folder="f_v1", actor="test"
    )
    copies: dict[str, bytes] = {}
    mailer = Mailer(
        settings, store, keep_copy=lambda _sid, key, data: copies.__setitem__(key, data)
    )
    return mailer, ticket.stats_id, copies


def test_from_line_arrives_unescaped_in_the_sink(tmp_path, smtp_sink):
    mailer, stats_id, copies = _mailer(tmp_path, smtp_sink)
    sent = mailer.send(
        stats_id, "revisions-r1", Email(f"[{stats_id}] Revisions", BODY), to=["r@uni.example"]
    )
    assert sent
    [path] = message_paths(smtp_sink.folder)
    raw = path.read_bytes()
    assert b">From" not in raw
    assert b"\nFrom SRS officer 1 (Request revisions):" in raw
    assert b"\nFrom SRS officer 2 (Pass):" in raw
    [received] = smtp_sink.messages()
    assert received.get_content().replace("\r\n", "\n") == BODY
    # The archived copy is unescaped too.
    assert b">From" not in copies["revisions-r1"]
    assert b"\nFrom SRS officer 1" in copies["revisions-r1"]


def test_from_line_unescaped_in_a_non_ascii_body(tmp_path, smtp_sink):
    mailer, stats_id, _ = _mailer(tmp_path, smtp_sink)
    body = "From Siân Jones (officer):\n  Café counts need rounding.\nFrom here on, fine.\n"
    mailer.send(stats_id, "k", Email(f"[{stats_id}] Revisions", body), to=["r@uni.example"])
    [received] = smtp_sink.wait_for(1)
    assert received.get_content().replace("\r\n", "\n") == body
    assert ">From" not in received.get_content()
