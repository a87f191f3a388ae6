"""Ingest requests: intake → quarantine copy → checks → officer → place in Input → archive."""

from __future__ import annotations

from airflow.sdk import Param

from include.dag_building.request_dag import build_request_dag
from include.request_kinds import INGEST

DOC = """
### Ingest request (guidance section 4)

An ingest is material a researcher adds to their project from outside the SRS. The researcher
puts the files and a completed **ingest request form** (`include/templates/ingest_request_form.xlsx`)
in `ingest/<project>/<folder>/`. One run is one **round** of one ticket (`run_id` `STATS…-r<round>`).
Start it with the *Trigger* form, with `srs submit ingest --project P --folder NAME --researcher R`,
or through the REST API. A resubmission passes the ticket's STATS-ID (`srs resubmit`).

| task | what it does |
|---|---|
| `intake` | eligibility (named researcher on a live project, full or exploratory) and the form; a refusal is a `rejected` ticket and an email, and the run ends here |
| `quarantine` | copies the folder into the ticket's archive folder with a SHA-256 manifest, outside the project |
| `automated_checks` | file types, identifiers (direct: always blocked), models, and **data minimisation**: every file on the form, every column an approved variable of the project. Blocking findings go straight to `request_revisions` |
| `officer_1`, `officer_2` | officers independent of the project answer in **Required Actions**; `officer_2` skips itself unless `SRS_INGEST_OFFICERS=2` |
| `officers_decision` | verifies the answers and chooses `place` or `request_revisions` |
| `request_revisions` | one email naming every file and column to change; the ticket is blocked until resubmitted |
| `place` | copies the snapshot to `Input/<STATS-ID>/` with `manifest.json`, verifies it, emails the researcher, then clears the landing folder |
| `archive` | keeps snapshot, manifest, reports, decisions and emails; closes the ticket |

**When it stops**
- `officers_decision` failed with *held (signoff_held)*: a sign-off
  task's state or result was not what Airflow recorded (set to success by hand, XCom written).
  Nothing was placed; operations were emailed who changed what. Investigate, then
  `srs reopen STATS… --reason … --by <you>` asks the sign-offs again.
- `officers_decision` failed: the answers broke the independence rules (see `srs ticket STATS…`).
  Nothing was placed.
- `place` failed: the snapshot or the copy in `Input/` did not match its manifest, so nothing was
  cleared from the landing area. Find out why, then clear `place`.
- Any other failure: every task can be cleared and re-run; nothing is copied or sent twice.
"""

dag = build_request_dag(
    INGEST,
    description="An ingest from a project's landing area into its Input folder",
    doc_md=DOC,
    params={
        "project": Param(
            "",
            type="string",
            title="Project number",
            description="The SRS project the files are for, e.g. 2345678.",
        ),
        "folder": Param(
            "",
            type="string",
            title="Folder",
            description="The request folder in the project's ingest area, e.g. 2026_03_02_LookupTables_v1.",
        ),
    },
)
