"""The warm check server (`srs check-server`): a check through it prints the same report and
exits with the same code as one in the client's own process; a server for other code or
other settings, an unsafe socket folder or a server that dies mid-check never decides a
check; only the user running the server may use it."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from include.checks import check_client as cc
from include.checks import check_server

ROOT = Path(__file__).resolve().parents[3]
SRS = [sys.executable, "-m", "include.cli"]


@pytest.fixture
def server_env(tmp_path):
    folder = tmp_path / "sock"
    folder.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if k != "SRS_CHECK_SERVER"}
    env.update(SRS_CHECK_SERVER_DIR=str(folder), SRS_CHECK_STATS=str(tmp_path / "stats.jsonl"),
               PYTHONPATH=str(ROOT))  # fmt: skip
    return env


@pytest.fixture
def server(server_env, tmp_path):
    """A running `srs check-server` for this environment; stopped (SIGTERM) afterwards."""
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([*SRS, "check-server"], env=server_env, cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT)  # fmt: skip
    path = _wait_for_socket(proc, server_env, tmp_path / "server.log")
    yield proc
    proc.terminate()
    assert proc.wait(30) == 0
    assert not path.exists(), "the server removes its socket when it stops"


def _wait_for_socket(proc: subprocess.Popen, env: dict, log: Path | None = None) -> Path:
    """The socket of the server ``proc`` started for ``env``, once it listens."""
    path = cc.socket_path(env)
    deadline = time.monotonic() + 90
    while not path.exists():
        assert proc.poll() is None, log.read_text() if log else "the check server exited"
        assert time.monotonic() < deadline, "the check server did not start in 90 s"
        time.sleep(0.2)
    return path


def _files(tmp_path: Path) -> Path:
    folder = tmp_path / "request"
    folder.mkdir()
    (folder / "counts.csv").write_text("region,n\nNorth,3\nSouth,40\nEast,0\n")
    (folder / "people.csv").write_text("name,email\nA,jane.doe@example.com\n")
    (folder / "clean.csv").write_text("region,n\nNorth,30\nSouth,40\n")
    return folder


def _srs(env, *args, cwd):
    return subprocess.run([*SRS, *args], env=env, cwd=cwd, capture_output=True, timeout=120)


def _stats(env) -> list[dict]:
    path = Path(env["SRS_CHECK_STATS"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow
def test_a_check_through_the_server_is_the_check_in_process(server, server_env, tmp_path):
    folder = _files(tmp_path)
    cases = [
        ("check", "request/counts.csv", "--format", "json"),
        ("check", "request/clean.csv"),
        ("check", "request", "--format", "text"),
        ("check", "request/people.csv", "--format", "html"),
        ("check", "no-such-file"),  # a usage error: exit 2, its message on stderr
        ("check", "request", "--request"),  # a folder without a form
        ("check", os.fsdecode(b"nope\xff.csv")),  # a name that is not UTF-8
    ]
    for args in cases:
        warm = _srs(server_env, *args, cwd=folder.parent)
        cold = _srs(server_env, *args, "--no-server", cwd=folder.parent)
        assert (warm.returncode, warm.stdout, warm.stderr) == (
            cold.returncode, cold.stdout, cold.stderr), args  # fmt: skip
    assert [s["exit"] for s in _stats(server_env)] == [1, 0, 1, 1, 2, 1, 2]
    assert all(s["server"] and s["peak_kb"] > 0 for s in _stats(server_env))


@pytest.mark.slow
def test_other_settings_or_changed_code_never_use_the_server(server, server_env, tmp_path):
    folder = _files(tmp_path)
    other = {**server_env, "SRS_THRESHOLD_NOTE": "another setting"}
    assert _srs(other, "check", "request/counts.csv", cwd=folder.parent).returncode == 1
    assert _stats(server_env) == [], "a client with other settings checked in its own process"
    assert cc.fingerprint(other) != cc.fingerprint(server_env)


def test_the_fingerprint_follows_the_code(tmp_path, monkeypatch):
    code = tmp_path / "include"
    code.mkdir()
    module = code / "rules.py"
    module.write_text("THRESHOLD = 10\n")
    monkeypatch.setattr(cc, "_INCLUDE", code)
    before = cc.fingerprint({})
    module.write_text("THRESHOLD = 5\n")
    os.utime(module, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert cc.fingerprint({}) != before
    assert cc.fingerprint({"SRS_CHECK_STATS": "x", "SRS_CHECK_SERVER_DIR": "y"}) == (
        cc.fingerprint({})), "client-only settings do not change what a check finds"  # fmt: skip


@pytest.mark.parametrize("make", ["open", "link", "file"])
def test_an_unsafe_socket_folder_is_refused(tmp_path, make, capsys):
    folder = tmp_path / "sock"
    if make == "open":
        folder.mkdir(mode=0o755)
        os.chmod(folder, 0o755)
    elif make == "link":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        folder.symlink_to(tmp_path / "elsewhere")
    else:
        folder.write_text("")
    env = {"SRS_CHECK_SERVER_DIR": str(folder)}
    with pytest.raises(cc.ServerFolderUnsafe):
        cc.server_folder(env)
    assert cc.run_on_server(["x.csv"], env) is None  # checked in process instead, and said
    assert "not using a check server" in capsys.readouterr().err


def _fake_server(path: Path, answer) -> threading.Thread:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def run():
        conn, _ = listener.accept()
        with contextlib.suppress(ConnectionError):  # a connect that asks nothing
            cc.recv_frame(conn)
            answer(conn)
        conn.close()
        listener.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_server_that_dies_mid_check_leaves_the_check_to_the_client(tmp_path, capsys):
    folder = tmp_path / "sock"
    folder.mkdir(mode=0o700)
    env = {"SRS_CHECK_SERVER_DIR": str(folder)}
    thread = _fake_server(cc.socket_path(env), lambda conn: None)  # closes without a word
    assert cc.run_on_server(["x.csv"], env) is None
    thread.join(5)
    assert "checking in this process instead" in capsys.readouterr().err


def test_no_server_no_socket_and_opting_out(tmp_path):
    folder = tmp_path / "sock"
    folder.mkdir(mode=0o700)
    env = {"SRS_CHECK_SERVER_DIR": str(folder)}
    assert cc.run_on_server(["x.csv"], env) is None  # nothing listening
    thread = _fake_server(cc.socket_path(env), lambda conn: pytest.fail("must not be asked"))
    assert cc.run_on_server(["x.csv"], {**env, "SRS_CHECK_SERVER": "off"}) is None
    assert cc.run_on_server(["x.csv", "--no-server"], env) is None
    assert cc.run_on_server(["--help"], env) is None
    socket.socket(socket.AF_UNIX).connect(str(cc.socket_path(env)))  # release the fake
    thread.join(5)


def test_a_server_of_another_user_decides_nothing(tmp_path, capsys):
    """A socket answered by another uid (planted, or reached through a swapped folder) is
    never asked: its answer could say PASS for a disclosive file."""
    if os.getuid() != 0:
        pytest.skip("running a listener as another user needs root")
    folder = tmp_path / "sock"
    folder.mkdir(mode=0o700)
    env = {"SRS_CHECK_SERVER_DIR": str(folder)}
    path = cc.socket_path(env)
    pid = os.fork()
    if pid == 0:  # bind as root in our folder, then listen and answer as nobody
        try:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(path))
            os.setgid(65534)
            os.setuid(65534)
            listener.listen(1)
            conn, _ = listener.accept()
            with contextlib.suppress(OSError):
                cc.send_frame(conn, json.dumps({"exit": 0}).encode())
                cc.send_frame(conn, b"PASS (forged)\n")
                cc.send_frame(conn, b"")
            time.sleep(1)
        finally:
            os._exit(0)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.1)
            probe = socket.socket(socket.AF_UNIX)
            with contextlib.suppress(OSError):
                probe.connect(str(path))
                probe.close()
                break
        assert cc.run_on_server(["x.csv"], env) is None
        err = capsys.readouterr()
        assert "run by uid 65534, not by you" in err.err and "PASS" not in err.out
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def test_the_server_knows_its_own_users_connections():
    a, b = socket.socketpair(socket.AF_UNIX)
    try:
        assert cc.peer_uid(a) == os.getuid()
    finally:
        a.close()
        b.close()


def test_a_check_whose_client_has_gone_is_stopped():
    """Killed or Ctrl-C'd client: the connection closes, and its check stops at once instead
    of running on for nobody (and holding a slot of the server's)."""
    a, b = socket.socketpair(socket.AF_UNIX)
    pid = os.fork()
    if pid == 0:
        a.close()
        check_server._end_when_the_client_goes(b)
        time.sleep(30)
        os._exit(0)
    b.close()
    time.sleep(0.3)
    started = time.monotonic()
    a.close()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1 and time.monotonic() - started < 5


def test_a_long_folder_path_still_makes_a_socket(tmp_path):
    """AF_UNIX paths stop at 108 bytes: the socket is reached through the open folder."""
    folder = tmp_path / ("f" * 120)
    env = {"SRS_CHECK_SERVER_DIR": str(folder)}
    opened = cc.server_folder(env)
    try:
        address = opened.address(cc.socket_name(env))
        assert len(address) < 108 and len(str(folder)) > 120
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(address)
        listener.listen(1)
        client = socket.socket(socket.AF_UNIX)
        client.connect(opened.address(cc.socket_name(env)))
        client.close()
        listener.close()
    finally:
        opened.close()


def test_warming_up_leaves_no_thread_to_fork_with():
    """Run in a fresh interpreter: the parent forks a child per check, so it must hold no
    thread (tqdm's monitor thread was one)."""
    code = ("from include.checks import check_server\n"
            "check_server.warm_up()\nprint(check_server.thread_count())")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True)  # fmt: skip
    assert out.stdout.strip() == "1", out.stderr


