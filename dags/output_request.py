"""Output requests: intake → snapshot → checks → two officers → data owners → release → archive."""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, task
from airflow.task.trigger_rule import TriggerRule
from srs_signoff import SignOffOperator
from srs_tasks import REQUEST_DEFAULT_ARGS, recorded_responses, run_step, stats_id_of

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
| `officers_decision` | takes each answer from Airflow's own record of it, verifies the two and chooses the next step |
| `data_owner_signoff` | one task per *for approval* dataset |
| `request_revisions` | one email with all guidance; the ticket is blocked until resubmitted |
| `release` | verifies hashes and emails the output files; *for information* data owners in Bcc |
| `archive` | keeps snapshot, manifest, reports, decisions and emails; closes the ticket |

**When it stops**
- `release` failed with *release held*: the ticket is `release_held` and operations were
  emailed why (too large, a changed file). Fix the cause, then clear `release`.
- `officers_decision` or `data_owners_decision` failed with *held (signoff_held)*: a sign-off
  task's state or result was not what Airflow recorded (set to success by hand, XCom written).
  Nothing was released; operations were emailed who changed what. Investigate, then
  `srs reopen STATS… --reason … --by <you>` asks the sign-offs again.
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
        result = run_step(
            register,
            _pipeline(),
            project=params["project"],
            folder=params["folder"],
            requester=params["researcher"],
            run_id=context["run_id"],
            stats_id=params.get("stats_id") or None,
            # Who started the run, as Airflow authenticated them (not a conf field).
            started_by=context["dag_run"].triggering_user_name,
        )
        if not result.accepted:
            print(f"{result.stats_id} rejected: " + "; ".join(str(r) for r in result.reasons))
            return None
        return result.to_xcom()

    # Every task below acts on the ticket whose round this run is (stats_id_of reads the
    # ticket store); ``request`` only orders the tasks, an XCom being writable by users.
    @task
    def snapshot(_request: dict[str, Any], **context) -> dict[str, Any]:
        from include.output_requests import take_snapshot

        return run_step(take_snapshot, _pipeline(), stats_id_of(context))

    @task
    def automated_checks(_request: dict[str, Any], _snapshot: dict[str, Any], **context) -> dict[str, Any]:
        from include.output_requests import run_checks

        summary = run_step(run_checks, _pipeline(), stats_id_of(context))
        return {k: summary[k] for k in ("verdict", "summary")}

    @task.branch(retries=0)
    def officers_decision(_request: dict[str, Any], **context) -> str:
        from include.output_requests import officers_decision as decide

        stats_id = stats_id_of(context)
        steps = [(s, -1, s, None) for s in ("officer_1", "officer_2")]
        responses = recorded_responses(context, stats_id, steps)
        outcome = run_step(decide, _pipeline(), stats_id, responses)
        return {
            "release": "release",
            "data_owner": "data_owner_datasets",
            "revisions": "request_revisions",
        }[outcome]

    @task
    def data_owner_datasets(_request: dict[str, Any], **context) -> list[str]:
        from include.output_requests import datasets_for_approval

        p = _pipeline()
        return datasets_for_approval(p.project(p.store.get(stats_id_of(context)).project))

    @task.branch(retries=0)
    def data_owners_decision(_request: dict[str, Any], **context) -> str:
        from include.output_requests import data_owner_decision, datasets_for_approval

        p, stats_id = _pipeline(), stats_id_of(context)
        # One mapped sign-off per dataset, in the order data_owner_datasets returned them (read
        # again from the registry, not from that task's XCom).
        datasets = datasets_for_approval(p.project(p.store.get(stats_id).project))
        steps = [("data_owner_signoff", i, f"data_owner_{d}", d) for i, d in enumerate(datasets)]
        responses = recorded_responses(context, stats_id, steps)
        outcome = run_step(data_owner_decision, p, stats_id, responses)
        return "release" if outcome == "release" else "request_revisions"

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def request_revisions(_request: dict[str, Any], **context) -> None:
        from include.output_requests import request_revisions as ask

        run_step(ask, _pipeline(), stats_id_of(context))

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def release(_request: dict[str, Any], **context) -> dict[str, Any]:
        from include.output_requests import release as send

        return run_step(send, _pipeline(), stats_id_of(context))

    @task
    def archive(_request: dict[str, Any], _released: dict[str, Any], **context) -> dict[str, Any]:
        from include.output_requests import archive as keep

        return run_step(keep, _pipeline(), stats_id_of(context))

    request = intake()
    checks = automated_checks(request, snapshot(request))
    officers = [SignOffOperator(task_id=f"officer_{n}", role="officer", slot=n - 1) for n in (1, 2)]
    decision = officers_decision(request)
    datasets = data_owner_datasets(request)
    owners = SignOffOperator.partial(task_id="data_owner_signoff", role="data_owner").expand(
        dataset=datasets
    )
    owners_decision = data_owners_decision(request)
    datasets >> owners_decision
    revisions = request_revisions(request)
    released = release(request)

    checks >> officers >> decision >> [datasets, revisions, released]
    owners >> owners_decision >> [released, revisions]
    archive(request, released)
