"""A project's check policy, as the checks engine and the DAGs need it."""

from __future__ import annotations

from include.checks.policy import CheckPolicy
from include.db import session_scope
from include.registry import Project, get_project
from include.settings import get_settings


def policy_of(
    project: Project, *, minimise: bool = False, max_file_bytes: int | None = None
) -> CheckPolicy:
    """The SDC parameters a request into or out of ``project`` is checked with.

    ``minimise``: data minimisation (approved variables) applies, as it does to what comes in
    (ingests and transfers, against the receiving project).
    """
    return CheckPolicy(
        threshold=project.effective_threshold,
        allowed_indirect=frozenset(project.indirect_permitted),
        approved_variables=(frozenset(project.approved_variables) if minimise else None),
        max_file_bytes=max_file_bytes or get_settings().max_file_bytes,
        rounding_base=project.effective_rounding_base,
        rounding_required=project.rounding_set,
    )


def check_policy_for(number: str) -> CheckPolicy:
    """The registered project's policy; LookupError (UnknownProject) if it is not registered."""
    with session_scope(get_settings().database_url) as session:
        return policy_of(get_project(session, number))
