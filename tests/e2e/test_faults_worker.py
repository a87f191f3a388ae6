"""A Celery worker killed while a checks task runs (issue 12, distributed profile only).

Starts what ``make run-distributed`` starts (``scripts/run_distributed.sh`` under
``scripts/supervise_distributed.py``: api-server, scheduler, dag-processor, triggerer and a Celery
worker, PostgreSQL, Redis, S3 on loopback) in a temporary AIRFLOW_HOME with databases and a
Celery queue of its own, through ``scripts/bench_load.py``'s ``DistributedSystem``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from tests.fixtures.airflow_server import e2e_profile

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        e2e_profile() != "distributed",
        reason="needs the distributed profile's Celery worker (SRS_E2E_PROFILE=distributed)",
    ),
]
REPO = Path(__file__).resolve().parents[2]
DAG = "output_request"
TASK = "automated_checks"
PROJECT = "1234567"
RESEARCHER = "r_rahman"


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_load", REPO / "scripts" / "bench_load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _services_or_skip() -> None:
    import psycopg2
    import redis

    pg = os.environ.get("SRS_DIST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
    try:
        psycopg2.connect(f"{pg}/postgres", connect_timeout=3).close()
    except psycopg2.Error as exc:
        pytest.skip(f"distributed profile: PostgreSQL at {pg} is unreachable ({exc})")
    url = os.environ.get("SRS_DIST_REDIS_URL", "redis://127.0.0.1:6379/6")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.skip(f"distributed profile: Redis at {url} is unreachable ({exc})")


def _process_tree(root: int) -> list[int]:
    """``root`` and every process descended from it (the task processes Airflow's task
    supervisor forks are in process groups of their own, so killing the group is not enough)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, []))
    return tree


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _slow_tables(storage, folder: str) -> None:
    """Forty 5,000-row tables beside the demo request: a few seconds of checks to land in."""
    from include.storage import Place

    place = Place(PROJECT, "Ready for Checking", folder)
    rnd = random.Random(12)
    for j in range(40):
        rows = [f"E{12000000 + i % 9},T{i % 4},{rnd.randint(10, 500)}" for i in range(5000)]
        storage.write_bytes(
            place, f"table_{j:02d}.csv", ("region,tenure,n\n" + "\n".join(rows)).encode()
        )


@pytest.mark.timeout(600)
def test_a_killed_celery_worker_s_checks_task_runs_again_and_the_ticket_ends_right(tmp_path):
    """Invariant: nothing lost, nothing duplicated. The Celery worker's whole process tree is
    SIGKILLed while ``automated_checks`` runs (no check summary recorded yet); the supervisor
    starts the worker again, the scheduler fails the dead try once its heartbeat is overdue
    (``task_instance_heartbeat_timeout``) and Airflow runs the task again, so the ticket ends
    ``awaiting_officers`` with one check summary for its round, every state change applied
    exactly once and the audit chain intact; no other component restarted.
    """
    _services_or_skip()
    bench = _bench_module()
    system = bench.DistributedSystem(tmp_path / "airflow")
    system.start(timeout=300)
    try:
        env = system.client_env()
        from include.pipeline import Pipeline
        from include.settings import Settings

        p = Pipeline(Settings.from_env(env))
        api = bench.Api(system.url, system.home)
        worker = _wait(lambda: system.component_pid("celery-worker"), 30, "the Celery worker")

        from include.demo import write_demo_request

        folder = f"2026_12_03_Worker{uuid.uuid4().hex[:6]}_v1"
        write_demo_request(p.storage, PROJECT, folder, RESEARCHER)
        _slow_tables(p.storage, folder)
        submitted = subprocess.run(
            [
                str(Path(sys.executable).with_name("srs")),
                "submit",
                "output",
                "--project",
                PROJECT,
                "--folder",
                folder,
                "--researcher",
                RESEARCHER,
            ],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        (ticket,) = [t for t in p.store.find(project=PROJECT) if t.folder == folder]
        run_id, stats_id = ticket.run_id, ticket.stats_id
        path = f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/{TASK}"

        def checks_running():
            r = api.call("GET", path)
            return r.status_code == 200 and r.json()["state"] == "running"

        _wait(checks_running, 180, f"{TASK} of {run_id} to run")
        tree = _process_tree(worker)
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        killed_at = p.store.get(stats_id)
        # The kill landed inside the checks: nothing recorded for the round yet.
        assert killed_at.state.value in ("received", "checking"), killed_at.state
        assert not [e for e in p.store.audit(stats_id) if e.action == "checks_recorded"]
        assert len(tree) >= 3, f"worker, pool process and task process expected: {tree}"

        # The supervisor restarts the worker ...
        def restarted():
            pid = system.component_pid("celery-worker")
            return pid not in (None, worker) and pid

        _wait(restarted, 60, "the supervisor to restart the Celery worker")
        log = (system.home / "logs" / "supervisor" / "supervisor.log").read_text()
        assert "celery-worker exited with code -9; restarting it" in log, log[-2000:]

        # ... and Airflow runs the checks again once the dead try's heartbeat is overdue.
        def checks_done():
            r = api.call("GET", path)
            state = r.json()["state"] if r.status_code == 200 else None
            assert state not in ("failed", "upstream_failed"), r.text
            return state == "success" and r.json()

        ti = _wait(checks_done, 240, f"{TASK} to succeed on a later try")
        assert ti["try_number"] >= 2, ti
        tries = api.call("GET", f"{path}/tries").json()["task_instances"]
        states = [t["state"] for t in sorted(tries, key=lambda t: t["try_number"])]
        # The killed try failed (heartbeat overdue) and was not retried as a success twice.
        assert len(states) >= 2 and states[-1] == "success", tries
        assert set(states[:-1]) <= {"failed", "up_for_retry"}, tries

        _wait(
            lambda: p.store.get(stats_id).state.value == "awaiting_officers",
            60,
            "the ticket to reach its officers",
        )
        final = p.store.get(stats_id)
        assert final.round_of(1).checks is not None
        audit = p.store.audit(stats_id)
        recorded = [e for e in audit if e.action == "checks_recorded"]
        assert len(recorded) == 1, [(e.action, e.details) for e in recorded]
        transitions = Counter((e.from_state, e.to_state) for e in audit if e.to_state)
        assert transitions[("received", "checking")] == 1, transitions
        assert transitions[("checking", "awaiting_officers")] == 1, transitions
        assert max(transitions.values()) == 1, transitions
        assert p.store.verify_chain(stats_id).ok
        assert len([t for t in p.store.find(project=PROJECT) if t.folder == folder]) == 1

        state = bench.json.loads((system.home / "supervisor.json").read_text())["components"]
        assert state["celery-worker"]["restarts"] == 1, state
        others = {n: c["restarts"] for n, c in state.items() if n != "celery-worker"}
        assert set(others.values()) == {0}, others
        assert system.alive()
    finally:
        system.stop()
