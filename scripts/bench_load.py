"""Burst load on the embedded default: many requests at once while officers answer.

Against a running embedded system (``--home`` = its AIRFLOW_HOME, ``--url`` = its API), or one it
starts itself with ``scripts/run_embedded.sh`` in a temporary AIRFLOW_HOME on free ports
(``--start``, the default when no ``--home`` is given), it:

1. submits ``--requests`` output requests (default 50) within ``--window`` seconds (default 30):
   half the way ``srs submit`` does (``request_steps.register`` + ``AirflowAPI.trigger``,
   from a few threads), half as folders in *Ready for Checking* that the ``intake_sweep`` DAG
   (triggered by hand, as its five-minute schedule would) finds and starts;
2. meanwhile, as the assigned officers, answers ``officer_1`` of the first ``--answers``
   requests whose sign-off is waiting, through Airflow's REST API (PATCH .../hitlDetails);
3. waits until every request's ticket is ``awaiting_officers`` with its sign-offs waiting (or
   answered), and reports: HTTP 5xx answers seen by any client here, components alive at the
   end, tickets created vs expected (none lost, none duplicated), the time until all reached
   their officers, and throughput (requests checked per minute).

``--json FILE`` also writes the figures as JSON (the e2e test reads them). Exit status 0 only
when every figure is as required (no 5xx, every component alive, one ticket per request, all at
their officers, every answer accepted).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
PROJECT = "1234567"
RESEARCHER = "r_rahman"
DAG = "output_request"
OFFICER_TASKS = ("officer_1", "officer_2")
COMPONENTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")

# -- every HTTP answer any client in this process gets (AirflowAPI uses module-level httpx) -----

_statuses: Counter[int] = Counter()
_errors: list[str] = []
_lock = threading.Lock()
_original_send = httpx.Client.send


def _counting_send(self, request, *args, **kwargs):
    response = _original_send(self, request, *args, **kwargs)
    with _lock:
        _statuses[response.status_code] += 1
        if response.status_code >= 500:
            _errors.append(
                f"{request.method} {request.url.path}: {response.status_code} {response.text[:200]}"
            )
    return response


httpx.Client.send = _counting_send  # type: ignore[method-assign]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- an embedded system of our own ----------------------------------------------------------------


class EmbeddedSystem:
    """``scripts/run_embedded.sh`` (what ``make run`` runs) in a temporary AIRFLOW_HOME."""

    def __init__(
        self,
        home: Path,
        script: Path = REPO / "scripts" / "run_embedded.sh",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.home = home
        self.script = script
        self.extra_env = dict(extra_env or {})
        self.port = free_port()
        self.smtp_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = home / "run_embedded.out"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW__", "AIRFLOW_HOME", "SRS_", "_AIRFLOW"))
        }
        env.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__BASE_URL=self.url,
            SRS_SMTP_PORT=str(self.smtp_port),
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 300) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                ["bash", str(self.script)],
                env=self.env(),
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.script.name} exited with {self.proc.returncode}:\n{self.tail()}"
                )
            try:
                health = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
                last = {k: (health.get(k) or {}).get("status") for k in COMPONENTS}
                if all(s == "healthy" for s in last.values()):
                    return
            except (httpx.HTTPError, ValueError) as exc:
                last = repr(exc)
            time.sleep(1)
        raise TimeoutError(
            f"{self.script.name}: not healthy in {timeout}s (last: {last})\n{self.tail()}"
        )

    def tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 30) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(grace)
        # Anything of the group still there (standalone's children, task processes).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


class DistributedSystem(EmbeddedSystem):
    """``scripts/run_distributed.sh`` (what ``make run-distributed`` runs) in a temporary
    AIRFLOW_HOME: its own PostgreSQL databases (Airflow's, the ticket store's; dropped by
    :meth:`stop`), its own Celery queue on the Redis broker, and free ports for the API, the
    S3 server and the mail sink, so it never collides with another run on this machine."""

    def __init__(
        self,
        home: Path,
        script: Path = REPO / "scripts" / "run_distributed.sh",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(home, script, extra_env)
        tag = uuid.uuid4().hex[:8]
        self.s3_port = free_port()
        self.databases = (f"srs_bench_airflow_{tag}", f"srs_bench_tickets_{tag}")
        self.queue = f"srs-bench-{tag}"
        self.postgres = os.environ.get("SRS_DIST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
        self.log = home / "run_distributed.out"

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(
            SRS_DIST_HOME=str(self.home),
            SRS_DIST_SKIP_BOOTSTRAP="1",
            SRS_DIST_S3_PORT=str(self.s3_port),
            SRS_DIST_AIRFLOW_DB=self.databases[0],
            SRS_DIST_TICKETS_DB=self.databases[1],
            SRS_DIST_POSTGRES=self.postgres,
            AIRFLOW__OPERATORS__DEFAULT_QUEUE=self.queue,
        )
        env.update(self.extra_env)
        return env

    def client_env(self) -> dict[str, str]:
        """The settings the system's processes run with (scripts/distributed_env.sh on
        :meth:`env`), for a client in this process: the same store, storage and API."""
        out = subprocess.run(
            ["bash", "-c", "source scripts/distributed_env.sh >/dev/null && env -0"],
            env=self.env(),
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout.decode()
        return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)

    def component_pid(self, name: str) -> int | None:
        """The pid of a supervised process (``$AIRFLOW_HOME/supervisor.json``)."""
        with contextlib.suppress(OSError, ValueError, KeyError):
            state = json.loads((self.home / "supervisor.json").read_text())
            return state["components"][name]["pid"]
        return None

    def stop(self, grace: float = 30) -> None:
        super().stop(grace)
        import psycopg2

        with contextlib.suppress(psycopg2.Error):
            conn = psycopg2.connect(f"{self.postgres}/postgres", connect_timeout=3)
            conn.autocommit = True
            with conn.cursor() as cur:
                for name in self.databases:
                    cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.close()


SYSTEMS = {"embedded": EmbeddedSystem, "distributed": DistributedSystem}


# -- the burst ------------------------------------------------------------------------------------


class Api:
    """Tokens per user, from the installation's demo passwords file."""

    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        self.passwords = json.loads(
            (home / "simple_auth_manager_passwords.json.generated").read_text()
        )
        self.tokens: dict[str, str] = {}
        self.client = httpx.Client(base_url=url, timeout=60)

    def token(self, user: str) -> str:
        if user not in self.tokens:
            r = self.client.post(
                "/auth/token", json={"username": user, "password": self.passwords[user]}
            )
            r.raise_for_status()
            self.tokens[user] = r.json()["access_token"]
        return self.tokens[user]

    def call(self, method: str, path: str, user: str = "ops", **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(user)}"}
        return self.client.request(method, f"/api/v2{path}", headers=headers, **kwargs)

    def health(self) -> dict[str, str | None]:
        try:
            h = self.client.get("/api/v2/monitor/health").json()
        except (httpx.HTTPError, ValueError) as exc:
            return {k: f"unreachable ({exc.__class__.__name__})" for k in COMPONENTS}
        return {k: (h.get(k) or {}).get("status") for k in COMPONENTS}


