"""Project closure sweep: daily, close every open request of a project that has ended."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

DOC = """
### Project closure sweep (rule `project_closed`)

The guidance: *a project that closes has any open requests closed immediately without further
action.* Daily (and whenever triggered by hand), for every project whose end date has passed,
every **open** ticket — received, being checked, waiting on officers or a data owner, blocked
waiting for revisions, or a release held — is closed as `closed_project_ended`:

- nothing is released or placed afterwards (those steps refuse a closed ticket);
- its sign-off tasks leave **Required Actions** (set to *skipped*), so the rest of the run skips
  and the run ends as a success, with a **note** on the run saying why;
- the audit trail records it and the researcher is emailed once.

Already released or placed tickets are left to be archived. A release in progress is left to
finish unless it has been stuck for an hour. Running the sweep again does nothing more.

**When it stops**
- `sweep` failed with *SweepIncomplete*: some tickets or runs could not be finished (the log
  lists each: usually the Airflow API or mail server was unreachable). Everything else was
  done; clearing the task (or tomorrow's run) finishes the rest.
- The Airflow login failed: set `SRS_API_USER` / `SRS_API_PASSWORD` for the workers.
"""

default_args = {
    "owner": "srs-operations",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
}

with DAG(
    dag_id="project_closure_sweep",
    description="Closes every open request of a project whose end date has passed",
    doc_md=DOC,
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["srs", "sweep"],
) as dag:

    @task(execution_timeout=timedelta(minutes=30))
    def sweep() -> dict[str, Any]:
        """Close the open tickets of ended projects and finish their runs."""
        from include.airflow_api import AirflowAPI
        from include.pipeline import Pipeline
        from include.sweeps import SweepIncomplete, close_ended_projects

        p = Pipeline()
        result = close_ended_projects(p, AirflowAPI(p.settings))
        for line in result.log_lines():
            print(line)
        if result.errors:
            raise SweepIncomplete(
                f"{len(result.errors)} problem(s); see the log above. Everything else was done."
            )
        return result.to_xcom()

    sweep()
