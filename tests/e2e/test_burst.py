"""The embedded default holds a burst, and never runs half alive (issue 12, first point).

Both tests start what ``make run`` starts (``scripts/run_embedded.sh``: the embedded PostgreSQL,
Airflow's api-server, scheduler, dag-processor and triggerer under ``scripts/supervise.py``,
the mail sink, the demo registry) in a temporary AIRFLOW_HOME on free ports.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "scripts" / "bench_load.py"
BURST = int(os.environ.get("E2E_BURST_REQUESTS", "12"))


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_load", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(900)
def test_a_burst_reaches_the_officers_with_no_error_and_nothing_lost(tmp_path):
    """Invariant: every request of a burst gets exactly one ticket that reaches its two
    officers' sign-offs, while officers answer; no client sees a 5xx and no component dies."""
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, str(BENCH), "--start", "--requests", str(BURST),
         "--window", "15", "--answers", "5", "--timeout", "600", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=840, check=False,
    )
    assert out.exists(), f"no figures:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    f = json.loads(out.read_text())
    summary = f"{result.stdout[-2500:]}\n{json.dumps(f, indent=1)[:4000]}"
    assert f["http_5xx"] == 0, summary
    assert not f["submit_failures"], summary
    assert f["components_alive"] and f["run_command_alive"], summary
    assert f["tickets_created"] == f["tickets_expected"] == BURST, summary
    assert not f["tickets_lost"] and not f["tickets_duplicated"], summary
    assert f["all_at_officers"], summary
    assert f["ticket_states"] == {"awaiting_officers": BURST}, summary
    assert not f["signoffs_not_waiting"], summary
    assert f["answers_sent"] > 0 and f["answers_accepted"] == f["answers_sent"], summary
    assert set(f["answered_task_states"]) == {"success"}, summary
    assert set(f["sweep_runs"].values()) <= {"success"}, summary
    assert result.returncode == 0, summary


def _state(home: Path) -> dict:
    try:
        return json.loads((home / "supervisor.json").read_text())["components"]
    except (OSError, ValueError, KeyError):
        return {}


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): read its state.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.timeout(600)
def test_a_killed_component_is_restarted_and_one_that_keeps_dying_stops_everything(tmp_path):
    """Invariant: never a half-alive system. A killed scheduler is started again (and logged);
    past the restart limit the run command exits non-zero with every process stopped."""
    bench = _bench_module()
    system = bench.EmbeddedSystem(
        tmp_path / "airflow",
        extra_env={"SUPERVISE_MAX_RESTARTS": "1", "SUPERVISE_WINDOW": "600"},
    )
    system.start(timeout=300)
    try:
        before = _state(system.home)
        assert set(before) >= {"postgres", "api-server", "scheduler", "dag-processor",
                               "triggerer", "mailsink", "check-server"}, before
        _a_check_is_served_warm(system, tmp_path)
        first = before["scheduler"]["pid"]
        os.kill(first, signal.SIGKILL)

        restarted = _wait(
            lambda: (s := _state(system.home).get("scheduler", {})).get("restarts") == 1
            and s.get("pid") not in (None, first) and s,
            60, "the scheduler to be restarted",
        )
        log = (system.home / "logs" / "supervisor" / "supervisor.log").read_text()
        assert "scheduler exited with code -9; restarting it" in log, log
        # The killed scheduler's LocalExecutor workers went with it (they were left idle,
        # orphaned, for ever).
        _wait(lambda: not _group(first), 30, "the killed scheduler's workers to end")

        def scheduler_heartbeat_after_restart():
            health = httpx.get(f"{system.url}/api/v2/monitor/health", timeout=5).json()
            return health["scheduler"]["status"] == "healthy" and health
        _wait(scheduler_heartbeat_after_restart, 90, "the restarted scheduler's heartbeat")
        assert system.alive()

        # A second death within the window is one too many (SUPERVISE_MAX_RESTARTS=1).
        others = {n: c["pid"] for n, c in _state(system.home).items() if n != "scheduler"}
        os.kill(restarted["pid"], signal.SIGKILL)
        system.proc.wait(90)
        assert system.proc.returncode == 1, system.tail()
        output = system.log.read_text(errors="replace")
        assert "FATAL: scheduler exited 2 times within 600s" in output, system.tail()
        for name, pid in others.items():
            assert not _pid_alive(pid), f"{name} (pid {pid}) still runs after the run failed"
        for group in (first, restarted["pid"], *others.values()):
            assert not _group(group), f"processes of group {group} outlived the run"
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{system.url}/api/v2/monitor/health", timeout=3)
    finally:
        system.stop()


def _a_check_is_served_warm(system, tmp_path: Path) -> None:
    """`srs check` from a shell with the installation's settings (not airflow_env.sh's) is
    answered by the supervisor's warm check server, with the in-process check's report."""
    table = tmp_path / "counts.csv"
    table.write_text("region,n\nNorth,3\nSouth,40\n")
    stats = tmp_path / "check-stats.jsonl"
    env = {k: v for k, v in system.env().items() if k not in ("PYTHONPATH",)}
    srs = [str(REPO / ".venv" / "bin" / "srs"), "check", str(table), "--format", "json"]
    deadline = time.monotonic() + 120  # the server is warm a few seconds after it starts
    while True:
        warm = subprocess.run(srs, env={**env, "SRS_CHECK_STATS": str(stats)},
                              capture_output=True, cwd=tmp_path, timeout=120)  # fmt: skip
        if stats.exists() or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert stats.exists(), "make run's check server never answered a plain srs check"
    cold = subprocess.run([*srs, "--no-server"], env=env, capture_output=True, cwd=tmp_path,
                          timeout=120)  # fmt: skip
    assert (warm.returncode, warm.stdout) == (cold.returncode, cold.stdout) and warm.returncode == 1


def _group(pgid: int) -> list[int]:
    """Live processes (not zombies) in process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members
