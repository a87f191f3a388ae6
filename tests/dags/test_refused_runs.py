"""A run that names no request it may act on is refused by its first task, at once and for good:
the task fails with a clear message and Airflow does not retry it (AirflowFailException)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.dag_building.request_dag import build_request_dag
from include.demo import DEMO_FOLDER, DEMO_PROJECT, write_demo_request
from include.request_kinds import INGEST, OUTPUT, TRANSFER

KINDS = {"output": OUTPUT, "ingest": INGEST, "transfer": TRANSFER}
TRANSFER_PARAMS = {"source_area": "Working", "destination": "4567890"}


def _dag(kind):
    return build_request_dag(kind, description="probe", doc_md="When it stops", params={})


def run_intake(kind, run_id: str, **params) -> object:
    """Run the intake task of ``kind``'s DAG as a worker would, started by operations."""
    task = _dag(kind).get_task("intake")
    context = {
        "params": {"project": "", "folder": "", "researcher": "", "stats_id": "", **params},
        "run_id": run_id,
        "dag_run": SimpleNamespace(triggering_user_name="ops"),
    }
    return task.python_callable(**context)


@pytest.mark.parametrize("name", sorted(KINDS))
@pytest.mark.parametrize(
    ("stats_id", "says"),
    [
        ("STATS99999", "there is no request STATS99999"),
        ("none", "'none' is not a STATS-ID"),
    ],
)
def test_an_unknown_stats_id_fails_the_first_task_without_retries(
    demo_pipeline, name, stats_id, says
):
    extra = TRANSFER_PARAMS if name == "transfer" else {}
    with pytest.raises(AirflowFailException, match=says):
        run_intake(
            KINDS[name],
            "manual__unknown",
            project=DEMO_PROJECT,
            folder=DEMO_FOLDER,
            researcher="r_rahman",
            stats_id=stats_id,
            **extra,
        )
    assert demo_pipeline.store.find() == []  # nothing was registered


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_run_naming_nothing_fails_the_first_task_without_retries(demo_pipeline, name):
    extra = TRANSFER_PARAMS if name == "transfer" else {}
    with pytest.raises(
        AirflowFailException, match="names no STATS-ID and no project or researcher"
    ):
        run_intake(KINDS[name], "manual__empty", **extra)
    assert demo_pipeline.store.find() == []


def test_a_stats_id_of_another_kind_is_refused(demo_pipeline):
    write_demo_request(demo_pipeline.storage)
    from include.request_steps import register

    ticket = register(
        demo_pipeline,
        kind="output",
        project=DEMO_PROJECT,
        folder=DEMO_FOLDER,
        requester="r_rahman",
        via="test",
    )
    with pytest.raises(
        AirflowFailException, match=f"{ticket.stats_id} is a request of kind 'output'"
    ):
        run_intake(INGEST, ticket.run_id, stats_id=ticket.stats_id)


def test_a_second_run_for_a_folder_with_an_open_request_is_refused_without_a_ticket(
    demo_pipeline,
):
    """The open-folder unique index refuses a second ticket; the run says which request holds
    the folder and fails for good instead of retrying an insert that can never succeed."""
    write_demo_request(demo_pipeline.storage)
    params = dict(project=DEMO_PROJECT, folder=DEMO_FOLDER, researcher="r_rahman")
    run_intake(OUTPUT, "manual__first", **params)
    (held,) = demo_pipeline.store.find()
    with pytest.raises(AirflowFailException, match=f"already has open request {held.stats_id}"):
        run_intake(OUTPUT, "manual__second", **params)
    assert [t.stats_id for t in demo_pipeline.store.find()] == [held.stats_id]
