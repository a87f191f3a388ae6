"""A tiny DAG for the browser helper's own test: a Required Action with two multi-line fields.

``review`` waits for officer_a to choose "Pass" or "Request revisions", with two free-text
fields (``format: "multiline"``, so Airflow's form renders them as text areas); ``report``
returns what was chosen and typed, so the test can read it from XCom.

``guidance`` is optional (``type: ["string", "null"]``); ``file_1`` is a plain ``"string"``, which
Airflow's form treats as *required*: its option buttons stay disabled until it has text.

HITLOperator keeps only params whose ``source`` is ``"task"`` (Airflow 3.3): params given to
the operator are task params; ``source="task"`` says so explicitly, so the form shows them.
"""

from __future__ import annotations

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import DAG, Param, task
from airflow.sdk.execution_time.hitl import HITLUser

with DAG(
    dag_id="e2e_browser_probe",
    schedule=None,
    catchup=False,
    tags=["e2e"],
    default_args={"owner": "srs-e2e", "retries": 0},
    doc_md=__doc__,
):
    review = HITLOperator(
        task_id="review",
        subject="Browser probe for {{ run_id }}",
        body="Type into both boxes, then choose an option.",
        options=["Pass", "Request revisions"],
        params={
            "guidance": Param(
                None,
                type=["string", "null"],
                format="multiline",
                title="Guidance for the researcher",
                description="What to change.",
                source="task",
            ),
            "file_1": Param(
                "",
                type="string",
                format="multiline",
                title="Changes to probe.csv",
                description="What to change in probe.csv.",
                source="task",
            ),
        },
        assigned_users=[HITLUser(id="officer_a", name="officer_a")],
    )

    @task
    def report(result: dict) -> dict:
        return {"chosen": result["chosen_options"], "params": result["params_input"]}

    report(review.output)
