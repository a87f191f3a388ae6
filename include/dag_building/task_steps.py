"""How a DAG task runs one step (``include.request_steps``), so every request DAG fails and
skips alike, and reads the sign-offs Airflow recorded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from srs_priority import RECEIPT_ORDER  # the plugin registers the strategy by this name

T = TypeVar("T")

# Every request DAG's tasks: owned by operations, retried where safe (sign-offs and decisions
# override this with 0), and prioritised in order of receipt.
REQUEST_DEFAULT_ARGS: dict[str, Any] = {
    "owner": "srs-operations",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "weight_rule": RECEIPT_ORDER,
}


def run_step(step: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``step``: a refusal, or a run naming no ticket that exists, fails the task at once
    (no retries: trying again cannot help); a ticket closed because its project ended skips
    the rest of the run, which then ends without failing."""
    from include.permissions import NotPermitted
    from include.release import ReleaseHeld
    from include.tickets import TicketClosed, UnknownTicket

    try:
        return step(*args, **kwargs)
    except TicketClosed as exc:
        raise AirflowSkipException(str(exc)) from exc
    except (NotPermitted, ReleaseHeld, UnknownTicket) as exc:
        raise AirflowFailException(str(exc)) from exc


def stats_id_of(context: Any) -> str:
    """The ticket this run is a round of, from the ticket store (never from an XCom)."""
    from include.pipeline import Pipeline
    from include.request_steps import ticket_of_run

    return run_step(ticket_of_run, Pipeline(), context["run_id"]).stats_id


def recorded_responses(
    context: Any, stats_id: str, steps: Sequence[tuple[str, int, str, str | None]]
) -> list[Any]:
    """Each sign-off's answer as Airflow recorded it, for ``steps`` of (task id, map index,
    step name, dataset); sign-offs skipped because they were not needed are left out.

    A sign-off task whose state or XCom disagrees with Airflow's record holds the request
    (nothing is released or placed), emails operations, and fails this task.
    """
    from include.airflow_api import AirflowAPI
    from include.pipeline import Pipeline
    from include.request_steps import hold_tampered_signoffs
    from include.signoff_record import changes_through_the_api, read_answer, tampering
    from include.states import TicketState as S

    p = Pipeline()
    ticket = p.store.get(stats_id)
    if ticket.state not in (S.AWAITING_OFFICERS, S.AWAITING_DATA_OWNER):
        # Closed (project ended) or sent straight back by the checks: no sign-off to decide.
        raise AirflowSkipException(f"{stats_id} is {ticket.state}: no sign-off to decide")
    api = AirflowAPI(p.settings)
    dag_id, run_id, ti = context["dag"].dag_id, context["run_id"], context["ti"]
    responses, problems = [], []
    for task_id, map_index, step, dataset in steps:
        answer = read_answer(api, dag_id, run_id, task_id, map_index)
        if answer is None:
            problems.append(f"{task_id}[{map_index}] does not exist in run {run_id}")
            continue
        if answer.state == "skipped" and not answer.responded and not _needed(ticket, step):
            continue
        result = ti.xcom_pull(task_ids=task_id, map_indexes=map_index if map_index >= 0 else None)
        problem = tampering(answer, result)
        if problem:
            problems.append(problem)
        else:
            responses.append(answer.response(step, dataset))
    if problems:
        changes = changes_through_the_api(api.run_changes(dag_id, run_id))
        hold_tampered_signoffs(p, stats_id, problems, changes)
        raise AirflowFailException(
            f"{stats_id} held (signoff_held), nothing released or placed: " + "; ".join(problems)
        )
    return responses


def _needed(ticket: Any, step: str) -> bool:
    """Officer sign-off N is needed up to the round's officers_needed; data owners always are."""
    from include.access import officers_needed

    if step.startswith("officer_"):
        return int(step.rsplit("_", 1)[-1]) <= officers_needed(ticket)
    return True
