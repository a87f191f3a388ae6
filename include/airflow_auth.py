"""The embedded default's Airflow auth manager: SimpleAuthManager with a narrow ``viewer``.

Officers and data owners log in as ``viewer``. Stock SimpleAuthManager 3.3 lets a viewer only
GET (``is_authorized_dag`` → ``_is_authorized(allow_get_role=VIEWER, allow_role=USER)``), so a
viewer cannot answer a Required Action (``PATCH …/hitlDetails`` needs ``PUT`` on
``HITL_DETAIL``), and role ``user`` — the next one up — may also write XCom, set task and run
states, clear tasks and trigger runs: enough to forge a sign-off (issue 10). This class grants a
viewer exactly one write, ``PUT`` on ``HITL_DETAIL`` (answering; Airflow then still checks the
user is one of the task's assigned users, ``is_authorized_hitl_task``), and takes away reads
that would show another officer's answer or more than a viewer needs: XCom values, task logs
and the audit (event) log.

This is the one module under ``include/`` that imports Airflow: Airflow loads an auth manager
by its dotted path (``AIRFLOW__CORE__AUTH_MANAGER=include.airflow_auth.SRSAuthManager``) in
every process, before plugins, and the repository root is on ``PYTHONPATH`` there. The core
never imports it.
"""

from __future__ import annotations

from airflow.api_fastapi.auth.managers.models.resource_details import (
    DagAccessEntity,
    DagDetails,
)
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import (
    SimpleAuthManager,
    SimpleAuthManagerRole,
)
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

# Reads a viewer does not get: sign-off tasks' XCom and logs carry the answer, and the event
# log keeps every request body (an officer's chosen option and guidance among them).
HIDDEN_FROM_VIEWERS = frozenset(
    {DagAccessEntity.XCOM, DagAccessEntity.TASK_LOGS, DagAccessEntity.AUDIT_LOG}
)


def _is_viewer(user: SimpleAuthManagerUser) -> bool:
    role = (user.role or "").upper()
    return role == SimpleAuthManagerRole.VIEWER.name


class SRSAuthManager(SimpleAuthManager):
    """SimpleAuthManager whose ``viewer`` may answer its own Required Actions and no more."""

    def is_authorized_dag(
        self,
        *,
        method: str,
        user: SimpleAuthManagerUser,
        access_entity: DagAccessEntity | None = None,
        details: DagDetails | None = None,
    ) -> bool:
        if _is_viewer(user):
            if access_entity is DagAccessEntity.HITL_DETAIL:
                # GET lists Required Actions; PUT answers one (assigned users only, see above).
                return method in ("GET", "PUT")
            if access_entity in HIDDEN_FROM_VIEWERS:
                return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )
