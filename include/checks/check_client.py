"""`srs check` through a warm check server, when one is running (``srs check-server``).

Importing Great Expectations costs a fresh ``srs check`` process 1–3 s before it reads a byte
(issue #14); the check server imports it once, with pandas, pyarrow and the GX context, and
forks a child per check, so each check starts warm and ends with its own memory returned.
This module is the client side and stays light: it imports nothing beyond the standard
library, so a check through the server costs the client one interpreter start.

A server is found by its socket's name, which is a fingerprint of the code (every
``include/`` module's size and modification time), the interpreter and the ``SRS_*`` / ``GX_*``
settings, AWS_*, AIRFLOW_HOME (as the settings read it), HOME and TZ: a server started before
a code change or with other settings is never used, and the check runs in the client's own
process instead. The socket lives in a folder only this
user can open (0700, owned by the user; anything else is refused) and the server checks
each caller's uid (SO_PEERCRED).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import struct
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

OFF_VALUES = ("0", "off", "no", "false")
# Settings of the client side only: they do not change what a check finds.
_NOT_FINGERPRINTED = ("SRS_CHECK_SERVER", "SRS_CHECK_SERVER_DIR", "SRS_CHECK_STATS")
# Settings read outside SRS_* that change what a check reads or prints. (The locale does
# not: Python applies it only when asked, and the checks never ask.)
_ALSO_FINGERPRINTED = ("HOME", "TZ")
_FINGERPRINTED_PREFIXES = ("SRS_", "GX_", "AWS_")
_SUN_PATH_MAX = 107  # AF_UNIX socket paths (108 bytes with the NUL)
_HEADER = struct.Struct("!Q")
_INCLUDE = Path(__file__).resolve().parent.parent  # the include/ package


class ServerFolderUnsafe(RuntimeError):
    """The server's folder is not a private folder of this user."""


@dataclass(frozen=True)
class ServerFolder:
    """The checked socket folder, held open: every later use goes through this descriptor
    (``/proc/self/fd/N/…``), so the folder cannot be swapped for another after the check."""

    path: Path
    fd: int

    def address(self, name: str) -> str:
        via_fd = f"/proc/self/fd/{self.fd}"
        address = f"{via_fd}/{name}" if os.path.isdir(via_fd) else str(self.path / name)
        if len(os.fsencode(address)) > _SUN_PATH_MAX:
            raise ServerFolderUnsafe(f"{self.path / name} is too long for a Unix socket")
        return address

    def close(self) -> None:
        os.close(self.fd)


def server_folder(env: Mapping[str, str] = os.environ) -> ServerFolder:
    """Where the check server's socket lives: $SRS_CHECK_SERVER_DIR, else a folder of the
    user's runtime directory, else /tmp/srs-check-<uid>. Created 0700 and opened; refused
    (raises ServerFolderUnsafe) when it is a link, not the user's, or open to others."""
    configured = env.get("SRS_CHECK_SERVER_DIR")
    if configured:
        folder = Path(configured)
    elif env.get("XDG_RUNTIME_DIR"):
        folder = Path(env["XDG_RUNTIME_DIR"]) / "srs-check"
    else:
        folder = Path("/tmp") / f"srs-check-{os.getuid()}"  # noqa: S108 - checked below
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if isinstance(exc, FileExistsError | NotADirectoryError) or exc.errno == 40:  # ELOOP
            raise ServerFolderUnsafe(f"{folder} is not a folder (a link or a file)") from exc
        raise ServerFolderUnsafe(f"{folder}: {exc.strerror}") from exc
    st = os.fstat(fd)
    problem = None
    if st.st_uid != os.getuid():
        problem = f"{folder} belongs to uid {st.st_uid}, not to you"
    elif st.st_mode & 0o077:
        problem = f"{folder} is open to other users (mode {st.st_mode & 0o777:o})"
    if problem:
        os.close(fd)
        raise ServerFolderUnsafe(problem)
    return ServerFolder(folder, fd)


