"""Many open requests: the operator view, the intake sweep and submit-to-officer time at scale.

Each figure is printed beside its baseline from the same run (README: "Many open requests"):

1. **Operator view.** With ``--few`` (10) and then ``--many`` (1,000) open tickets waiting on
   officers' sign-offs, the p95 of ``--samples`` GETs of the queue page (``/srs/requests``) and
   of one request's page, as ``ops`` through the API server. Target: many ≤ 1.5 × few.
   The open tickets are **seeded in the ticket store directly** (``TicketStore.create`` and two
   transitions to ``awaiting_officers``, assigned officers set): they have no Airflow run.
2. **Submit to Required Action.** At each of those two loads, ``--latency-requests`` (20)
   output requests are submitted one after another with ``srs submit`` (its command, in this
   process); each one's time until its ``officer_1`` Required Action is listed
   for its assigned officer (their ``hitlDetails``, ``response_received=false``). Median.
3. **Intake sweep.** In a separate process with its own temporary home (SQLite ticket store,
   local storage, the embedded default's), 50 registered projects with ``--sweep-folders``
   (100 and 1,000) request folders in *Ready for Checking*, each already registered: one
   ``sweep_intake`` with nothing new (median of ``--sweep-repeats``). Per-folder time ratio;
   target about 1 (it grows linearly in the folders, not faster).

Parts 1 and 2 need Airflow: the script starts ``scripts/run_embedded.sh`` in a temporary
AIRFLOW_HOME (as ``bench_load.py`` does), or uses a running one (``--home``/``--url``).
``--json FILE`` writes the figures too. Exit 0 only when every target is met.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

from bench_load import Api, EmbeddedSystem, _configure  # noqa: E402

PROJECT = "1234567"
RESEARCHER = "r_rahman"
DAG = "output_request"
SEED_PROJECTS = ("1234567", "4567890", "2345678")
OFFICERS = ("officer_alice", "officer_bob", "officer_carol")
RATIO_TARGET = 1.5


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


# --- 1. seeding open tickets ---------------------------------------------------------------------


def open_waiting(p: Any) -> int:
    from include.states import TicketState as S

    return sum(1 for t in p.store.find(states=[S.AWAITING_OFFICERS]) if t.details.get("bench_seed"))


def seed_open(p: Any, target: int) -> int:
    """Seeded open tickets awaiting officers until there are ``target`` of them (store only)."""
    from include.states import TicketState as S

    have = open_waiting(p)
    start = datetime.now(UTC) - timedelta(days=3)
    for i in range(have, target):
        t = p.store.create(
            kind="output",
            project=SEED_PROJECTS[i % len(SEED_PROJECTS)],
            requester=RESEARCHER,
            folder=f"2026_10_01_Seed{i:05d}_v1",
            actor="bench-seed",
            details={"bench_seed": True},
            received_at=start + timedelta(seconds=i),
        )
        p.store.set_fields(
            t.stats_id,
            actor="bench-seed",
            action="officers_assigned",
            assigned_officers=[OFFICERS[i % 3], OFFICERS[(i + 1) % 3]],
        )
        p.store.transition(t.stats_id, S.CHECKING, actor="bench-seed")
        p.store.transition(t.stats_id, S.AWAITING_OFFICERS, actor="bench-seed")
    return target - have


def api_server_cpu_s(home: Path | None) -> float | None:
    """CPU seconds the API server (its process and its workers) has used so far, from /proc:
    a page's cost that other work on a shared machine does not inflate as it does wall time."""
    if home is None:
        return None
    try:
        root = json.loads((home / "supervisor.json").read_text())["components"]["api-server"]["pid"]
        children: dict[int, list[int]] = {}
        stats: dict[int, list[str]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                stats[int(stat.parent.name)] = fields
                children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    ticks, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            ticks += int(stats[pid][11]) + int(stats[pid][12])  # utime + stime
        todo.extend(children.get(pid, []))
    return ticks / os.sysconf("SC_CLK_TCK")


SERVER_HOME: Path | None = None  # the AIRFLOW_HOME whose API server is measured (main sets it)


def page_p95(api: Api, path: str, samples: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {api.token('ops')}"}
    times, statuses = [], set()
    api.client.get(path, headers=headers)  # warm: templates, connections
    cpu0 = api_server_cpu_s(SERVER_HOME)
    for _ in range(samples):
        t0 = time.perf_counter()
        r = api.client.get(path, headers=headers)
        times.append(time.perf_counter() - t0)
        statuses.add(r.status_code)
    cpu1 = api_server_cpu_s(SERVER_HOME)
    return {
        "p95_ms": round(p95(times) * 1000, 1),
        "median_ms": round(statistics.median(times) * 1000, 1),
        "server_cpu_ms": round((cpu1 - cpu0) / samples * 1000, 1)
        if cpu0 is not None and cpu1 is not None
        else None,
        "bytes": len(r.content),
        "statuses": sorted(statuses),
    }


# --- 2. srs submit -> the officer's Required Action ----------------------------------------------


def submit_latency(api: Api, n: int, tag: str, timeout: float) -> dict[str, Any]:
    from include.cli import main as srs_command
    from include.demo import write_demo_request
    from include.pipeline import Pipeline

    times: list[float] = []
    failures: list[str] = []
    q = Pipeline()
    for i in range(n):
        folder = f"2026_12_02_Lat{tag}{i:02d}_v1"
        write_demo_request(q.storage, PROJECT, folder, RESEARCHER)
        t0 = time.monotonic()
        # `srs submit output` itself (include/cli.py, in this process).
        args = ["submit", "output", "--project", PROJECT, "--folder", folder]
        said = io.StringIO()
        with contextlib.redirect_stdout(said):
            code = srs_command([*args, "--researcher", RESEARCHER])
        if code != 0:
            failures.append(f"{folder}: srs submit -> {code}")
            continue
        # "STATS00042: output request submitted (Airflow run STATS00042-r1)"
        ticket = q.store.get(said.getvalue().split(":", 1)[0].strip())
        seen = wait_for_officer(api, q, ticket.stats_id, ticket.run_id, t0 + timeout)
        if seen is None:
            failures.append(f"{ticket.stats_id}: no Required Action for its officer in {timeout}s")
        else:
            times.append(seen - t0)
    return {
        "requests": n,
        "median_s": round(statistics.median(times), 1) if times else None,
        "max_s": round(max(times), 1) if times else None,
        "all_s": [round(t, 1) for t in times],
        "failures": failures,
    }


def wait_for_officer(api: Api, p: Any, stats_id: str, run_id: str, deadline: float) -> float | None:
    """When ``officer_1`` of ``run_id`` is listed in its assigned officer's Required Actions."""
    while time.monotonic() < deadline:
        officers = p.store.get(stats_id).assigned_officers
        for officer in officers[:1]:
            r = api.call(
                "GET",
                f"/dags/{DAG}/dagRuns/{run_id}/hitlDetails",
                user=officer,
                params={"response_received": "false"},
            )
            if r.status_code == 200 and any(
                d["task_instance"]["task_id"] == "officer_1"
                and officer in {u["id"] for u in d.get("assigned_users") or []}
                for d in r.json().get("hitl_details", [])
            ):
                return time.monotonic()
        time.sleep(0.5)
    return None


def airflow_part(api: Api, args: argparse.Namespace) -> dict[str, Any]:
    from include.pipeline import Pipeline

    p = Pipeline()
    out: dict[str, Any] = {}
    for label, target in (("few", args.few), ("many", args.many)):
        t0 = time.monotonic()
        seeded = seed_open(p, target)
        sample = next(t for t in p.store.find() if t.details.get("bench_seed"))
        phase = {
            "seeded_open": target,
            "seeded_now": seeded,
            "seed_s": round(time.monotonic() - t0, 1),
            "open_tickets": sum(1 for t in p.store.find() if t.is_open),
            "queue_page": page_p95(api, "/srs/requests", args.samples),
            "request_page": page_p95(api, f"/srs/requests/{sample.stats_id}", args.samples),
            "queue_json": page_p95(api, "/srs/api/requests", args.samples),
        }
        phase["submit_to_required_action"] = submit_latency(
            api, args.latency_requests, label[0].upper(), args.latency_timeout
        )
        out[label] = phase
        print(f"  {label}: {json.dumps(phase, default=str)}", flush=True)
    return out


# --- 3. the intake sweep over many registered folders ------------------------------------------

SWEEP_PROJECTS = 50


def _sweep_registry(projects: int) -> str:
    lines = [
        "people:",
        "  - {username: ops, name: Ops, email: ops@srs.example}",
        "  - {username: officer_alice, name: Alice, email: alice@srs.example}",
        "  - {username: officer_bob, name: Bob, email: bob@srs.example}",
        "  - {username: r_bench, name: Rae Bench, email: rae@university.example}",
        "officers: [officer_alice, officer_bob]",
        "operations: [ops]",
        "datasets:",
        "  - {name: Census2021, review: none}",
        "projects:",
    ]
    for i in range(projects):
        lines += [
            f'  - number: "{7000000 + i}"',
            f"    title: Bench project {i}",
            "    kind: full",
            "    start_date: 2024-01-01",
            "    end_date: 2030-12-31",
            "    researchers: [r_bench]",
            "    datasets: [Census2021]",
        ]
    return "\n".join(lines) + "\n"


def sweep_once(folders: int, repeats: int) -> dict[str, Any]:
    """In this process (its own AIRFLOW_HOME): lay out and register ``folders`` over 50
    projects, then time ``sweep_intake`` with nothing new."""
    from include.db import session_scope
    from include.pipeline import Pipeline
    from include.registry import load
    from include.registry_file import parse_registry
    from include.states import TicketState as S
    from include.storage import Place
    from include.sweeps import READY, sweep_intake

    class NoRuns:
        def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> dict[str, Any]:
            raise AssertionError(f"nothing is new, yet the sweep started {run_id}")

    p = Pipeline()
    with session_scope(p.settings.database_url) as s:
        load(s, parse_registry(_sweep_registry(SWEEP_PROJECTS)))
    t0 = time.monotonic()
    for i in range(folders):
        project = str(7000000 + i % SWEEP_PROJECTS)
        folder = f"2026_11_01_Sw{i:05d}_v1"
        p.storage.write_bytes(Place(project, READY, folder), "table.csv", b"a,b\n1,2\n")
        t = p.store.create(
            kind="output",
            project=project,
            requester="r_bench",
            folder=folder,
            actor="bench-seed",
        )
        # Its run started (a typed round fact): the sweep has nothing to start for it.
        p.store.record_trigger(t.stats_id, 1, f"{t.stats_id}-r1", actor="bench-seed")
        p.store.transition(t.stats_id, S.CHECKING, actor="bench-seed")
        p.store.transition(t.stats_id, S.AWAITING_OFFICERS, actor="bench-seed")
    seeded_s = time.monotonic() - t0
    times = []
    for _ in range(repeats):
        t1 = time.perf_counter()
        result = sweep_intake(p, NoRuns(), today=date(2026, 12, 1))
        times.append(time.perf_counter() - t1)
        assert not result.started and not result.errors and not result.not_started, result
        assert result.projects == SWEEP_PROJECTS
    median = statistics.median(times)
    return {
        "folders": folders,
        "projects": SWEEP_PROJECTS,
        "seed_s": round(seeded_s, 1),
        "sweep_s": round(median, 3),
        "per_folder_ms": round(median / folders * 1000, 3),
        "all_s": [round(t, 3) for t in times],
    }


def sweep_part(sizes: list[int], repeats: int) -> dict[str, Any]:
    """Each size in a fresh process and home, so neither run sees the other's tickets."""
    out = {}
    for n in sizes:
        home = Path(tempfile.mkdtemp(prefix="srs-bench-sweep-"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "SRS_"))}
        env["AIRFLOW_HOME"] = str(home)
        try:
            done = subprocess.run(
                [sys.executable, __file__, "--sweep-only", str(n), "--sweep-repeats", str(repeats)],
                env=env,
                cwd=REPO,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"sweep of {n} folders failed:\n{done.stderr[-3000:]}")
            out[str(n)] = json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            shutil.rmtree(home, ignore_errors=True)
        print(f"  sweep {n}: {out[str(n)]}", flush=True)
    return out


# --- the report ------------------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def summarise(f: dict[str, Any], args: argparse.Namespace) -> tuple[list[str], bool]:
    lines, ok = [], True
    air = f.get("airflow")
    if air:
        few, many = air["few"], air["many"]
        for key, what in (
            ("queue_page", "queue page p95"),
            ("request_page", "request page p95"),
            ("queue_json", "/srs/api/requests p95"),
        ):
            r = ratio(many[key]["p95_ms"], few[key]["p95_ms"])
            good = r is not None and r <= RATIO_TARGET and many[key]["statuses"] == [200]
            ok &= good if key != "queue_json" else True  # JSON: reported, no target set
            lines.append(
                f"{what:<34} {many[key]['p95_ms']:>8} ms at {args.many} open vs "
                f"{few[key]['p95_ms']:>8} ms at {args.few}: {r}x "
                f"{'(target <= 1.5x) ' + ('ok' if good else 'MISSED') if key != 'queue_json' else ''}"
            )
            lines.append(
                f"{'':<34} median {many[key]['median_ms']} vs {few[key]['median_ms']} ms; "
                f"API server CPU a request {many[key].get('server_cpu_ms')} vs "
                f"{few[key].get('server_cpu_ms')} ms "
                f"({ratio(many[key].get('server_cpu_ms'), few[key].get('server_cpu_ms'))}x); "
                f"{many[key].get('bytes')} vs {few[key].get('bytes')} bytes"
            )
        lm, lf = many["submit_to_required_action"], few["submit_to_required_action"]
        r = ratio(lm["median_s"], lf["median_s"])
        good = r is not None and r <= RATIO_TARGET and not lm["failures"] and not lf["failures"]
        ok &= good
        lines.append(
            f"{'submit -> Required Action, median':<34} {lm['median_s']:>8} s at "
            f"{args.many} open vs {lf['median_s']:>8} s at {args.few}: {r}x "
            f"(target <= 1.5x) {'ok' if good else 'MISSED'}; failures "
            f"{len(lf['failures']) + len(lm['failures'])}"
        )
    sw = f.get("sweep")
    if sw:
        small, large = sw[str(min(map(int, sw)))], sw[str(max(map(int, sw)))]
        r = ratio(large["per_folder_ms"], small["per_folder_ms"])
        good = r is not None and r <= RATIO_TARGET
        ok &= good
        lines.append(
            f"{'intake sweep, nothing new':<34} {large['sweep_s']} s for "
            f"{large['folders']} folders / {large['projects']} projects vs "
            f"{small['sweep_s']} s for {small['folders']}; per folder "
            f"{large['per_folder_ms']} vs {small['per_folder_ms']} ms: {r}x "
            f"(target ~1x, linear) {'ok' if good else 'MISSED'}"
        )
    lines.append(
        f"machine load at the end {f.get('load_average_end')} (1-min average, "
        f"{os.cpu_count()} CPUs)"
    )
    lines.append("RESULT " + ("PASS" if ok else "FAIL"))
    return lines, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, help="AIRFLOW_HOME of a running embedded system")
    parser.add_argument("--url", default=None)
    parser.add_argument("--smtp-port", type=int, default=None)
    parser.add_argument("--few", type=int, default=10)
    parser.add_argument("--many", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--latency-requests", type=int, default=20)
    parser.add_argument("--latency-timeout", type=float, default=600)
    parser.add_argument("--sweep-folders", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--sweep-repeats", type=int, default=5)
    parser.add_argument("--no-airflow", action="store_true", help="the sweep figures only")
    parser.add_argument("--sweep-only", type=int, help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    if args.sweep_only:
        print(json.dumps(sweep_once(args.sweep_only, args.sweep_repeats)))
        return 0

    figures: dict[str, Any] = {"at": datetime.now(UTC).isoformat(timespec="seconds")}
    print("intake sweep over registered folders ...", flush=True)
    figures["sweep"] = sweep_part(args.sweep_folders, args.sweep_repeats)
    if not args.no_airflow:
        system, tmp = None, None
        if args.home is None:
            tmp = Path(tempfile.mkdtemp(prefix="srs-bench-open-"))
            system = EmbeddedSystem(tmp / "airflow")
            print(f"starting run_embedded.sh in {system.home} on {system.url} ...", flush=True)
            system.start()
            home, url, smtp = system.home, system.url, system.smtp_port
        else:
            home = args.home
            url = args.url or os.environ.get("AIRFLOW__API__BASE_URL", "http://localhost:8080")
            smtp = args.smtp_port
        global SERVER_HOME
        SERVER_HOME = home
        try:
            _configure(home, url, smtp)
            api = Api(url, home)
            api.client.timeout = httpx.Timeout(120)
            figures["airflow"] = airflow_part(api, args)
            if system is not None:
                figures["run_command_alive"] = system.alive()
        finally:
            if system is not None:
                system.stop()
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
    figures["load_average_end"] = round(os.getloadavg()[0], 1)
    lines, ok = summarise(figures, args)
    print("\n".join(lines), flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
