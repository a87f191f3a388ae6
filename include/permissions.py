"""Who may act on a request: officers and data owners (DESIGN.md principle 3).

Independence of the two officers is built in when they are assigned (``assign_officers``) and
verified again when their answers come back (``verify_officer_responses``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from include.registry import Dataset, Person, Project


class NotPermitted(PermissionError):
    """Someone acted who may not; the message names who and why."""


def officer_refusal(
    person: Person | None, project: Project, username: str, also: Sequence[Project] = ()
) -> str | None:
    """Why ``username`` may not check a request of ``project`` (and of ``also``: a transfer's
    destination), or None."""
    if person is None or not person.is_officer:
        return f"{username!r} is not an SRS officer"
    for involved in (project, *also):
        if involved.is_researcher(username):
            return f"{username!r} is a researcher on project {involved.number} and cannot check its requests"
    return None


def eligible_officers(
    officers: Sequence[Person], project: Project, also: Sequence[Project] = ()
) -> list[Person]:
    return [o for o in officers if officer_refusal(o, project, o.username, also) is None]


def assign_officers(
    officers: Sequence[Person],
    project: Project,
    load: Mapping[str, int],
    count: int = 2,
    also: Sequence[Project] = (),
) -> list[str]:
    """The ``count`` least-loaded officers who are not on the project (nor ``also``), all different."""
    pool = eligible_officers(officers, project, also)
    if len(pool) < count:
        raise NotPermitted(
            f"only {len(pool)} officer(s) are independent of project {project.number}; {count} are needed"
        )
    ranked = sorted(pool, key=lambda o: (load.get(o.username, 0), o.username))
    return [o.username for o in ranked[:count]]


def verify_officer_responses(
    responders: Sequence[str],
    officers: Sequence[Person],
    project: Project,
    also: Sequence[Project] = (),
) -> None:
    """Raise NotPermitted unless every responder is a distinct officer independent of the project."""
    by_name = {o.username: o for o in officers}
    for username in responders:
        reason = officer_refusal(by_name.get(username), project, username, also)
        if reason:
            raise NotPermitted(reason)
    if len(set(responders)) != len(responders):
        raise NotPermitted(
            f"the sign-offs were not independent: {', '.join(responders)} answered more than one"
        )


def verify_data_owner(username: str, dataset: Dataset) -> None:
    if username not in {p.username for p in dataset.data_owners}:
        raise NotPermitted(f"{username!r} is not a data owner of dataset {dataset.name}")
