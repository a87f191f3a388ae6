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
from airflow.task.trigger_rule import TriggerRule
from srs_signoff import SignOffOperator
from srs_tasks import REQUEST_DEFAULT_ARGS, recorded_responses, run_step, stats_id_of

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
                # Who started the run, as Airflow authenticated them (not a conf field).
                "started_by": context["dag_run"].triggering_user_name,
            }
            if kind == "transfer":
                result = run_step(
                    it.intake_transfer,
                    _pipeline(),
                    source_area=params["source_area"],
                    destination=params["destination"],
                    **common,
                )
            else:
                result = run_step(it.intake_ingest, _pipeline(), **common)
            if not result.accepted:
                print(f"{result.stats_id} rejected: " + "; ".join(str(r) for r in result.reasons))
                return None
            return result.to_xcom()

        # Every task below acts on the ticket whose round this run is (stats_id_of reads the
        # ticket store); ``request`` only orders the tasks, an XCom being writable by users.
        @task(task_id="quarantine")
        def quarantine(_request: dict[str, Any], **context) -> dict[str, Any]:
            from include.output_requests import take_snapshot

            return run_step(take_snapshot, _pipeline(), stats_id_of(context))

        @task.branch(task_id="automated_checks")
        def automated_checks(_request: dict[str, Any], _snapshot: dict[str, Any], **context) -> Any:
            """Checks with the receiving project's policy; blocking findings go straight back."""
            from include.output_requests import run_checks

            summary = run_step(run_checks, _pipeline(), stats_id_of(context))
            print(f"verdict {summary['verdict']}: {summary['summary']}")
            return "request_revisions" if summary["verdict"] == "fail" else list(OFFICER_STEPS)

        @task.branch(retries=0, trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        def officers_decision(_request: dict[str, Any], **context) -> str:
            from include.output_requests import officers_decision as decide

            stats_id = stats_id_of(context)
            steps = [(step, -1, step, None) for step in OFFICER_STEPS]
            responses = recorded_responses(context, stats_id, steps)
            outcome = run_step(decide, _pipeline(), stats_id, responses)
            return "place" if outcome == "place" else "request_revisions"

        @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        def request_revisions(_request: dict[str, Any], **context) -> None:
            from include.output_requests import request_revisions as ask

            run_step(ask, _pipeline(), stats_id_of(context))

        @task
        def place(_request: dict[str, Any], **context) -> dict[str, Any]:
            from include.ingest_transfer import place as copy_in

            return run_step(copy_in, _pipeline(), stats_id_of(context))

        @task
        def archive(_request: dict[str, Any], _placed: dict[str, Any], **context) -> dict[str, Any]:
            from include.output_requests import archive as keep

            return run_step(keep, _pipeline(), stats_id_of(context))

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