def _configure(
    home: Path, url: str, smtp_port: int | None, env: dict[str, str] | None = None
) -> None:
    """This process reads the same installation as the system under load (``env``: the
    distributed profile's settings, as its processes have them)."""
    if env:
        for key in [k for k in os.environ if k.startswith(("AIRFLOW__", "SRS_", "AWS_"))]:
            del os.environ[key]
        os.environ.update(
            {k: v for k, v in env.items() if k.startswith(("AIRFLOW", "SRS_", "AWS_"))}
        )
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__API__BASE_URL"] = url
    if smtp_port:
        os.environ["SRS_SMTP_PORT"] = str(smtp_port)
    sys.path.insert(0, str(REPO))
    from include.settings import reset_settings

    reset_settings()


def run_burst(
    url: str,
    home: Path,
    requests: int = 50,
    window: float = 30,
    answers: int = 10,
    timeout: float = 1200,
    alive_check=None,
    stall: float = 120,
) -> dict[str, Any]:
    from include.cli import main as srs_command
    from include.demo import write_demo_request
    from include.pipeline import Pipeline

    api = Api(url, home)
    p = Pipeline()
    tag = time.strftime("%H%M%S")
    via_submit = [f"2026_12_01_Burst{tag}S{i:02d}_v1" for i in range(requests // 2)]
    via_sweep = [f"2026_12_01_Burst{tag}W{i:02d}_v1" for i in range(requests - len(via_submit))]
    expected = set(via_submit) | set(via_sweep)
    submit_failures: list[str] = []
    sweep_runs: list[str] = []
    answered: dict[str, dict[str, Any]] = {}
    stop = threading.Event()

    def submit(folder: str) -> None:
        # `srs submit output` itself (include/cli.py, in this process), one command a folder.
        write_demo_request(p.storage, PROJECT, folder, RESEARCHER)
        args = ["submit", "output", "--project", PROJECT, "--folder", folder]
        try:
            code = srs_command([*args, "--researcher", RESEARCHER])
        except Exception as exc:
            code = f"{exc.__class__.__name__}: {exc}"
        if code != 0:  # the command said why on stderr
            submit_failures.append(f"{folder}: srs submit -> {code}")

    def lay_and_sweep() -> None:
        # Researchers drop folders over the window; the sweep runs (as its schedule would) twice.
        gap = (window * 0.6) / max(len(via_sweep), 1)
        for i, folder in enumerate(via_sweep):
            write_demo_request(p.storage, PROJECT, folder, RESEARCHER)
            if i == len(via_sweep) // 2:
                sweep_runs.append(trigger_sweep())
            time.sleep(gap)
        sweep_runs.append(trigger_sweep())

    def trigger_sweep() -> str:
        run_id = f"bench_{tag}_{len(sweep_runs)}_{time.monotonic_ns()}"
        r = api.call(
            "POST",
            "/dags/intake_sweep/dagRuns",
            json={"dag_run_id": run_id, "logical_date": None, "conf": {}},
        )
        if r.status_code >= 400:
            submit_failures.append(f"intake_sweep trigger: {r.status_code} {r.text[:200]}")
        return run_id

    def officers() -> None:
        # Officers answer officer_1 of the first `answers` requests whose sign-off has waited a
        # few seconds (a person never answers within a second of the task parking).
        seen: dict[tuple[str, str], float] = {}
        while not stop.is_set() and len(answered) < answers:
            r = api.call(
                "GET",
                f"/dags/{DAG}/dagRuns/~/hitlDetails",
                params={"response_received": "false", "limit": 200},
            )
            if r.status_code == 200:
                now = time.monotonic()
                for d in r.json()["hitl_details"]:
                    ti = d["task_instance"]
                    key = (ti["dag_run_id"], ti["task_id"])
                    if ti["task_id"] != "officer_1" or not ti["dag_run_id"].startswith("STATS"):
                        continue
                    seen.setdefault(key, now)
                    if key[0] in answered or now - seen[key] < 5 or len(answered) >= answers:
                        continue
                    users = [u["id"] for u in d.get("assigned_users") or []]
                    if not users:
                        continue
                    resp = api.call(
                        "PATCH",
                        f"/dags/{DAG}/dagRuns/{key[0]}/taskInstances/officer_1/-1/hitlDetails",
                        user=users[0],
                        json={"chosen_options": ["Pass"], "params_input": {}},
                    )
                    answered[key[0]] = {
                        "user": users[0],
                        "status": resp.status_code,
                        "body": resp.text[:200] if resp.status_code != 200 else "",
                    }
            stop.wait(2)

    # Baseline from the same run: one request alone on the idle system, submit to both
    # sign-offs waiting; 60 / that is what the system would check one request at a time.
    alone = f"2026_12_01_Burst{tag}A00_v1"
    b0 = time.monotonic()
    submit(alone)
    baseline_s: float | None = None
    while time.monotonic() - b0 < 600 and not submit_failures:
        t = next((t for t in p.store.find(project=PROJECT) if t.folder == alone), None)
        at_officers = t is not None and t.state.value == "awaiting_officers"
        if at_officers and set(OFFICER_TASKS) <= signoffs(api, [t.run_id])[t.run_id]:
            baseline_s = time.monotonic() - b0
            break
        time.sleep(1)

    t0 = time.monotonic()
    officer_thread = threading.Thread(target=officers, daemon=True)
    officer_thread.start()
    sweeper = threading.Thread(target=lay_and_sweep, daemon=True)
    sweeper.start()
    with ThreadPoolExecutor(max_workers=4) as pool:
        gap = (window * 0.8) / max(len(via_submit), 1)
        futures = []
        for folder in via_submit:
            futures.append(pool.submit(submit, folder))
            time.sleep(gap)
        for f in futures:
            try:
                f.result()
            except Exception as exc:
                submit_failures.append(f"{exc.__class__.__name__}: {exc}")
    sweeper.join()
    submitted_in = time.monotonic() - t0

    # -- wait for every request to reach its officers ----------------------------------------
    def mine() -> list[Any]:
        return [t for t in p.store.find(project=PROJECT) if t.folder in expected]

    deadline = t0 + timeout
    reached_at: float | None = None
    unhealthy_since: float | None = None
    stalled = False
    waiting_signoffs: dict[str, set[str]] = {}
    while time.monotonic() < deadline:
        tickets = mine()
        at_officers = [t for t in tickets if t.state.value == "awaiting_officers"]
        if len(at_officers) >= len(expected) and len({t.folder for t in at_officers}) == len(
            expected
        ):
            waiting_signoffs = signoffs(api, [t.run_id for t in at_officers])
            if all(set(OFFICER_TASKS) <= v for v in waiting_signoffs.values()):
                reached_at = time.monotonic() - t0
                break
        if alive_check is not None and not alive_check():
            break
        # A component that stays down stops everything moving: report now, not at the timeout.
        if all(s == "healthy" for s in api.health().values()):
            unhealthy_since = None
        else:
            unhealthy_since = unhealthy_since or time.monotonic()
            if time.monotonic() - unhealthy_since > stall:
                stalled = True
                break
        time.sleep(3)
    # Let the officers' answers land, then read the end state.
    deadline_answers = time.monotonic() + 60
    while len(answered) < min(answers, len(expected)) and time.monotonic() < deadline_answers:
        time.sleep(2)
    stop.set()
    officer_thread.join(30)
    tickets = mine()
    by_folder = Counter(t.folder for t in tickets)
    states = Counter(t.state.value for t in tickets)
    signoff_states = signoffs(api, [t.run_id for t in tickets])
    answered_ok = [r for r, a in answered.items() if a["status"] == 200]
    # An accepted answer resumes its task when the scheduler next picks it up: give it time.
    settle = time.monotonic() + 180
    while True:
        answered_tasks = {r: task_state(api, r, "officer_1") for r in answered_ok}
        if "awaiting_input" not in answered_tasks.values() or time.monotonic() > settle:
            break
        time.sleep(3)
    time.sleep(1)
    health = api.health()
    sweep_states = {r: run_state(api, "intake_sweep", r) for r in sweep_runs}
    checked = sum(1 for t in tickets if t.state.value == "awaiting_officers")
    elapsed = reached_at if reached_at is not None else time.monotonic() - t0
    five = sum(n for code, n in _statuses.items() if code >= 500)
    figures = {
        "requests": len(expected),
        "submitted_in_s": round(submitted_in, 1),
        "http_requests": sum(_statuses.values()),
        "http_5xx": five,
        "http_5xx_examples": _errors[:10],
        "submit_failures": submit_failures,
        "components": health,
        "components_alive": all(s == "healthy" for s in health.values()),
        "tickets_expected": len(expected),
        "tickets_created": len(tickets),
        "tickets_lost": sorted(expected - set(by_folder)),
        "tickets_duplicated": sorted(f for f, n in by_folder.items() if n > 1),
        "ticket_states": dict(states),
        "all_at_officers": reached_at is not None,
        "stalled": stalled,
        "signoffs_not_waiting": sorted(
            r for r, v in signoff_states.items() if not set(OFFICER_TASKS) <= v
        ),
        "time_to_all_at_officers_s": round(reached_at, 1) if reached_at is not None else None,
        "throughput_per_min": round(checked / elapsed * 60, 1) if elapsed else 0.0,
        # The machine is shared: its load (1-minute average) when the burst ended.
        "load_average_end": round(os.getloadavg()[0], 1),
        "baseline_one_request_s": round(baseline_s, 1) if baseline_s is not None else None,
        "baseline_per_min": round(60 / baseline_s, 1) if baseline_s else None,
        "answers_sent": len(answered),
        "answers_accepted": len(answered_ok),
        "answers_refused": {r: a for r, a in answered.items() if a["status"] != 200},
        "answered_task_states": dict(Counter(answered_tasks.values())),
        "sweep_runs": sweep_states,
    }
    api.client.close()
    return figures


def signoffs(api: Api, run_ids: list[str]) -> dict[str, set[str]]:
    """Per run: the officer tasks that wait for a person or were answered."""
    out: dict[str, set[str]] = {}
    for run_id in run_ids:
        r = api.call("GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances")
        tis = r.json().get("task_instances", []) if r.status_code == 200 else []
        out[run_id] = {
            ti["task_id"]
            for ti in tis
            if ti["task_id"] in OFFICER_TASKS and ti["state"] in ("awaiting_input", "success")
        }
    return out


def task_state(api: Api, run_id: str, task_id: str) -> str | None:
    r = api.call("GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/{task_id}")
    return r.json().get("state") if r.status_code == 200 else f"http {r.status_code}"


def run_state(api: Api, dag_id: str, run_id: str) -> str | None:
    r = api.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
    return r.json().get("state") if r.status_code == 200 else f"http {r.status_code}"


def passed(f: dict[str, Any]) -> bool:
    return (
        f["http_5xx"] == 0
        and not f["submit_failures"]
        and f["components_alive"]
        and f["tickets_created"] == f["tickets_expected"]
        and not f["tickets_lost"]
        and not f["tickets_duplicated"]
        and f["all_at_officers"]
        and f["answers_accepted"] == f["answers_sent"]
        and set(f["answered_task_states"]) <= {"success"}
        and f["baseline_one_request_s"] is not None
    )


def report(f: dict[str, Any]) -> str:
    lines = [
        f"requests submitted          {f['requests']} in {f['submitted_in_s']} s "
        f"(half srs submit, half intake sweep)",
        f"HTTP 5xx answers            {f['http_5xx']} of {f['http_requests']} requests",
        f"components alive at the end {'yes' if f['components_alive'] else 'NO'} {f['components']}",
        f"tickets created / expected  {f['tickets_created']} / {f['tickets_expected']} "
        f"(lost {len(f['tickets_lost'])}, duplicated {len(f['tickets_duplicated'])})",
        f"ticket states               {f['ticket_states']}",
        f"all at their officers       {'yes' if f['all_at_officers'] else 'NO'}; "
        f"time to all: {f['time_to_all_at_officers_s']} s"
        + (" (gave up: a component stayed unhealthy)" if f["stalled"] else ""),
        f"throughput                  {f['throughput_per_min']} requests checked per minute "
        f"(baseline, same run: one request alone took {f['baseline_one_request_s']} s to its "
        f"officers = {f['baseline_per_min']} / min one at a time)",
        f"officer answers             {f['answers_accepted']} accepted of {f['answers_sent']} "
        f"sent; answered tasks {f['answered_task_states']}",
        f"intake sweep runs           {f['sweep_runs']}",
        f"machine load at the end     {f['load_average_end']} (1-min average, {os.cpu_count()} CPUs)",
    ]
    if f["submit_failures"]:
        lines.append(
            f"submit failures             {len(f['submit_failures'])}: {f['submit_failures'][:3]}"
        )
    if f["http_5xx_examples"]:
        lines.append(f"5xx examples                {f['http_5xx_examples'][:3]}")
    if f["signoffs_not_waiting"]:
        lines.append(f"sign-offs not waiting       {f['signoffs_not_waiting'][:10]}")
    lines.append("RESULT                      " + ("PASS" if passed(f) else "FAIL"))
    return "\n".join(lines)


def both_profiles(argv: list[str], json_out: Path | None) -> int:
    """Each profile in a process of its own (its settings, engines and HTTP counters apart),
    one after the other; prints both reports and writes ``{profile: figures}``."""
    figures: dict[str, Any] = {}
    codes = []
    for profile in SYSTEMS:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
            out = Path(tmp.name)
        print(f"== {profile} profile", flush=True)
        code = subprocess.run(
            [sys.executable, __file__, *argv, "--profile", profile, "--json", str(out)],
            check=False,
        ).returncode
        codes.append(code)
        with contextlib.suppress(OSError, ValueError):
            figures[profile] = json.loads(out.read_text())
        out.unlink(missing_ok=True)
    print("\n== both profiles (each with its baseline from its own run)")
    for profile, f in figures.items():
        print(
            f"{profile:<12} {f['throughput_per_min']} / min checked in the burst of "
            f"{f['requests']}; one request alone {f['baseline_one_request_s']} s "
            f"({f['baseline_per_min']} / min); {'PASS' if passed(f) else 'FAIL'}"
        )
    if json_out:
        json_out.write_text(json.dumps(figures, indent=2, default=str))
    return 0 if codes and not any(codes) and len(figures) == len(SYSTEMS) else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--profile",
        choices=[*SYSTEMS, "both"],
        default="embedded",
        help="what to start: the embedded default (make run), the distributed "
        "profile (make run-distributed), or both one after the other",
    )
    parser.add_argument(
        "--home",
        type=Path,
        help="AIRFLOW_HOME of a running system (for the "
        "distributed profile, source scripts/distributed_env.sh first)",
    )
    parser.add_argument(
        "--url",
        default=None,
        help="its API (default: AIRFLOW__API__BASE_URL or http://localhost:8080)",
    )
    parser.add_argument("--smtp-port", type=int, default=None)
    parser.add_argument(
        "--start",
        action="store_true",
        help="start the profile's run script in a temporary AIRFLOW_HOME (default without --home)",
    )
    parser.add_argument(
        "--script",
        type=Path,
        default=None,
        help="the run script to start (to measure another version of it)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary AIRFLOW_HOME")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--window", type=float, default=30)
    parser.add_argument("--answers", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.profile == "both":
        if args.home is not None:
            parser.error("--profile both starts both systems: no --home")
        rest = [a for a in argv if a not in ("--profile", "both")]
        if "--json" in rest:
            j = rest.index("--json")
            del rest[j : j + 2]
        return both_profiles(rest, args.json)

    system: EmbeddedSystem | None = None
    tmp: Path | None = None
    client_env: dict[str, str] | None = None
    if args.home is None or args.start:
        tmp = Path(tempfile.mkdtemp(prefix="srs-bench-load-"))
        kind = SYSTEMS[args.profile]
        system = kind(tmp / "airflow", **({"script": args.script} if args.script else {}))
        print(f"starting {system.script.name} in {system.home} on {system.url} ...", flush=True)
        started = time.monotonic()
        try:
            system.start()
        except BaseException:
            system.stop()
            raise
        print(f"healthy in {time.monotonic() - started:.0f} s", flush=True)
        home, url, smtp = system.home, system.url, system.smtp_port
        if isinstance(system, DistributedSystem):
            client_env = system.client_env()
    else:
        home = args.home
        url = args.url or os.environ.get("AIRFLOW__API__BASE_URL", "http://localhost:8080")
        smtp = args.smtp_port
    try:
        _configure(home, url, smtp, client_env)
        figures = run_burst(
            url,
            home,
            args.requests,
            args.window,
            args.answers,
            args.timeout,
            alive_check=system.alive if system else None,
        )
        figures["profile"] = args.profile
        if system is not None:
            figures["run_command_alive"] = system.alive()
            figures["run_command_log_tail"] = system.tail(15)
    finally:
        if system is not None:
            system.stop()
        if tmp is not None and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(report(figures), flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    return 0 if passed(figures) else 1


if __name__ == "__main__":
    sys.exit(main())
