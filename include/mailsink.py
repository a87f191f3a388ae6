"""The embedded default's mail server: a local SMTP sink that keeps every message as an .eml file.

Nothing is relayed. Each message received becomes one file in a folder (``settings.mail_dir``)
that a person can double-click, named by arrival time so a plain ``ls`` lists mail in order. The
SMTP envelope (sender and every recipient, including Bcc ones, which never appear in the headers)
is recorded in ``X-Envelope-From`` / ``X-Envelope-To`` headers prepended to the stored message, so
tests and people can check who was blind-copied.

Use it in-process (``with MailSink(folder=...) as sink: ...``) or as a blocking server
(``serve(host, port, folder)``, behind the ``srs mailsink`` command).
"""

from __future__ import annotations

import email.policy
import itertools
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterable
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, Session

log = logging.getLogger(__name__)

ENVELOPE_FROM_HEADER = "X-Envelope-From"
ENVELOPE_TO_HEADER = "X-Envelope-To"
# Releases may carry up to SRS_MAX_ATTACHMENT_BYTES (20 MB default); base64 grows that by a third.
DATA_SIZE_LIMIT = 100 * 1024 * 1024
_SUFFIX = ".eml"
_sequence = itertools.count()
_sequence_lock = threading.Lock()


def _next_name() -> str:
    # Nanosecond time plus a process-wide counter: sortable, unique even for messages that arrive
    # in the same clock tick, and free of anything the sender controls (no subject in the name).
    with _sequence_lock:
        seq = next(_sequence)
    return f"{time.time_ns():020d}-{os.getpid()}-{seq:06d}{_SUFFIX}"


def store_message(folder: Path, content: bytes, mail_from: str, rcpt_tos: Iterable[str]) -> Path:
    """Write one received message to ``folder`` with its envelope recorded in headers."""
    folder.mkdir(parents=True, exist_ok=True)
    newline = b"\r\n" if b"\r\n" in content else b"\n"
    prefix = (
        f"{ENVELOPE_FROM_HEADER}: {mail_from}".encode()
        + newline
        + f"{ENVELOPE_TO_HEADER}: {', '.join(rcpt_tos)}".encode()
        + newline
    )
    name = _next_name()
    # Write then rename, so a reader polling the folder never sees half a message.
    tmp = folder / f".{name}.part"
    tmp.write_bytes(prefix + content)
    final = folder / name
    tmp.replace(final)
    return final


def message_paths(folder: Path | str) -> list[Path]:
    """Stored message files, oldest first."""
    path = Path(folder)
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.suffix == _SUFFIX and not p.name.startswith("."))


def read_messages(folder: Path | str) -> list[EmailMessage]:
    """Parse every stored message in ``folder``, oldest first."""
    parser = BytesParser(policy=email.policy.default)
    return [parser.parsebytes(p.read_bytes()) for p in message_paths(folder)]  # type: ignore[misc]


def envelope_recipients(message: EmailMessage) -> list[str]:
    """Every address the message was delivered to (To, Cc and Bcc alike), from the envelope."""
    raw = message.get(ENVELOPE_TO_HEADER, "")
    return [addr.strip() for addr in str(raw).split(",") if addr.strip()]


class _Handler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        path = store_message(self.folder, content, envelope.mail_from or "", envelope.rcpt_tos)
        log.info(
            "mail from %s to %s stored as %s", envelope.mail_from, envelope.rcpt_tos, path.name
        )
        return "250 Message accepted for delivery"


def _accept_any_login(*_args: Any, **_kwargs: Any) -> AuthResult:
    # A sink has nothing to protect: accept any AUTH so clients configured with a login
    # (e.g. an Airflow SMTP connection) work against it unchanged.
    return AuthResult(success=True)


class _BoundController(Controller):
    """aiosmtpd Controller serving on a socket we bound ourselves (port 0 works, race-free)."""

    def __init__(self, handler: _Handler, sock: socket.socket, **kwargs: Any) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)
        self._sock = sock

    def _create_server(self):  # type: ignore[no-untyped-def]
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


class MailSink:
    """Local SMTP server keeping each message as an .eml file in ``folder``.

    ``port=0`` picks a free port; read the chosen one from ``sink.port`` after ``start()``.
    """

    def __init__(self, folder: Path | str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.folder = Path(folder)
        self.host = host
        self.port = port
        self._controller: _BoundController | None = None

    def start(self) -> MailSink:
        if self._controller is not None:
            raise RuntimeError("mail sink already running")
        self.folder.mkdir(parents=True, exist_ok=True)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        controller = _BoundController(
            _Handler(self.folder),
            sock,
            # A fixed name: without it aiosmtpd calls getfqdn(), which can stall for seconds.
            server_hostname="srs-mailsink",
            data_size_limit=DATA_SIZE_LIMIT,
            auth_require_tls=False,
            authenticator=_accept_any_login,
        )
        controller.start()
        self._controller = controller
        self.port = sock.getsockname()[1]
        log.info(
            "mail sink listening on %s:%s, keeping mail in %s", self.host, self.port, self.folder
        )
        return self

    def stop(self) -> None:
        if self._controller is None:
            return
        self._controller.stop()
        self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def messages(self) -> list[EmailMessage]:
        """Every message received so far (and any already in the folder), oldest first."""
        return read_messages(self.folder)

    def clear(self) -> None:
        """Delete the stored messages (tests call this between cases)."""
        for path in message_paths(self.folder):
            path.unlink(missing_ok=True)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Wait until at least ``count`` messages are stored; return them all."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages()
            if len(found) >= count or time.monotonic() >= deadline:
                if len(found) < count:
                    raise TimeoutError(
                        f"expected {count} messages in {self.folder}, got {len(found)}"
                    )
                return found
            time.sleep(0.1)

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(host: str, port: int, folder: Path | str) -> None:
    """Run the mail sink until interrupted (Ctrl-C or SIGTERM)."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with MailSink(folder, host=host, port=port) as sink:
            print(
                f"SRS mail sink on {sink.host}:{sink.port}; messages saved in {sink.folder}",
                flush=True,
            )
            try:
                while not stop.wait(1.0):
                    pass
            except KeyboardInterrupt:
                pass
    finally:
        signal.signal(signal.SIGTERM, previous)
