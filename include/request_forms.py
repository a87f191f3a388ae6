"""A request folder and its form: the folder is where it should be, and its form is complete and
agrees with the request (project, folder, destination, and the researcher making it).

The intake step checks each round with :func:`folder_and_form`, the intake sweep before it
starts a run; the readers say how each kind's form is read (outputs have the output request
form; ingests and transfers share the ingest/transfer request form).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from include.checks.ingest_form import missing_ingest_fields, read_ingest_form
from include.checks.request_form import FormError, is_form_name, missing_fields, read_output_form
from include.eligibility import Refusal
from include.storage import INGEST, Place, UnsafePath

READY = "Ready for Checking"

FormReader = Callable[[Path], tuple[Any, list[Any]]]


def read_output(local: Path) -> tuple[Any, list[Any]]:
    """The output request form and its empty required fields."""
    form = read_output_form(local)
    return form, missing_fields(form)


def read_ingest(local: Path) -> tuple[Any, list[Any]]:
    """The ingest request form and its empty required fields."""
    form = read_ingest_form(local)
    return form, missing_ingest_fields(form, transfer=False)


def read_transfer(local: Path) -> tuple[Any, list[Any]]:
    """The transfer request form (the ingest form, its destination filled in)."""
    form = read_ingest_form(local)
    return form, missing_ingest_fields(form, transfer=True)


def folder_and_form(
    p: Any,
    project: str,
    folder: str,
    *,
    area: str = READY,
    kind: str = "output",
    read_form: FormReader = read_output,
    expect: dict[str, str] | None = None,
    requester: str | None = None,
) -> list[Refusal]:
    """The folder exists in its area and holds a complete, matching request form.

    ``p`` is the Pipeline; ``kind`` names the form in refusals; ``read_form`` reads the form
    (raising FormError) and lists its empty required fields; ``expect`` maps form fields to the
    values this request needs (default: project, folder). With ``requester``, a form naming
    another researcher is refused: one researcher may not submit in another's name.
    """
    where = {INGEST: "ingest area"}.get(area, area)
    try:
        place = Place(project, area, folder)
        if not folder:
            raise UnsafePath(folder, "no folder was named")
        # A request folder that is itself a link is refused, not an error of the task.
        present = p.storage.exists(place)
    except UnsafePath as exc:
        return [Refusal("link_or_escape", f"the folder name is not acceptable: {exc}")]
    if not present:
        return [
            Refusal(
                "request_form_missing",
                f"there is no folder {folder!r} in project {project}'s {where}",
            )
        ]
    try:
        files = p.storage.list_files(place)
    except UnsafePath as exc:
        return [
            Refusal(
                "link_or_escape", f"the folder holds something that cannot be copied safely: {exc}"
            )
        ]
    forms = [f.path for f in files if is_form_name(f.path) and f.path.lower().endswith(".xlsx")]
    if not forms:
        return [
            Refusal(
                "request_form_missing",
                f"folder {folder!r} has no completed {kind} request form (an .xlsx whose name "
                "contains 'request' and 'form', made from the template)",
            )
        ]
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "form.xlsx"
        local.write_bytes(p.storage.read_bytes(place, forms[0]))
        try:
            form, missing = read_form(local)
        except FormError as exc:
            return [Refusal("request_form_incomplete", f"{forms[0]}: {exc}")]
    problems = [f"{m.sheet} sheet: {m.message}" for m in missing]
    for key, wanted in (expect or {"project": project, "folder": folder}).items():
        named = str(getattr(form, key, "") or "").strip()
        if named and named != wanted:
            label = "destination project" if key == "destination" else key
            problems.append(f"the form names {label} {named!r}, but the request is for {wanted!r}")
    if problems:
        return [Refusal("request_form_incomplete", f"{forms[0]}: {'; '.join(problems)}")]
    if requester is not None:
        other = other_researcher(p, str(getattr(form, "researcher", "") or ""), requester)
        if other:
            return [Refusal("request_form_incomplete", f"{forms[0]}: {other}")]
    return []


def other_researcher(p: Any, named: str, requester: str) -> str | None:
    """Why a form naming ``named`` cannot be ``requester``'s request, or None.

    The form may give the researcher's username or their name as the registry has it (the
    output form asks for the name, the ingest form for the username), in any case.
    """
    named = named.strip()
    if not named:
        return None  # an empty researcher field is reported as a missing field
    person = p.person(requester)
    known = {requester.casefold(), *([person.name.casefold()] if person else [])}
    if named.casefold() in known:
        return None
    return (
        f"the form names researcher {named!r}, but the request is made by {requester!r}; "
        "a researcher submits only their own requests (the researcher named on the form must "
        "submit it)"
    )
