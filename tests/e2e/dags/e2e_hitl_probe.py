"""A tiny DAG for the e2e harness test only: one Required Action assigned to officer_a.

``review`` waits for officer_a to choose "Pass" or "Request revisions" (with guidance text);
``report`` returns what was chosen so the test can read it from XCom.
"""

from __future__ import annotations

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import DAG, Param, task
from airflow.sdk.execution_time.hitl import HITLUser

with DAG(
    dag_id="e2e_hitl_probe",
    schedule=None,
    catchup=False,
    tags=["e2e"],
    default_args={"owner": "srs-e2e", "retries": 0},
    doc_md=__doc__,
):
    review = HITLOperator(
        task_id="review",
        subject="Probe review for {{ run_id }}",
        body="Check the probe output.",
        options=["Pass", "Request revisions"],
        params={
            "guidance": Param("", type="string", maxLength=200, description="Guidance"),
        },
        assigned_users=[HITLUser(id="officer_a", name="officer_a")],
    )

    @task
    def report(result: dict) -> dict:
        return {"chosen": result["chosen_options"], "guidance": result["params_input"]["guidance"]}

    report(review.output)
