"""Issue #11's acceptance: one request, one ticket and one run, by construction.

Eight processes race over the same request folders at once, half running intake sweeps and half
running ``srs submit`` (the CLI entry, in-process in each worker), on SQLite and on a PostgreSQL
database of the test's own. Airflow is a recording fake shared by all of them through files:
every trigger attempt is appended to a log (O_APPEND), and a run is a file created with
O_CREAT|O_EXCL, so a second start of the same run id is refused like Airflow's 409
(``RunExists``). Afterwards each folder has exactly one ticket and exactly one run, the run its
ticket's ``<STATS-ID>-r1``, recorded on the ticket's round.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from include.demo import DEMO_PROJECT, write_demo_request

FOLDERS = [f"2026_12_03_Race{i}_v1" for i in range(6)]
SWEEPERS, SUBMITTERS = 4, 4  # eight processes in all
SWEEPS_EACH = 3
BOUND_SECONDS = 60
RUNS_DIR = "SRS_TEST_RACE_RUNS"  # where the fake Airflow keeps its runs (all processes)
PG_ADMIN = os.environ.get(
    "SRS_TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


class FileAirflow:
    """Airflow's run-starting API for many processes: a run id can be started once."""

    def __init__(self, *_args: Any, **_kw: Any) -> None:
        self.root = Path(os.environ[RUNS_DIR])

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> dict[str, Any]:
        from include.airflow_api import RunExists

        line = json.dumps({"pid": os.getpid(), "dag_id": dag_id, "run_id": run_id}) + "\n"
        fd = os.open(self.root / "attempts.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        try:
            fd = os.open(
                self.root / f"{dag_id}__{run_id}.run", os.O_WRONLY | os.O_CREAT | os.O_EXCL
            )
        except FileExistsError:
            raise RunExists(dag_id, run_id) from None  # Airflow's 409
        try:
            os.write(fd, json.dumps(conf).encode())
        finally:
            os.close(fd)
        return {"dag_run_id": run_id, "conf": conf}


def _worker(role: str, seed: int, barrier: Any, results: Any) -> None:
    """One racing process: sweeps, or `srs submit` of every folder in its own order."""
    from include import airflow_api, cli, sweeps
    from include.pipeline import Pipeline

    airflow_api.AirflowAPI = FileAirflow  # what `srs submit` talks to
    order = FOLDERS[:]
    random.Random(seed).shuffle(order)
    out: dict[str, Any] = {"role": role, "errors": [], "exits": [], "started": 0}
    barrier.wait(timeout=BOUND_SECONDS)  # every process imported: they start together
    began = time.monotonic()
    try:
        if role == "sweep":
            for _ in range(SWEEPS_EACH):
                result = sweeps.sweep_intake(Pipeline(), FileAirflow())
                out["errors"] += result.errors + [str(n) for n in result.not_started]
                out["started"] += len(result.started)
        else:
            for folder in order:
                argv = ["submit", "output", "--project", DEMO_PROJECT, "--folder", folder]
                said = io.StringIO()
                with contextlib.redirect_stdout(said):
                    out["exits"].append(cli.main([*argv, "--researcher", "r_rahman"]))
                out["started"] += "request submitted" in said.getvalue()
    except Exception as exc:  # reported to the test, which fails naming it
        out["errors"].append(f"{type(exc).__name__}: {exc}")
    out["seconds"] = time.monotonic() - began
    results.put(out)


@pytest.fixture(params=["sqlite", "postgres"])
def race_pipeline(request, tmp_path, monkeypatch):
    """The demo pipeline on SQLite, or on a PostgreSQL database made for this test and dropped."""
    name = None
    if request.param == "postgres":
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                name = f"srs_race_{uuid.uuid4().hex[:10]}"
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            admin.dispose()
            pytest.skip(f"PostgreSQL at {PG_ADMIN} is unreachable ({type(exc).__name__})")
        monkeypatch.setenv("SRS_DATABASE_URL", PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
    runs = tmp_path / "airflow-runs"
    runs.mkdir()
    monkeypatch.setenv(RUNS_DIR, str(runs))
    p = request.getfixturevalue("demo_pipeline")
    yield p
    if name is not None:
        from include.db import dispose_engines

        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_racing_sweeps_and_submits_make_one_ticket_and_one_run_per_folder(race_pipeline):
    p = race_pipeline
    for folder in FOLDERS:
        write_demo_request(p.storage, folder=folder)
    # Forked from this process, which has imported what they run and holds no database
    # connection: eight Pythons importing the pipeline afresh would take longer than the race.
    from include import airflow_api, cli, request_forms, request_steps, sweeps  # noqa: F401
    from include.checks import request_form  # noqa: F401
    from include.db import dispose_engines

    dispose_engines()
    ctx = multiprocessing.get_context("fork")
    roles = ["sweep"] * SWEEPERS + ["submit"] * SUBMITTERS
    barrier, results = ctx.Barrier(len(roles)), ctx.Queue()
    began = time.monotonic()
    procs = [
        ctx.Process(target=_worker, args=(role, seed, barrier, results))
        for seed, role in enumerate(roles)
    ]
    for proc in procs:
        proc.start()
    outs = [results.get(timeout=2 * BOUND_SECONDS) for _ in procs]
    for proc in procs:
        proc.join(timeout=10)
        assert proc.exitcode == 0
    took, race = time.monotonic() - began, max(o["seconds"] for o in outs)
    assert took < BOUND_SECONDS

    assert [o["errors"] for o in outs] == [[] for _ in outs]
    assert all(code == 0 for o in outs for code in o["exits"])  # submitted or already submitted

    tickets = p.store.find(project=DEMO_PROJECT)
    assert sorted(t.folder for t in tickets) == sorted(FOLDERS)  # one ticket per folder
    runs_dir = Path(os.environ[RUNS_DIR])
    runs = sorted(f.name.removesuffix(".run") for f in runs_dir.glob("*.run"))
    assert runs == sorted(f"output_request__{t.run_id}" for t in tickets)  # one run per folder
    for t in tickets:
        assert t.round_of(1).triggered_run_id == t.run_id
        conf = json.loads((runs_dir / f"output_request__{t.run_id}.run").read_text())
        assert (conf["stats_id"], conf["folder"]) == (t.stats_id, t.folder)
        actions = [e.action for e in p.store.audit(t.stats_id)]
        assert actions.count("created") == 1 and actions.count("run_triggered") == 1
    attempts = (runs_dir / "attempts.log").read_text().splitlines()
    # Each run was reported started by exactly one process; the others heard "already started".
    assert sum(o["started"] for o in outs) == len(FOLDERS) <= len(attempts)
    print(
        f"\n{p.settings.database_url.split(':')[0]}: {len(roles)} processes, {len(FOLDERS)} "
        f"folders, {len(attempts)} trigger attempts ({len(attempts) - len(FOLDERS)} refused "
        f"as already started), {took:.1f} s (the race itself {race:.1f} s)"
    )
