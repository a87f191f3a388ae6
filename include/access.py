"""Who may start request runs, and who may see which request (DESIGN.md: ``access``).

One module answers "may this person do this to this request?" for the pipeline's steps, the
operator view's pages and JSON endpoints, and the links we render. Who may *sign off* (officers
independent of the project, data owners of the dataset) stays in ``include.permissions``.
"""

from __future__ import annotations

from collections.abc import Iterable

from include.registry import Person


def start_refusal(
    username: str | None, person: Person | None, service_users: Iterable[str]
) -> str | None:
    """Why ``username`` (the Airflow user who started a run) may not start request runs, or None.

    Only operations staff and the service account the sweeps and ``srs submit`` use start
    request runs; researchers never log in, officers and data owners only answer.
    """
    if not username:
        return "the run does not say which Airflow user started it"
    if username in set(service_users):
        return None
    if person is not None and person.is_operations:
        return None
    return (
        f"{username!r} may not start request runs: only SRS operations and the submission "
        "service start them (researchers submit with `srs submit` or a folder in Ready for Checking)"
    )
