"""`srs check-server`: keep Great Expectations, pandas and pyarrow imported and the GX context
built, and run each `srs check` that connects in a forked child of this warm process.

Why a fork per check: the child starts with everything imported (copy-on-write) and ends
with its memory returned, a crash or a hostile file takes down only that check, and no
state of one check (GX suites, caches) can reach the next. The parent never reads a
request's files and runs no threads, so forking it is safe.

Who may use it: only the user running it (the socket's folder is 0700 and each caller's
uid is checked with SO_PEERCRED). The child runs the very ``srs check`` command-line code
(``include.checks.command.main``) in the caller's working folder, so its report, exit code
and messages are those of an in-process check. See ``check_client`` for how a client finds
the server and why a stale one is never used.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import io
import json
import os
import resource
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from typing import TextIO

from include.checks import check_client as cc

IDLE_TIMEOUT_S = 0.0  # 0: serve until stopped (the supervisor's way); `--idle-timeout` otherwise
MAX_CHILDREN = max(2, (os.cpu_count() or 1) * 2)


# Native thread pools (OpenBLAS, OpenMP) would start threads at numpy's import; the parent
# must hold no thread when it forks, and the checks do no linear algebra worth a pool.
_ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def warm_up() -> None:
    """Import what a check needs and build the GX context, without reading any file (so no
    pyarrow thread pool is started before the fork)."""
    for name in _ONE_THREAD:
        os.environ.setdefault(name, "1")
    import pandas as pd
    import tqdm

    # GX wraps metric runs in tqdm bars (switched off, but still made): tqdm's monitor is a
    # thread, and the parent must hold none when it forks.
    tqdm.tqdm.monitor_interval = 0
    from include.checks import command, engine, report, suites, tabular  # noqa: F401

    frame = pd.DataFrame(
        {"threshold": [3.0]},
        index=pd.MultiIndex.from_arrays([[0], [0], [0]], names=[suites.ROW, suites.COL, "f"]),
    )
    suite = suites.build_suite("srs_warm_up", [suites.SuiteSpec("threshold", ("threshold",))])
    suites.validate(frame, suite, {"threshold": 10})


# Native threads that take part in fork themselves: jemalloc (pyarrow's allocator) quiesces
# its background purging thread in its pthread_atfork handlers and restarts it in the child.
_FORK_AWARE_THREADS = frozenset({"jemalloc_bg_thd"})


def thread_count() -> int:
    """Threads of this process other than fork-aware ones, native threads included (Linux's
    /proc); elsewhere Python's own count."""
    with contextlib.suppress(OSError):
        names = []
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/comm", encoding="utf-8") as fh:
                names.append(fh.read().strip())
        return sum(1 for n in names if n not in _FORK_AWARE_THREADS)
    return threading.active_count()


def serve(
    folder: cc.ServerFolder,
    name: str,
    idle_timeout: float = IDLE_TIMEOUT_S,
    standby: bool = False,
    log: TextIO = sys.stderr,
) -> int:
    """Serve checks on socket ``name`` in ``folder`` until SIGTERM/SIGINT or ``idle_timeout``
    seconds without one. When a server already runs there: exit 0, or with ``standby`` wait
    and take over when it stops (a supervisor's way: never a restart loop)."""
    shown = folder.path / name
    lock = _lock(folder, name, wait=False)
    if lock is None and not standby:
        log.write(f"srs check-server: already running on {shown}\n")
        return 0
    if lock is None:
        log.write(f"srs check-server: a server runs on {shown}; standing by\n")
        log.flush()
        lock = _lock(folder, name, wait=True)
    started = time.perf_counter()
    warm_up()
    threads = thread_count()
    if threads > 1:  # a fork would copy a thread's locks mid-use
        log.write(f"srs check-server: warming up left {threads} threads; not forking\n")
        return 1
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=folder.fd)  # a socket left by a server that died (we hold the lock)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(folder.address(name))
    os.chmod(name, 0o600, dir_fd=folder.fd)
    listener.listen(64)
    log.write(
        f"srs check-server: warm in {time.perf_counter() - started:.1f} s, pid {os.getpid()}, "
        f"listening on {shown}\n"
    )
    log.flush()
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    children: set[int] = set()
    last = time.monotonic()
    try:
        while not stopping:
            _reap(children)
            # A signal does not end the wait early (PEP 475): stopping is seen within 1 s.
            ready, _, _ = select.select([listener], [], [], 1.0)
            if not ready:
                if idle_timeout and not children and time.monotonic() - last > idle_timeout:
                    log.write("srs check-server: idle, stopping\n")
                    break
                continue
            conn, _ = listener.accept()
            last = time.monotonic()
            if cc.peer_uid(conn) != os.getuid() or len(children) >= MAX_CHILDREN:
                conn.close()  # not ours; or full: the client checks in its own process
                continue
            pid = os.fork()
            if pid == 0:  # the child: one check, then gone
                os.close(lock)  # the lock is the server's, not a check's
                listener.close()
                _child(conn, log)
            children.add(pid)
            conn.close()
    finally:
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=folder.fd)
        _reap(children)
        os.close(lock)
    return 0


