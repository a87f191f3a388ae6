"""Who may ask for what (shared/RULES.md, "Who may ask"): each kind's eligibility rules.

Eligibility refusals carry the rule id from RULES.md and a message the requester can act on.
(What a ticket's state allows is in ``include.states``; who may sign off, ``include.permissions``;
a project's SDC parameters, ``include.projects``.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from include.registry import Project, UnknownProject

_PROJECT_TEXT = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True)
class Refusal:
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


def _live(project: Project, on: date, role: str = "") -> Refusal | None:
    which = f"{role} project {project.number}" if role else f"project {project.number}"
    if on < project.start_date:
        return Refusal(
            "project_not_live", f"{which} has not started yet (it starts on {project.start_date})"
        )
    if project.has_ended(on):
        return Refusal(
            "project_not_live",
            f"{which} ended on {project.end_date}; requests can only be made on live projects",
        )
    return None


def _named(project: Project, requester: str, role: str = "") -> Refusal | None:
    if project.is_researcher(requester):
        return None
    which = f"{role} project {project.number}" if role else f"project {project.number}"
    return Refusal("not_a_researcher", f"{requester!r} is not named as a researcher on {which}")


def output_eligibility(project: Project, requester: str, on: date) -> list[Refusal]:
    """Outputs: a named researcher on a live, full project."""
    refusals = [r for r in (_named(project, requester), _live(project, on)) if r]
    if project.kind != "full":
        refusals.append(
            Refusal(
                "outputs_need_full_project",
                f"project {project.number} is an {project.kind} project; only full projects may request outputs",
            )
        )
    return refusals


def ingest_eligibility(project: Project, requester: str, on: date) -> list[Refusal]:
    """Ingests: a named researcher on a live project of any kind."""
    return [r for r in (_named(project, requester), _live(project, on)) if r]


def transfer_eligibility(
    source: Project, destination: Project, requester: str, on: date
) -> list[Refusal]:
    """Transfers: both projects live, and the requester a named researcher on both."""
    if source.number == destination.number:
        return [Refusal("project_not_live", "a transfer needs two different projects")]
    checks = (
        _named(source, requester, "source"),
        _named(destination, requester, "destination"),
        _live(source, on, "source"),
        _live(destination, on, "destination"),
    )
    return [r for r in checks if r]


def registered_project(p: Any, project: str, role: str = "") -> Project | Refusal:
    """The registered project (``p`` a Pipeline), or the refusal saying why ``project`` names none."""
    if not _PROJECT_TEXT.match(project or ""):
        return Refusal("project_not_live", f"{project!r} is not an SRS project number")
    try:
        return p.project(project)
    except UnknownProject:
        which = f"{role} project" if role else "project"
        return Refusal("project_not_live", f"{which} {project} is not registered with the SRS")
