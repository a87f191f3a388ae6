"""The one factory of the request DAGs: ``build_request_dag(OUTPUT, …)`` and likewise for
ingest and transfer, so each DAG file reads as its flow and its documentation.

intake → snapshot (outputs: ``snapshot``; ingest and transfer: ``quarantine``) → automated
checks → ``officer_1``, ``officer_2`` → ``officers_decision`` → (outputs: data owners'
sign-offs → ``data_owners_decision``) → the hand-over (``release`` or ``place``) → ``archive``;
any sign-off's revisions go to ``request_revisions``, and for a kind that returns blocked
requests (ingest, transfer) so do blocking check findings. What differs is the kind's
(:mod:`include.request_kinds`); the steps (:mod:`include.request_steps`) are imported inside
the tasks so parsing stays fast.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, task
from airflow.task.trigger_rule import TriggerRule

from include.dag_building.signoff_operator import SignOffOperator
from include.dag_building.task_steps import (
    REQUEST_DEFAULT_ARGS,
    recorded_responses,
    run_step,
    stats_id_of,
)
from include.request_kinds import RequestKind

OFFICER_STEPS = ("officer_1", "officer_2")  # officer_2 skips itself when one officer suffices
REVISIONS = "request_revisions"
DATA_OWNER_DATASETS = "data_owner_datasets"
# A task after two branches (the hand-over after either decision; the revisions after the
# checks or a decision) or after sign-offs one of which may skip itself runs when one of them
# chose it and nothing upstream failed. Every task also follows intake (its ``request``
# argument), so a task after one branch keeps ALL_SUCCESS: it must skip when that branch does.
AFTER_A_BRANCH = TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS

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


def _pipeline() -> Any:
    from include.pipeline import Pipeline

    return Pipeline()


def build_request_dag(
    kind: RequestKind, *, description: str, doc_md: str, params: dict[str, Param]
) -> DAG:
    """The ``<kind>_request`` DAG; ``params`` are the kind's own trigger-form fields (project,
    folder, …), the researcher and STATS-ID are added after them."""
    with DAG(
        dag_id=kind.dag_id,
        description=description,
        doc_md=doc_md,
        schedule=None,
        catchup=False,
        default_args=REQUEST_DEFAULT_ARGS,
        max_active_runs=500,  # requests waiting on people never hold new ones back
        tags=["srs", kind.name],
        params={**params, **COMMON_PARAMS},
    ) as dag:

        @task.short_circuit(task_id="intake")
        def intake(**context) -> dict[str, Any] | None:
            """Register the ticket (or its next round), decide eligibility; refusals stop here."""
            from include.request_steps import intake as register

            params = context["params"]
            result = run_step(
                register,
                _pipeline(),
                kind=kind.name,
                project=params["project"],
                folder=params["folder"],
                requester=params["researcher"],
                run_id=context["run_id"],
                stats_id=params.get("stats_id") or None,
                # Who started the run, as Airflow authenticated them (not a conf field).
                started_by=context["dag_run"].triggering_user_name,
                **kind.intake_args(params),
            )
            if not result.accepted:
                print(f"{result.stats_id} rejected: " + "; ".join(str(r) for r in result.reasons))
                return None
            return result.to_xcom()

        # Every task below acts on the ticket whose round this run is (stats_id_of reads the
        # ticket store); ``request`` only orders the tasks, an XCom being writable by users.
        @task(task_id=kind.snapshot_task)
        def snapshot(_request: dict[str, Any], **context) -> dict[str, Any]:
            from include.request_steps import take_snapshot

            return run_step(take_snapshot, _pipeline(), stats_id_of(context))

        if kind.return_blocked:

            @task.branch(task_id="automated_checks")
            def automated_checks(
                _request: dict[str, Any], _snapshot: dict[str, Any], **context
            ) -> Any:
                """Checks with the receiving project's policy; blocking findings go straight back."""
                from include.request_steps import run_checks

                summary = run_step(run_checks, _pipeline(), stats_id_of(context))
                print(f"verdict {summary['verdict']}: {summary['summary']}")
                return REVISIONS if summary["verdict"] == "fail" else list(OFFICER_STEPS)

        else:

            @task(task_id="automated_checks")
            def automated_checks(
                _request: dict[str, Any], _snapshot: dict[str, Any], **context
            ) -> Any:
                """Checks with the project's policy; the officers see every finding."""
                from include.request_steps import run_checks

                summary = run_step(run_checks, _pipeline(), stats_id_of(context))
                return {k: summary[k] for k in ("verdict", "summary")}

        @task.branch(
            retries=0,
            trigger_rule=AFTER_A_BRANCH if kind.one_officer_may_do else TriggerRule.ALL_SUCCESS,
        )
        def officers_decision(_request: dict[str, Any], **context) -> str:
            from include.request_steps import officers_decision as decide

            stats_id = stats_id_of(context)
            steps = [(step, -1, step, None) for step in OFFICER_STEPS]
            responses = recorded_responses(context, stats_id, steps)
            outcome = run_step(decide, _pipeline(), stats_id, responses)
            return {
                kind.hand_over_step: kind.hand_over_step,
                "data_owner": DATA_OWNER_DATASETS,
                "revisions": REVISIONS,
            }[outcome]

        @task(task_id=REVISIONS, trigger_rule=AFTER_A_BRANCH)
        def request_revisions(_request: dict[str, Any], **context) -> None:
            from include.request_steps import request_revisions as ask

            run_step(ask, _pipeline(), stats_id_of(context))

        @task(
            task_id=kind.hand_over_step,
            trigger_rule=AFTER_A_BRANCH if kind.asks_data_owners else TriggerRule.ALL_SUCCESS,
        )
        def hand_over(_request: dict[str, Any], **context) -> dict[str, Any]:
            """Release or place the signed-off snapshot (its sign-offs verified again first)."""
            from include.request_steps import hand_over as hand

            return run_step(hand, _pipeline(), stats_id_of(context))

        @task
        def archive(_request: dict[str, Any], _handed: dict[str, Any], **context) -> dict[str, Any]:
            from include.request_steps import archive as keep

            return run_step(keep, _pipeline(), stats_id_of(context))

        request = intake()
        checks = automated_checks(request, snapshot(request))
        officers = [
            SignOffOperator(task_id=step, role="officer", slot=n)
            for n, step in enumerate(OFFICER_STEPS)
        ]
        decision = officers_decision(request)
        revisions = request_revisions(request)
        handed = hand_over(request)

        checks >> ([*officers, revisions] if kind.return_blocked else officers)
        officers >> decision >> [handed, revisions]
        if kind.asks_data_owners:
            _data_owner_signoffs(kind, request, decision, handed, revisions)
        archive(request, handed)
    return dag


