"""The embedded default's Airflow auth manager: SimpleAuthManager with a narrow ``viewer``.

Officers and data owners log in as ``viewer``. Stock SimpleAuthManager 3.3 lets a viewer only
GET (``is_authorized_dag`` → ``_is_authorized(allow_get_role=VIEWER, allow_role=USER)``), so a
viewer cannot answer a Required Action (``PATCH …/hitlDetails`` needs ``PUT`` on
``HITL_DETAIL``), and role ``user`` — the next one up — may also write XCom, set task and run
states, clear tasks and trigger runs: enough to forge a sign-off (issue 10). This class grants a
viewer exactly one write, ``PUT`` on ``HITL_DETAIL`` (answering; Airflow then still checks the
user is one of the task's assigned users, ``is_authorized_hitl_task``), and takes away reads
that would show another officer's answer or more than a viewer needs: XCom values, task logs
and the audit (event) log. Its middleware empties, for a viewer, the answer (chosen option,
form input) of every HITL detail not assigned to them in Airflow's HITL reads, which Airflow
authorises per DAG only: the Required Actions pages list every officer's tasks.

This is the one module under ``include/`` that imports Airflow: Airflow loads an auth manager
by its dotted path (``AIRFLOW__CORE__AUTH_MANAGER=include.airflow_auth.SRSAuthManager``) in
every process, before plugins, and the repository root is on ``PYTHONPATH`` there. The core
never imports it.
"""

from __future__ import annotations

import json
import re
from typing import Any

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


# Airflow's REST reads of HITL details: one, one try, a run's or every run's list.
_HITL_READS = re.compile(
    r"^/api/v2/dags/[^/]+/dagRuns/[^/]+(/taskInstances/.+)?/hitlDetails(/.*)?$"
)
_NOT_YOURS = {"chosen_options": [], "params_input": {}}


def _is_viewer(user: Any) -> bool:
    role = (getattr(user, "role", None) or "").upper()
    return role == SimpleAuthManagerRole.VIEWER.name


def redact_others_answers(payload: Any, user_id: str) -> Any:
    """HITL details with the answer (option, form input) of every task not assigned to
    ``user_id`` emptied: who answered and when stay, what they answered does not."""
    items = payload.get("hitl_details") if isinstance(payload, dict) else None
    for item in items if isinstance(items, list) else [payload]:
        if not isinstance(item, dict) or not item.get("response_received"):
            continue
        assigned = {str(a.get("id")) for a in item.get("assigned_users") or []}
        if user_id not in assigned:
            item.update(_NOT_YOURS)
    return payload


class HitlAnswerRedaction:
    """ASGI middleware: a viewer reading HITL details through Airflow's API (its Required
    Actions pages do) sees the answers to their own tasks only, so one officer cannot read the
    other's outcome and guidance there. Airflow authorises HITL reads per DAG, not per task,
    so this is the only place the auth manager can narrow them."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if (
            scope.get("type") != "http"
            or scope.get("method") != "GET"
            or not _HITL_READS.match(scope.get("path", ""))
        ):
            await self.app(scope, receive, send)
            return
        user = await _user_of(scope)
        if user is not None and not _is_viewer(user):
            await self.app(scope, receive, send)
            return
        # Unresolved here but let through by Airflow (a cookie its JWTRefreshMiddleware
        # renews): fail closed, every answer emptied.
        user_id = str(user.get_id()) if user is not None else ""
        start: dict | None = None
        chunks: list[bytes] = []

        async def buffer(message: dict) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if start is not None and start.get("status") == 200:
                try:
                    body = json.dumps(redact_others_answers(json.loads(body), user_id))
                    body = body.encode()
                except ValueError:
                    pass  # not JSON: passed on unchanged
            headers = [
                (k, v) for k, v in (start or {}).get("headers", []) if k != b"content-length"
            ]
            headers.append((b"content-length", str(len(body)).encode()))
            await send(
                {**(start or {"type": "http.response.start", "status": 500}), "headers": headers}
            )
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffer)


async def _user_of(scope: dict) -> Any:
    """The user Airflow would authenticate for this request (bearer token, else the cookie)."""
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
    from airflow.api_fastapi.core_api.security import resolve_user_from_token
    from starlette.requests import Request

    request = Request(scope)
    header = request.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else None
    try:
        return await resolve_user_from_token(token or request.cookies.get(COOKIE_NAME_JWT_TOKEN))
    except Exception:  # noqa: BLE001 - not authenticated: Airflow's route answers 401 itself
        return None


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

    def get_fastapi_middlewares(self) -> list[tuple[Any, dict[str, Any]]]:
        return [*super().get_fastapi_middlewares(), (HitlAnswerRedaction, {})]
