"""Sign-off reminder sweep: hourly, remind people of sign-offs waiting too many working days."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

DOC = """
### Sign-off reminder sweep (the SRS aims to turn requests around within 5 working days)

Every hour (and whenever triggered by hand) looks at every request waiting on people — tickets
in `awaiting_officers` or `awaiting_data_owner` — and, from the ticket store alone (the
`signoff_requested` events of the ticket's current round, less the steps with a decision), finds
each sign-off still waiting and since when.

| found | what happens |
|---|---|
| a sign-off waiting longer than `SRS_SIGNOFF_REMINDER_DAYS` working days (default 5; weekends and England and Wales bank holidays do not count) | its assignees get **one** reminder with the link to their Required Action; operations get **one** note per request and round listing the overdue sign-offs |
| a sign-off whose "waiting for your sign-off" email could not be sent when it started | that email is sent now, once |

Running it again sends nothing twice: every email has a key in the ticket store
(`signoff-reminder-r<round>-<step>`, `signoff-overdue-r<round>-<state>`). A reminder names only
its recipient's own sign-off, never another officer's answer.

**When it stops**
- `sweep` failed with *SweepIncomplete*: some emails could not be sent (the log lists each:
  usually the mail server was unreachable). Everything else was done; the next hourly run (or
  clearing the task) sends the rest, and nothing twice.
"""

default_args = {
    "owner": "srs-operations",
    "retries": 1,
    "retry_delay": timedelta(minutes=5),
}

with DAG(
    dag_id="signoff_reminder_sweep",
    description="Reminds assignees (and tells operations) of sign-offs waiting too long",
    doc_md=DOC,
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    dagrun_timeout=timedelta(minutes=30),
    tags=["srs", "sweep"],
) as dag:

    @task(execution_timeout=timedelta(minutes=20))
    def sweep() -> dict[str, Any]:
        """Send the reminders and operations notes that are due, once each."""
        from include.pipeline import Pipeline
        from include.signoff_reminders import remind_waiting
        from include.sweeps import SweepIncomplete

        result = remind_waiting(Pipeline())
        for line in result.log_lines():
            print(line)
        if result.errors:
            raise SweepIncomplete(
                f"{len(result.errors)} problem(s); see the log above. Everything else was done."
            )
        return result.to_xcom()

    sweep()
