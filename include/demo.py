"""Demo data for the embedded default: registry, project folders, Airflow logins.

Everything here is idempotent: ``make run`` calls it on every start and it only adds what is
missing, never overwriting a researcher's folder or a password already handed out.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from include.db import session_scope
from include.registry import load
from include.registry_file import RegistryDocument, read_registry_file
from include.settings import get_settings
from include.storage import Place, get_storage

DEMO_PROJECT = "1234567"
DEMO_FOLDER = "2026_11_20_EnergyUseByTenure_v1"

_TABLE = """region,tenure,n,mean_energy_use_kwh
E12000001,Owner occupied,412,3120
E12000001,Private rented,187,2710
E12000001,Social rented,233,2650
E12000002,Owner occupied,1530,3205
E12000002,Private rented,644,2790
E12000002,Social rented,802,2600
E12000007,Owner occupied,2210,2980
E12000007,Private rented,1875,2450
E12000007,Social rented,1190,2390
"""

_CODE = """# Mean household energy use by region and tenure, 2023.
# Reads the linked Census 2021 / LFS extract prepared in Working/ and writes the table for output.
import pandas as pd

# Load the analysis extract (one row per household; no identifiers are kept in it).
households = pd.read_csv("energy_extract.csv")

# Keep complete records only: tenure and annual use must both be known.
households = households.dropna(subset=["tenure", "energy_use_kwh"])

# Count households and average their annual use in each region and tenure cell.
table = (
    households.groupby(["region", "tenure"])
    .agg(n=("energy_use_kwh", "size"), mean_energy_use_kwh=("energy_use_kwh", "mean"))
    .reset_index()
)

# Round means to the nearest kWh, as agreed in the project's SDC plan.
table["mean_energy_use_kwh"] = table["mean_energy_use_kwh"].round(0)

# Write the table for output; every cell has at least 10 households (checked above).
table.to_csv("energy_by_tenure_region.csv", index=False)
"""

_NOTES = """Supporting material (not for output).
The table energy_by_tenure_region.csv counts households per region and tenure; the smallest cell
has 187 households. Means are rounded to the nearest kWh.
"""


SIGNOFF_ROLE = "viewer"  # with include.airflow_auth.SRSAuthManager: reads, and answers HITL only


def airflow_users(doc: RegistryDocument) -> list[tuple[str, str]]:
    """SimpleAuthManager users: operations as admin, officers and data owners as ``viewer``.

    ``viewer`` is the narrowest role that can still answer a Required Action, and only with the
    SRS auth manager (include/airflow_auth.py); role ``user`` could write XCom, set task states
    and trigger runs, which forged sign-offs (issue 10). Researchers never log in to Airflow:
    they see only folders and emails.
    """
    users: dict[str, str] = {name: "admin" for name in doc.operations}
    for name in doc.officers:
        users.setdefault(name, SIGNOFF_ROLE)
    for dataset in doc.datasets:
        for owner in dataset.data_owners:
            users.setdefault(owner, SIGNOFF_ROLE)
    return sorted(users.items())


def passwords_file() -> Path:
    return get_settings().airflow_home / "simple_auth_manager_passwords.json.generated"


def ensure_passwords(usernames: list[str]) -> dict[str, str]:
    """Random demo passwords, made once per installation and kept out of the repository."""
    path = passwords_file()
    existing: dict[str, str] = {}
    if path.exists():
        existing = json.loads(path.read_text() or "{}")
    for name in usernames:
        existing.setdefault(name, secrets.token_urlsafe(9))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(existing, indent=2))
    path.chmod(0o600)
    return existing


def write_demo_request(
    storage, project: str = DEMO_PROJECT, folder: str = DEMO_FOLDER, researcher: str = "r_rahman"
) -> bool:
    """A ready-to-submit output request folder in the project's Ready for Checking/."""
    place = Place(project, "Ready for Checking", folder)
    if storage.exists(place):
        return False
    storage.write_bytes(place, "energy_by_tenure_region.csv", _TABLE.encode())
    storage.write_bytes(place, "energy_model.py", _CODE.encode())
    storage.write_bytes(place, "notes_for_officers_SUPPORTING.txt", _NOTES.encode())
    storage.write_bytes(
        place, "output_request_form.xlsx", demo_form_bytes(project, folder, researcher)
    )
    return True


def demo_form_bytes(project: str, folder: str, researcher: str = "r_rahman") -> bytes:
    """The completed output request form of the demo folder, as .xlsx bytes."""
    import tempfile

    from include.checks.request_form import FileEntry, OutputForm, write_output_form

    form = OutputForm(
        project=project,
        researcher=researcher,
        folder=folder,
        date="2026-11-20",
        context="Mean energy use by region and tenure for the project's first working paper.",
        files=[
            FileEntry(
                name="energy_by_tenure_region.csv",
                description="Households and mean annual energy use by region and tenure, 2023",
                data_and_variables="Census 2021 linked to LFS: region, tenure, energy_use_kwh",
                methodology="Counts and means of complete records; means rounded to 1 kWh",
                count_columns=["n"],
                role="output",
                sdc_applied="All cells have at least 10 households; no dominance (means of many values)",
            ),
            FileEntry(
                name="energy_model.py",
                description="Code that produced the table",
                data_and_variables="as above",
                methodology="pandas groupby",
                count_columns=[],
                role="output",
                sdc_applied="Code only; no data or results",
            ),
            FileEntry(
                name="notes_for_officers_SUPPORTING.txt",
                description="Notes for the officers",
                data_and_variables="",
                methodology="",
                count_columns=[],
                role="supporting",
                sdc_applied="Not for output",
            ),
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "output_request_form.xlsx"
        write_output_form(path, form)
        return path.read_bytes()


def init_demo(registry_path: Path) -> list[str]:
    """Load the demo registry, lay out every project's folders and the demo request folder."""
    doc = read_registry_file(registry_path)
    with session_scope(get_settings().database_url) as session:
        result = load(session, doc)
    storage = get_storage()
    for project in doc.projects:
        storage.ensure_project(project.number)
    made = write_demo_request(storage)
    ensure_passwords([u for u, _ in airflow_users(doc)])
    lines = [
        f"registry: {result.projects} projects, {result.people} people loaded from {registry_path}"
    ]
    lines.append(
        f"demo request folder: project {DEMO_PROJECT} / Ready for Checking / {DEMO_FOLDER}"
        + (" (created)" if made else " (already there)")
    )
    return lines


def login_lines(doc: RegistryDocument) -> list[str]:
    passwords = ensure_passwords([u for u, _ in airflow_users(doc)])
    lines = ["Log in at http://localhost:8080 as:"]
    for username, role in airflow_users(doc):
        lines.append(f"  {username:<16} {role:<6} password {passwords[username]}")
    lines.append(f"(passwords are kept in {passwords_file()})")
    return lines
