"""Intake sweep: every few minutes, register new submissions and start their request runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

DOC = """
### Intake sweep (guidance section 3: researchers submit by placing a folder)

Every 5 minutes (and whenever triggered by hand) looks in every **live** project's
*Ready for Checking* (output requests) and ingest landing area `ingest/<project>/` (ingests) for
request folders no ticket knows yet — any ticket, in any state, in any round, including the
folders of earlier rounds. Transfers are submitted with `srs submit transfer` or the trigger form.

| found | what happens |
|---|---|
| a new folder with a complete request form | one ticket (STATS-ID) is registered and run `<STATS-ID>-r1` of `output_request` (or `ingest_request`) is started |
| `<folder>_v2` (the next version) of a request whose revisions were requested | that ticket's next round: run `<STATS-ID>-r<n+1>` |
| a folder without a form, with an unreadable or incomplete form, or with an unsafe name | listed in the log with the reason; the researcher named on the form (if any) is emailed **once** |

Running it again starts nothing twice: Airflow refuses a second run with the same `run_id`, and
the ticket store remembers every folder a ticket used. Notices sent are kept in the ticket
database (`sweep_notices`).

**When it stops**
- `sweep` failed with *SweepIncomplete*: some folders could not be handled (Airflow API
  unreachable, the mail server down, a storage error); the log lists each with the reason.
  Everything else was done. The next sweep (or clearing the task) tries again; nothing is
  started or emailed twice.
- The Airflow login failed: set `SRS_API_USER` / `SRS_API_PASSWORD` for the workers.
"""

default_args = {
    "owner": "srs-operations",
    "retries": 1,
    "retry_delay": timedelta(minutes=1),
}

with DAG(
    dag_id="intake_sweep",
    description="Registers new request folders and starts their runs",
    doc_md=DOC,
    schedule=timedelta(minutes=5),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    dagrun_timeout=timedelta(minutes=30),
    tags=["srs", "sweep"],
) as dag:

    @task(execution_timeout=timedelta(minutes=20))
    def sweep() -> dict[str, Any]:
        """Find new submissions, register one ticket each and start their runs."""
        from include.airflow_api import AirflowAPI
        from include.pipeline import Pipeline
        from include.sweeps import SweepIncomplete, sweep_intake

        p = Pipeline()
        # A folder still being copied in may lack its form for a moment: tell researchers only
        # once it has looked wrong for a while.
        result = sweep_intake(p, AirflowAPI(p.settings), grace=timedelta(minutes=10))
        for line in result.log_lines():
            print(line)
        if result.errors:
            raise SweepIncomplete(
                f"{len(result.errors)} problem(s); see the log above. Everything else was done."
            )
        return result.to_xcom()

    sweep()
