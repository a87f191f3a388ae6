"""Output requests: intake → snapshot → checks → two officers → data owners → release → archive."""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, task
from airflow.task.trigger_rule import TriggerRule
from srs_signoff import SignOffOperator
from srs_tasks import REQUEST_DEFAULT_ARGS, run_step

DOC = """
### Output request (guidance section 3)

One run is one **round** of one ticket (`run_id` `STATS…-r<round>`). Start it with the
*Trigger* form (project, folder in *Ready for Checking*, researcher), with
`srs submit output --project P --folder NAME --researcher R`, or through the REST API.
A resubmission after revisions passes the ticket's STATS-ID (`srs resubmit STATS… --folder NAME_v2`).

| task | what it does |
|---|---|
| `intake` | eligibility (named researcher, live, full project), request form; a refusal is a `rejected` ticket and an email, and the run ends here |
| `snapshot` | copies the folder to `Output/<STATS-ID>/<folder>/` with a SHA-256 manifest |
| `automated_checks` | `srs check` on the snapshot; a direct identifier alerts operations |
| `officer_1`, `officer_2` | two independent officers answer in **Required Actions** |
| `officers_decision` | verifies the two answers and chooses the next step |
| `data_owner_signoff` | one task per *for approval* dataset |
| `request_revisions` | one email with all guidance; the ticket is blocked until resubmitted |
| `release` | verifies hashes and emails the output files; *for information* data owners in Bcc |
| `archive` | keeps snapshot, manifest, reports, decisions and emails; closes the ticket |

**When it stops**
- `release` failed with *release held*: the ticket is `release_held` and operations were
  emailed why (too large, a changed file). Fix the cause, then clear `release`.
- `officers_decision` failed: the answers broke the independence rules (see the ticket's
  audit trail with `srs ticket STATS…`). Nothing was released.
- Any other failure: every task can be cleared and re-run; nothing is copied or sent twice.
"""


def _pipeline():
    from include.pipeline import Pipeline

    return Pipeline()


with DAG(
    dag_id="output_request",
    description="An output request from a project's Ready for Checking folder to a cleared email",
    doc_md=DOC,
    schedule=None,
    catchup=False,
    default_args=REQUEST_DEFAULT_ARGS,
    max_active_runs=500,  # requests waiting on people never hold new ones back
    tags=["srs", "output"],
    params={
        "project": Param(
            "",
            type="string",
            title="Project number",
            description="The SRS project number, e.g. 1234567.",
        ),
        "folder": Param(
            "",
            type="string",
            title="Folder",
            description="The request folder in the project's Ready for Checking, e.g. 2024_01_16_EnergyUseModel_v1.",
        ),
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
    },
) as dag:

    @task.short_circuit(task_id="intake")
    def intake(**context) -> dict[str, Any] | None:
        """Register the ticket (or its next round) and decide eligibility; refused runs stop here."""
        from include.output_requests import intake as register

        params = context["params"]
        result = register(
            _pipeline(),
            project=params["project"],
            folder=params["folder"],
            requester=params["researcher"],
            run_id=context["run_id"],
            stats_id=params.get("stats_id") or None,
        )
        if not result.accepted:
            print(f"{result.stats_id} rejected: " + "; ".join(str(r) for r in result.reasons))
            return None
        return result.to_xcom()

    @task
    def snapshot(request: dict[str, Any]) -> dict[str, Any]:
        from include.output_requests import take_snapshot

        return run_step(take_snapshot, _pipeline(), request["stats_id"])

    @task
    def automated_checks(request: dict[str, Any], _snapshot: dict[str, Any]) -> dict[str, Any]:
        from include.output_requests import run_checks

        summary = run_step(run_checks, _pipeline(), request["stats_id"])
        return {k: summary[k] for k in ("verdict", "summary")}

    @task.branch(retries=0)
    def officers_decision(request: dict[str, Any], **context) -> str:
        from include.output_requests import Response
        from include.output_requests import officers_decision as decide

        ti = context["ti"]
        responses = [
            Response.from_payload(ti.xcom_pull(task_ids=s), s) for s in ("officer_1", "officer_2")
        ]
        outcome = run_step(decide, _pipeline(), request["stats_id"], responses)
        return {
            "release": "release",
            "data_owner": "data_owner_datasets",
            "revisions": "request_revisions",
        }[outcome]

    @task
    def data_owner_datasets(request: dict[str, Any]) -> list[str]:
        from include.output_requests import datasets_for_approval

        p = _pipeline()
        return datasets_for_approval(p.project(p.store.get(request["stats_id"]).project))

    @task.branch(retries=0)
    def data_owners_decision(request: dict[str, Any], datasets: list[str], **context) -> str:
        from include.output_requests import Response, data_owner_decision

        # One mapped sign-off per dataset, in the order data_owner_datasets returned them.
        payloads = context["ti"].xcom_pull(
            task_ids="data_owner_signoff", map_indexes=list(range(len(datasets)))
        )
        responses = [
            Response.from_payload(pl, f"data_owner_{d}", d)
            for pl, d in zip(payloads, datasets, strict=True)
        ]
        outcome = run_step(data_owner_decision, _pipeline(), request["stats_id"], responses)
        return "release" if outcome == "release" else "request_revisions"

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def request_revisions(request: dict[str, Any]) -> None:
        from include.output_requests import request_revisions as ask

        run_step(ask, _pipeline(), request["stats_id"])

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def release(request: dict[str, Any]) -> dict[str, Any]:
        from include.output_requests import release as send

        return run_step(send, _pipeline(), request["stats_id"])

    @task
    def archive(request: dict[str, Any], _released: dict[str, Any]) -> dict[str, Any]:
        from include.output_requests import archive as keep

        return run_step(keep, _pipeline(), request["stats_id"])

    request = intake()
    checks = automated_checks(request, snapshot(request))
    officers = [SignOffOperator(task_id=f"officer_{n}", role="officer", slot=n - 1) for n in (1, 2)]
    decision = officers_decision(request)
    datasets = data_owner_datasets(request)
    owners = SignOffOperator.partial(
        task_id="data_owner_signoff", role="data_owner", retries=0
    ).expand(dataset=datasets)
    owners_decision = data_owners_decision(request, datasets)
    revisions = request_revisions(request)
    released = release(request)

    checks >> officers >> decision >> [datasets, revisions, released]
    owners >> owners_decision >> [released, revisions]
    archive(request, released)