def _lock(folder: cc.ServerFolder, name: str, wait: bool) -> int | None:
    """An exclusive lock for socket ``name``'s server, held while it runs; None if another
    has it."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name.removesuffix(".sock") + ".lock", flags, 0o600, dir_fd=folder.fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _reap(children: set[int]) -> None:
    while children:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            children.clear()
            return
        if pid == 0:
            return
        children.discard(pid)


def _child(conn: socket.socket, log: TextIO) -> None:
    code = 1
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        started = time.perf_counter()
        request = json.loads(cc.recv_frame(conn))
        _end_when_the_client_goes(conn)
        exit_code, out, err = run_check(request["argv"], request["cwd"])
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        header = {"exit": exit_code, "seconds": time.perf_counter() - started, "peak_kb": peak_kb}
        cc.send_frame(conn, json.dumps(header).encode())
        cc.send_frame(conn, out)
        cc.send_frame(conn, err)
        code = 0
    except BaseException as exc:  # the client then checks in its own process
        with contextlib.suppress(Exception):
            log.write(f"srs check-server: a check failed to run: {type(exc).__name__}: {exc}\n")
    finally:
        with contextlib.suppress(Exception):
            conn.close()
        os._exit(code)


def _end_when_the_client_goes(conn: socket.socket) -> None:
    """The client sends nothing after its request: the connection turning readable means it
    hung up (killed, Ctrl-C), and a check for nobody is stopped."""

    def watch() -> None:
        select.select([conn], [], [])
        with contextlib.suppress(OSError):
            if conn.recv(1, socket.MSG_PEEK):
                return  # unexpected bytes: not a hang-up
        os._exit(1)

    threading.Thread(target=watch, name="client-watch", daemon=True).start()


def run_check(argv: Sequence[str], cwd: str) -> tuple[int, bytes, bytes]:
    """``srs check ARGV`` in ``cwd`` with its output captured: (exit code, stdout, stderr)."""
    from include.checks import command

    os.chdir(cwd)
    out, err = io.BytesIO(), io.BytesIO()
    saved = sys.stdout, sys.stderr
    # backslashreplace, as Python's own stderr: a file name that is not UTF-8 is still shown.
    sys.stdout = io.TextIOWrapper(out, encoding="utf-8", errors="backslashreplace",
                                  write_through=True)  # fmt: skip
    sys.stderr = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace",
                                  write_through=True)  # fmt: skip
    try:
        code = command.main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        captured = out.getvalue(), err.getvalue()  # before the wrappers go (and close them)
        sys.stdout, sys.stderr = saved
    return code, *captured


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="srs check-server", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=IDLE_TIMEOUT_S,
        metavar="SECONDS",
        help="stop after this long without a check (default: 0, never)",
    )
    p.add_argument(
        "--standby",
        action="store_true",
        help="when a server already runs for this code and these settings, wait and take over "
        "when it stops (default: exit 0)",
    )
    p.add_argument("--print-socket", action="store_true", help="print the socket path and exit")


def run(args: argparse.Namespace) -> int:
    try:
        folder = cc.server_folder()
        name = cc.socket_name()
        folder.address(name)  # too long a path is refused here, not at bind
    except cc.ServerFolderUnsafe as exc:
        sys.stderr.write(f"srs check-server: error: {exc}\n")
        return 2
    try:
        if args.print_socket:
            print(folder.path / name)
            return 0
        return serve(folder, name, idle_timeout=args.idle_timeout, standby=args.standby)
    finally:
        folder.close()


if __name__ == "__main__":
    raise SystemExit(main())
