"""The sign-off reminder sweep's DAG: hourly, one at a time, retried, documented."""

from __future__ import annotations

from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_reminder_sweep_is_hourly_one_at_a_time_and_retried():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS / "signoff_reminder_sweep.py"))
    assert bag.import_errors == {}
    dag = bag.dags["signoff_reminder_sweep"]
    assert dag.schedule == "@hourly"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert {"srs", "sweep"} <= set(dag.tags)
    assert "When it stops" in dag.doc_md and "SRS_SIGNOFF_REMINDER_DAYS" in dag.doc_md
    assert [t.task_id for t in dag.tasks] == ["sweep"]
    sweep = dag.get_task("sweep")
    assert sweep.retries >= 1 and sweep.owner == "srs-operations"
