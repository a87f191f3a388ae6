"""Every DAG imports, parses fast without heavy imports, and tells operators what it does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
HEAVY = (
    "great_expectations",
    "pandas",
    "openpyxl",
    "boto3",
    "include.checks.tabular",
    "sqlalchemy.orm",
)


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS))
    assert bag.import_errors == {}, bag.import_errors
    return bag


def test_expected_dags_are_present(dagbag):
    assert "output_request" in dagbag.dags
    assert {"ingest_request", "transfer_request"} <= set(dagbag.dags)


def test_every_dag_has_docs_tags_owner_and_params(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.doc_md and "When it stops" in dag.doc_md, dag_id
        assert "srs" in dag.tags, dag_id
        for t in dag.tasks:
            assert t.owner == "srs-operations", (dag_id, t.task_id)
        for name, param in dag.params.items():
            assert param.description, f"{dag_id} param {name} has no description"


def test_retries_where_safe_and_none_on_decisions(dagbag):
    # Sign-offs retry: a retry takes the answer Airflow already recorded instead of asking
    # again, so a try failed after the answer (Airflow 3.3's park race) never strands a ticket.
    dag = dagbag.dags["output_request"]
    for t in dag.tasks:
        if t.task_id in ("officers_decision", "data_owners_decision"):
            assert t.retries == 0, t.task_id
        else:
            assert t.retries >= 1, t.task_id


@pytest.mark.parametrize("dag_id", ["output_request", "ingest_request", "transfer_request"])
def test_sign_off_forms_reach_the_required_action(dagbag, dag_id):
    """The form Airflow shows is the task's params: DAG params must not displace them."""
    dag = dagbag.dags[dag_id]
    officer = dag.get_task("officer_1")
    form = officer.serialized_params
    assert list(form) == ["guidance", "exemption"]
    assert form["guidance"]["schema"]["title"] == "Guidance for the researcher"
    assert all(f["schema"]["format"] == "multiline" and f["description"] for f in form.values())
    # Optional in Airflow's form (else its option buttons stay disabled until every box is filled).
    assert all(f["schema"]["type"] == ["string", "null"] and f["value"] is None for f in form.values())



def test_sign_off_form_of_a_data_owner_and_per_file_boxes():
    from airflow.sdk import DAG, Param

    from include.dag_building.signoff_operator import SignOffOperator, signoff_params

    with DAG("form_probe", params={"project": Param("", type="string")}):
        owner = SignOffOperator(task_id="owner", role="data_owner")
    assert list(owner.serialized_params) == ["guidance"]
    boxes = signoff_params("officer", ["a.csv", "sub/b.xlsx"])
    assert list(boxes) == ["guidance", "file_1", "file_2", "exemption"]
    assert boxes["file_2"].schema["title"] == "Changes to sub/b.xlsx"


@pytest.mark.parametrize("dag_id", ["ingest_request", "transfer_request"])
def test_incoming_request_shape_and_retries(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag_id.split("_")[0] in dag.tags and dag.max_active_runs >= 100
    down = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    assert down["quarantine"] == ["automated_checks"]
    assert down["automated_checks"] == ["officer_1", "officer_2", "request_revisions"]
    assert down["officer_1"] == down["officer_2"] == ["officers_decision"]
    assert down["officers_decision"] == ["place", "request_revisions"]
    assert down["place"] == ["archive"]
    assert [dag.get_task(t).slot for t in ("officer_1", "officer_2")] == [0, 1]
    for t in dag.tasks:
        if t.task_id == "officers_decision":
            assert t.retries == 0, t.task_id
        else:
            assert t.retries >= 1, t.task_id
    expected = {"project", "folder", "researcher", "stats_id"}
    if dag_id == "transfer_request":
        expected |= {"source_area", "destination"}
    assert set(dag.params) == expected


def test_output_request_shape(dagbag):
    dag = dagbag.dags["output_request"]
    down = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    assert down["automated_checks"] == ["officer_1", "officer_2"]
    assert down["officer_1"] == down["officer_2"] == ["officers_decision"]
    assert down["officers_decision"] == ["data_owner_datasets", "release", "request_revisions"]
    assert down["release"] == ["archive"]
    assert dag.max_active_runs >= 100
    officers = [dag.get_task("officer_1"), dag.get_task("officer_2")]
    assert [o.slot for o in officers] == [0, 1]


def test_sweeps_are_scheduled_one_at_a_time(dagbag):
    from datetime import timedelta

    intake, closure = dagbag.dags["intake_sweep"], dagbag.dags["project_closure_sweep"]
    assert intake.schedule == timedelta(minutes=5)
    assert closure.schedule == "@daily"
    for dag in (intake, closure):
        assert dag.catchup is False and dag.max_active_runs == 1, dag.dag_id
        assert "sweep" in dag.tags and [t.task_id for t in dag.tasks] == ["sweep"]
        assert dag.get_task("sweep").retries >= 1


def test_dag_files_parse_fast_without_heavy_imports():
    # In a fresh interpreter: import Airflow first (its cost is not ours), then time our files.
    code = f"""
import json, sys, time
import airflow.sdk
from airflow.dag_processing.dagbag import DagBag
before = set(sys.modules)
start = time.perf_counter()
bag = DagBag({str(DAGS)!r})
elapsed = time.perf_counter() - start
print(json.dumps({{"elapsed": elapsed, "errors": {{k: str(v) for k, v in bag.import_errors.items()}},
                  "new": sorted(set(sys.modules) - before)}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": f"{REPO}:{REPO / 'plugins'}"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    heavy = [m for m in result["new"] if m.startswith(HEAVY)]
    assert heavy == [], f"DAG parsing imported heavy modules: {heavy[:10]}"
    assert result["elapsed"] < 5, f"parsing the DAG files took {result['elapsed']:.1f}s"


def test_request_dags_serialize_with_receipt_order_priority(dagbag):
    from airflow.serialization.serialized_objects import DagSerialization

    for dag_id in ("output_request", "ingest_request", "transfer_request"):
        dag = dagbag.dags[dag_id]
        restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
        officer = restored.get_task("officer_1")
        assert type(officer.weight_rule).__name__ == "ReceiptOrder", dag_id


def test_mapped_sign_off_keeps_receipt_order_through_serialization(dagbag):
    from airflow.serialization.serialized_objects import DagSerialization

    restored = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags["output_request"]))
    mapped = restored.get_task("data_owner_signoff")
    assert type(mapped.weight_rule).__name__ == "ReceiptOrder"


@pytest.mark.parametrize(
    ("dag_id", "rules"),
    [
        (
            "output_request",
            {"officers_decision": "all_success", "release": "none_failed_min_one_success"},
        ),
        # officer_2 may skip itself; place follows one decision only, so it skips when that
        # decision sent the request back (or the checks did, skipping the decision).
        (
            "ingest_request",
            {"officers_decision": "none_failed_min_one_success", "place": "all_success"},
        ),
        (
            "transfer_request",
            {"officers_decision": "none_failed_min_one_success", "place": "all_success"},
        ),
    ],
)
def test_trigger_rules_after_the_branches(dagbag, dag_id, rules):
    dag = dagbag.dags[dag_id]
    assert {t: dag.get_task(t).trigger_rule.value for t in rules} == rules
    assert dag.get_task("request_revisions").trigger_rule.value == "none_failed_min_one_success"