@pytest.mark.slow
def test_a_second_server_exits_and_an_idle_one_stops(server_env, tmp_path):
    first = subprocess.Popen([*SRS, "check-server", "--idle-timeout", "3"], env=server_env,
                             cwd=ROOT, stderr=subprocess.PIPE, text=True)  # fmt: skip
    path = _wait_for_socket(first, server_env)
    second = _srs(server_env, "check-server", cwd=ROOT)
    assert second.returncode == 0 and b"already running" in second.stderr
    assert first.wait(60) == 0, "an idle server stops by itself"
    assert "idle, stopping" in first.stderr.read()
    assert not path.exists()


@pytest.mark.skipif(os.getuid() != 0, reason="giving the folder to another user needs root")
def test_a_socket_folder_of_another_user_is_refused(tmp_path):
    """Anyone may create /tmp/srs-check-<your uid> before you do: it must not be used."""
    folder = tmp_path / "sock"
    folder.mkdir(mode=0o700)
    os.chown(folder, 65534, 65534)
    with pytest.raises(cc.ServerFolderUnsafe, match="belongs to uid 65534"):
        cc.server_folder({"SRS_CHECK_SERVER_DIR": str(folder)})


@pytest.mark.slow
def test_the_server_refuses_a_caller_of_another_uid(server_env, tmp_path):
    """The server's own check: a server that sees every caller as another uid answers none
    of them, and the client checks in its own process (the socket folder already keeps other
    users out; this is the second lock)."""
    code = ("import sys\nfrom include.checks import check_client as cc, check_server\n"
            "cc.peer_uid = lambda sock: 4242\nsys.exit(check_server.main([]))")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", code], env=server_env, cwd=ROOT,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait_for_socket(proc, server_env)
        folder = _files(tmp_path)
        done = _srs(server_env, "check", "request/counts.csv", cwd=folder.parent)
        assert done.returncode == 1 and b"checking in this process instead" in done.stderr
        assert _stats(server_env) == []
    finally:
        proc.terminate()
        proc.wait(30)
