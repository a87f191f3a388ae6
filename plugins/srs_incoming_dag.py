"""The flow ingest and transfer requests share (guidance section 4), built once for both DAGs.

intake → snapshot into quarantine → automated checks (data minimisation included) →
officer(s) → place in the receiving project's Input → archive; a blocking finding or an
officer's revisions send the request back to the researcher. The steps are the core's
(``include.output_requests`` and ``include.ingest_transfer``), imported inside the tasks so
parsing stays fast.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, task
from airflow.sdk.exceptions import AirflowSkipException
from airflow.task.trigger_rule import TriggerRule
from srs_signoff import SignOffOperator
from srs_tasks import REQUEST_DEFAULT_ARGS, run_step

OFFICER_STEPS = ("officer_1", "officer_2")  # officer_2 skips itself when one officer suffices

COMMON_PARAMS = {
    "researcher": Param(
        "",
        type="string",
        title="Researcher",
        description="Username of the researcher making the request.",
    ),
    "stats_id": Param(
        "",
        type="string",
        title="STATS-ID (resubmissions only)",
        description="Leave empty for a new request. For a revised folder, the ticket's STATS-ID.",
    ),
}


def _pipeline():
    from include.pipeline import Pipeline

    return Pipeline()


def incoming_request_dag(
    kind: str, *, description: str, doc_md: str, params: dict[str, Param]
) -> DAG:
    """The ``<kind>_request`` DAG (kind: ingest or transfer)."""
    with DAG(
        dag_id=f"{kind}_request",
        description=description,
        doc_md=doc_md,
        schedule=None,
        catchup=False,
        default_args=REQUEST_DEFAULT_ARGS,
        max_active_runs=500,  # requests waiting on people never hold new ones back
        tags=["srs", kind],
        params={**params, **COMMON_PARAMS},
    ) as dag:

        @task.short_circuit(task_id="intake")
        def intake(**context) -> dict[str, Any] | None:
            """Register the ticket (or its next round), decide eligibility; refusals stop here."""
            from include import ingest_transfer as it

            params = context["params"]
            common = {
                "project": params["project"],
                "folder": params["folder"],
                "requester": params["researcher"],
                "run_id": context["run_id"],
                "stats_id": params.get("stats_id") or None,
            }
            if kind == "transfer":
                result = it.intake_transfer(
                    _pipeline(),
                    source_area=params["source_area"],
                    destination=params["destination"],
                    **common,
                )
            else:
                result = it.intake_ingest(_pipeline(), **common)
            if not result.accepted:
                print(f"{result.stats_id} rejected: " + "; ".join(str(r) for r in result.reasons))
                return None
            return result.to_xcom()

        @task(task_id="quarantine")
        def quarantine(request: dict[str, Any]) -> dict[str, Any]:
            from include.output_requests import take_snapshot

            return run_step(take_snapshot, _pipeline(), request["stats_id"])

        @task.branch(task_id="automated_checks")
        def automated_checks(request: dict[str, Any], _snapshot: dict[str, Any]) -> Any:
            """Checks with the receiving project's policy; blocking findings go straight back."""
            from include.output_requests import run_checks

            summary = run_step(run_checks, _pipeline(), request["stats_id"])
            print(f"verdict {summary['verdict']}: {summary['summary']}")
            return "request_revisions" if summary["verdict"] == "fail" else list(OFFICER_STEPS)

        @task.branch(retries=0, trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        def officers_decision(request: dict[str, Any], **context) -> str:
            from include.output_requests import Response
            from include.output_requests import officers_decision as decide

            responses = []
            for step in OFFICER_STEPS:
                payload = context["ti"].xcom_pull(task_ids=step)
                if payload is None:  # skipped: not needed for this request
                    continue
                responses.append(Response.from_payload(payload, step))
            if not responses:  # no officer was asked: the checks sent the request straight back
                raise AirflowSkipException("no sign-off to decide: the automated checks blocked it")
            outcome = run_step(decide, _pipeline(), request["stats_id"], responses)
            return "place" if outcome == "place" else "request_revisions"

        @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        def request_revisions(request: dict[str, Any]) -> None:
            from include.output_requests import request_revisions as ask

            run_step(ask, _pipeline(), request["stats_id"])

        @task
        def place(request: dict[str, Any]) -> dict[str, Any]:
            from include.ingest_transfer import place as copy_in

            return run_step(copy_in, _pipeline(), request["stats_id"])

        @task
        def archive(request: dict[str, Any], _placed: dict[str, Any]) -> dict[str, Any]:
            from include.output_requests import archive as keep

            return run_step(keep, _pipeline(), request["stats_id"])

        request = intake()
        checks = automated_checks(request, quarantine(request))
        officers = [
            SignOffOperator(task_id=step, role="officer", slot=n)
            for n, step in enumerate(OFFICER_STEPS)
        ]
        decision = officers_decision(request)
        revisions = request_revisions(request)
        placed = place(request)

        checks >> [*officers, revisions]
        officers >> decision >> [placed, revisions]
        archive(request, placed)
    return dag
