"""A small client of Airflow's REST API, for `srs submit` / `srs resubmit` and the sweeps.

It speaks HTTP only (httpx), so the core still imports without Airflow.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from include.settings import Settings


class AirflowAPIError(RuntimeError):
    """Airflow refused or could not be reached; the message says what to do."""


class RunExists(AirflowAPIError):
    """Airflow already has a run with this id (409): it was started before, by whoever."""

    def __init__(self, dag_id: str, run_id: str) -> None:
        super().__init__(f"{dag_id} run {run_id} already exists")
        self.dag_id, self.run_id = dag_id, run_id


class AirflowAPI:
    def __init__(
        self, settings: Settings, username: str | None = None, password: str | None = None
    ) -> None:
        self.base_url = settings.api_base_url
        self.username = username or settings.api_user
        self.password = (
            password
            if password is not None
            else settings.api_password or _embedded_password(settings, self.username)
        )
        self._token: str | None = None

    def _auth(self) -> dict[str, str]:
        if self._token is None:
            try:
                r = httpx.post(
                    f"{self.base_url}/auth/token",
                    json={"username": self.username, "password": self.password},
                    timeout=30,
                )
            except httpx.HTTPError as exc:
                raise AirflowAPIError(f"cannot reach Airflow at {self.base_url}: {exc}") from None
            if r.status_code not in (200, 201):
                raise AirflowAPIError(
                    f"Airflow refused the login of {self.username!r} ({r.status_code}); "
                    "set SRS_API_USER and SRS_API_PASSWORD"
                )
            self._token = r.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def trigger(
        self, dag_id: str, run_id: str, conf: dict[str, Any], logical_date: datetime | None = None
    ) -> dict[str, Any]:
        """Start a run. A run id is unique in Airflow: if it exists already, ``RunExists``
        (a run is never started twice; the caller decides whether that is news)."""
        body = {
            "dag_run_id": run_id,
            "logical_date": (logical_date or datetime.now(UTC)).isoformat(),
            "conf": conf,
        }
        try:
            r = httpx.post(
                f"{self.base_url}/api/v2/dags/{dag_id}/dagRuns",
                json=body,
                headers=self._auth(),
                timeout=30,
            )
        except httpx.HTTPError as exc:
            raise AirflowAPIError(f"cannot reach Airflow at {self.base_url}: {exc}") from None
        if r.status_code == 409:
            raise RunExists(dag_id, run_id)
        if r.status_code >= 400:
            raise AirflowAPIError(
                f"Airflow refused to start {dag_id} run {run_id}: {r.status_code} {r.text}"
            )
        return r.json()

    # --- the project-closure sweep: finishing a run whose ticket was closed --------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return httpx.request(
                method,
                f"{self.base_url}/api/v2{path}",
                headers=self._auth(),
                timeout=30,
                **kwargs,
            )
        except httpx.HTTPError as exc:
            raise AirflowAPIError(f"cannot reach Airflow at {self.base_url}: {exc}") from None

    def waiting_tasks(self, dag_id: str, run_id: str) -> list[dict[str, Any]] | None:
        """Task instances of a run waiting on people (Required Actions); None if no such run."""
        r = self._call(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
            params={"state": ["awaiting_input", "deferred"], "limit": 100},
        )
        if r.status_code == 404:
            return None
        if r.status_code >= 400:
            raise AirflowAPIError(
                f"cannot list the tasks of {dag_id} run {run_id}: {r.status_code} {r.text}"
            )
        return [
            {"task_id": ti["task_id"], "map_index": ti["map_index"], "state": ti["state"]}
            for ti in r.json()["task_instances"]
        ]

    def skip_task(self, dag_id: str, run_id: str, task_id: str, map_index: int, note: str) -> None:
        """Set one task instance and everything downstream of it to ``skipped``, with a note.

        Downstream too: a task whose trigger rule lets it run after skipped upstreams (e.g.
        ``none_failed_min_one_success``) must not run for a ticket that was closed.
        """
        r = self._call(
            "PATCH",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}",
            json={"new_state": "skipped", "note": note[:1000], "include_downstream": True},
        )
        if r.status_code == 409:  # already skipped
            return
        if r.status_code >= 400:
            raise AirflowAPIError(
                f"cannot skip {task_id}[{map_index}] of {dag_id} run {run_id}: {r.status_code} {r.text}"
            )

    # --- sign-offs: what Airflow itself recorded (never a task's XCom or state) --------------

    def _get_json(self, path: str, what: str, **params: Any) -> dict[str, Any] | None:
        """GET one resource; None if Airflow has no such thing (404)."""
        r = self._call("GET", path, params=params or None)
        if r.status_code == 404:
            return None
        if r.status_code >= 400:
            raise AirflowAPIError(f"cannot read {what}: {r.status_code} {r.text}")
        return r.json()

    def task_instance(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1
    ) -> dict[str, Any] | None:
        """A task instance's current state and try number; None if there is no such instance."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        if map_index >= 0:
            path += f"/{map_index}"
        return self._get_json(path, f"task {task_id}[{map_index}] of {dag_id} run {run_id}")

    def hitl_detail(
        self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int
    ) -> dict[str, Any] | None:
        """The Human-in-the-loop record of one try of a task (who Airflow authenticated as the
        responder, the option, the form input, when); None if that try asked nobody."""
        return self._get_json(
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}"
            f"/hitlDetails/tries/{try_number}",
            f"the sign-off record of {task_id}[{map_index}] try {try_number} of {run_id}",
        )

    def run_changes(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Who changed what in a run through Airflow (its audit log: state changes, XCom
        writes, answers), oldest first."""
        # Filtered by run in the query: a busy DAG's log holds far more than one page.
        found = self._get_json(
            "/eventLogs",
            f"the event log of {dag_id} run {run_id}",
            dag_id=dag_id,
            run_id=run_id,
            order_by="-when",
            limit=500,
        )
        events = [
            {k: e.get(k) for k in ("when", "owner", "event", "task_id", "map_index", "extra")}
            for e in (found or {}).get("event_logs", [])
        ]
        return events[::-1]

    def set_task_note(
        self, dag_id: str, run_id: str, task_id: str, map_index: int, note: str
    ) -> None:
        """Set a task instance's note, which Airflow shows on the task's pages."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        if map_index >= 0:
            path += f"/{map_index}"
        r = self._call("PATCH", path, params={"update_mask": "note"}, json={"note": note[:1000]})
        if r.status_code >= 400:
            raise AirflowAPIError(
                f"cannot set the note of {task_id}[{map_index}] of {run_id}: {r.status_code} {r.text}"
            )

    def clear_tasks(self, dag_id: str, run_id: str, task_ids: list[str]) -> None:
        """Clear tasks of a run and everything downstream of them, so they run again."""
        r = self._call(
            "POST",
            f"/dags/{dag_id}/clearTaskInstances",
            json={
                "dag_run_id": run_id,
                "task_ids": task_ids,
                "dry_run": False,
                "only_failed": False,
                "include_downstream": True,
                "reset_dag_runs": True,
            },
        )
        if r.status_code >= 400:
            raise AirflowAPIError(
                f"cannot clear {task_ids} of {dag_id} run {run_id}: {r.status_code} {r.text}"
            )

    def set_run_note(self, dag_id: str, run_id: str, note: str) -> bool:
        """Set a run's note (shown in the UI); False if there is no such run."""
        r = self._call(
            "PATCH",
            f"/dags/{dag_id}/dagRuns/{run_id}",
            params={"update_mask": "note"},
            json={"note": note[:1000]},
        )
        if r.status_code == 404:
            return False
        if r.status_code >= 400:
            raise AirflowAPIError(
                f"cannot set the note of {dag_id} run {run_id}: {r.status_code} {r.text}"
            )
        return True


def _embedded_password(settings: Settings, username: str) -> str:
    """On the embedded default, the demo passwords file made by `srs demo init`."""
    path = settings.airflow_home / "simple_auth_manager_passwords.json.generated"
    try:
        return json.loads(path.read_text()).get(username, "")
    except (OSError, ValueError):
        return ""
