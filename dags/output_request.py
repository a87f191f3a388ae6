"""Output requests: intake → snapshot → checks → two officers → data owners → release → archive."""

from __future__ import annotations

from airflow.sdk import Param

from include.dag_building.request_dag import build_request_dag
from include.request_kinds import OUTPUT

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

dag = build_request_dag(
    OUTPUT,
    description="An output request from a project's Ready for Checking folder to a cleared email",
    doc_md=DOC,
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
    },
)