def fingerprint(env: Mapping[str, str] = os.environ) -> str:
    """Code, interpreter and settings a server must share with its clients."""
    h = hashlib.sha256()
    h.update(f"{sys.executable}\0{sys.version}\0{_INCLUDE}\0".encode())
    # As include.settings reads it: unset is the repository's .airflow (make run sets it so).
    home = env.get("AIRFLOW_HOME") or str(_INCLUDE.parent / ".airflow")
    h.update(f"AIRFLOW_HOME={os.path.abspath(os.path.expanduser(home))}\0".encode())
    for key in sorted(env):
        if (
            key.startswith(_FINGERPRINTED_PREFIXES) or key in _ALSO_FINGERPRINTED
        ) and key not in _NOT_FINGERPRINTED:
            h.update(f"{key}={env[key]}\0".encode())
    # Installing, upgrading or removing a package changes its site-packages folder.
    for folder in sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}):
        with contextlib.suppress(OSError):
            h.update(f"{folder}:{os.stat(folder).st_mtime_ns}\0".encode())
    for path in sorted(_INCLUDE.rglob("*")):
        if path.suffix in (".py", ".json", ".yaml") and "__pycache__" not in path.parts:
            st = path.stat()
            h.update(
                f"{path.relative_to(_INCLUDE)}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:"
                f"{st.st_ino}\0".encode()
            )
    return h.hexdigest()[:20]


def socket_name(env: Mapping[str, str] = os.environ) -> str:
    return f"check-{fingerprint(env)}.sock"


def socket_path(env: Mapping[str, str] = os.environ) -> Path:
    """The socket's path, for messages and tests (connections go through ServerFolder)."""
    folder = server_folder(env)
    folder.close()
    return folder.path / socket_name(env)


# ------------------------------------------------------------------------------ framing


def send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def recv_frame(sock: socket.socket) -> bytes:
    (size,) = _HEADER.unpack(_recv_exactly(sock, _HEADER.size))
    return _recv_exactly(sock, size)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    parts, left = [], size
    while left:
        part = sock.recv(min(left, 1 << 20))
        if not part:
            raise ConnectionError("the check server closed the connection before answering")
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


# ------------------------------------------------------------------------------- client


def run_on_server(argv: Sequence[str], env: Mapping[str, str] = os.environ) -> int | None:
    """Run ``srs check ARGV`` on a warm server and return its exit code, having written its
    output; None when no server can take it (then the caller checks in its own process)."""
    if env.get("SRS_CHECK_SERVER", "").lower() in OFF_VALUES or "--no-server" in argv:
        return None
    if any(a in ("-h", "--help") for a in argv):
        return None
    try:
        folder = server_folder(env)
    except ServerFolderUnsafe as exc:
        sys.stderr.write(f"srs check: not using a check server: {exc}\n")
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            address = folder.address(socket_name(env))
        except ServerFolderUnsafe as exc:
            sys.stderr.write(f"srs check: not using a check server: {exc}\n")
            return None
        sock.settimeout(0.5)
        try:
            sock.connect(address)
        except OSError:
            return None  # no server for this code and these settings
        server_uid = peer_uid(sock)
        if server_uid != os.getuid():  # only a server of our own can decide our checks
            sys.stderr.write(
                f"srs check: not using a check server run by uid {server_uid}, not by you\n"
            )
            return None
        sock.settimeout(None)  # a check of a large folder may take minutes
        try:
            send_frame(sock, json.dumps({"argv": list(argv), "cwd": os.getcwd()}).encode())
            header = json.loads(recv_frame(sock))
            out, err = recv_frame(sock), recv_frame(sock)
        except (OSError, ValueError) as exc:  # ConnectionError is an OSError
            sys.stderr.write(f"srs check: {exc}; checking in this process instead\n")
            return None
    finally:
        sock.close()
        folder.close()
    write_bytes(sys.stdout, out)
    write_bytes(sys.stderr, err)
    _note_stats(env, header)
    return int(header["exit"])


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a Unix socket (SO_PEERCRED)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def write_bytes(stream: TextIO | None, data: bytes) -> None:
    """Write a report's bytes as they are (through the stream's buffer when it has one)."""
    if not data or stream is None:  # nothing to write, or the stream was closed (>&-)
        return
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        buffer.write(data)
        buffer.flush()
    else:
        stream.write(data.decode("utf-8", "replace"))


def _note_stats(env: Mapping[str, str], header: dict) -> None:
    """For the benchmark: where the check ran and its peak memory (the server's child),
    appended as one JSON line to $SRS_CHECK_STATS when set."""
    target = env.get("SRS_CHECK_STATS")
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"server": True, **header}) + "\n")