def _data_owner_signoffs(
    kind: RequestKind, request: Any, decision: Any, handed: Any, revisions: Any
) -> None:
    """One mapped sign-off per for-approval dataset, after the officers, before the hand-over."""

    @task(task_id=DATA_OWNER_DATASETS)
    def data_owner_datasets(_request: dict[str, Any], **context) -> list[str]:
        from include.request_steps import approvals_needed

        return approvals_needed(_pipeline(), stats_id_of(context))

    @task.branch(retries=0)
    def data_owners_decision(_request: dict[str, Any], **context) -> str:
        from include.request_steps import approvals_needed, data_owner_decision

        p, stats_id = _pipeline(), stats_id_of(context)
        # One mapped sign-off per dataset, in the order data_owner_datasets returned them (read
        # again from the registry, not from that task's XCom).
        datasets = approvals_needed(p, stats_id)
        steps = [("data_owner_signoff", i, f"data_owner_{d}", d) for i, d in enumerate(datasets)]
        responses = recorded_responses(context, stats_id, steps)
        outcome = run_step(data_owner_decision, p, stats_id, responses)
        return kind.hand_over_step if outcome == kind.hand_over_step else REVISIONS

    datasets = data_owner_datasets(request)
    owners = SignOffOperator.partial(task_id="data_owner_signoff", role="data_owner").expand(
        dataset=datasets
    )
    owners_decision = data_owners_decision(request)
    decision >> datasets
    datasets >> owners_decision
    owners >> owners_decision >> [handed, revisions]
