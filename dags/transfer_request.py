"""Transfer requests: intake → snapshot from the source → checks → officer → destination Input → archive."""

from __future__ import annotations

from airflow.sdk import Param

from include.dag_building.request_dag import build_request_dag
from include.request_kinds import TRANSFER

DOC = """
### Transfer request (guidance section 4)

A transfer copies material from one SRS project to another. The researcher must be named on
**both** projects and both must be live. One run is one **round** of one ticket
(`run_id` `STATS…-r<round>`). Start it with the *Trigger* form, with
`srs submit transfer --project SOURCE --source-area Working --folder NAME --destination DEST --researcher R`,
or through the REST API. The folder holds the files and a completed ingest/transfer request form
(its *Destination project* filled in).

| task | what it does |
|---|---|
| `intake` | eligibility (both projects live, requester on both) and the form; a refusal is a `rejected` ticket and an email, and the run ends here |
| `quarantine` | copies the source folder into the ticket's archive folder with a SHA-256 manifest; the source is never modified |
| `automated_checks` | file types, identifiers, models, and **data minimisation** against the *destination's* approved variables. Blocking findings go straight to `request_revisions` |
| `officer_1`, `officer_2` | officers on neither project answer in **Required Actions**; `officer_2` skips itself unless `SRS_INGEST_OFFICERS=2` |
| `officers_decision` | verifies the answers and chooses `place` or `request_revisions` |
| `request_revisions` | one email naming every file and column to change; the ticket is blocked until resubmitted |
| `place` | copies the snapshot to the destination's `Input/<STATS-ID>/` with `manifest.json`, verifies it, emails the researcher |
| `archive` | keeps snapshot, manifest, reports, decisions and emails; closes the ticket |

**When it stops**
- `officers_decision` failed with *held (signoff_held)*: a sign-off
  task's state or result was not what Airflow recorded (set to success by hand, XCom written).
  Nothing was placed; operations were emailed who changed what. Investigate, then
  `srs reopen STATS… --reason … --by <you>` asks the sign-offs again.
- `officers_decision` failed: the answers broke the independence rules (see `srs ticket STATS…`).
  Nothing was placed.
- `place` failed: the snapshot or the copy in the destination's `Input/` did not match its
  manifest. Find out why, then clear `place`.
- Any other failure: every task can be cleared and re-run; nothing is copied or sent twice.
"""

dag = build_request_dag(
    TRANSFER,
    description="A transfer from one project's Working or Ready for Checking to another's Input",
    doc_md=DOC,
    params={
        "project": Param(
            "",
            type="string",
            title="Source project",
            description="The SRS project the files are copied from, e.g. 1234567.",
        ),
        "source_area": Param(
            "Ready for Checking",
            type="string",
            enum=["Working", "Ready for Checking"],
            title="Source area",
            description="Where the folder is in the source project: Working or Ready for Checking.",
        ),
        "folder": Param(
            "",
            type="string",
            title="Folder",
            description="The folder to transfer, e.g. 2026_03_02_LinkedExtract_v1.",
        ),
        "destination": Param(
            "",
            type="string",
            title="Destination project",
            description="The SRS project the files are copied to, e.g. 4567890.",
        ),
    },
)
