"""SRS sign-off: Airflow's Human-in-the-loop operator, asking the person the ticket names.

Who is asked, and what they read, is decided when the task runs (the officers were assigned at
intake; the body summarises that round's automated checks), so one DAG serves every request.
An answer that breaks the rules (revisions without guidance, a pass over blocking findings
without an exemption) is not accepted: it is recorded, and the same person is asked again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param

from include.signoffs import DATA_OWNER_OPTIONS, OFFICER_OPTIONS

ROLES = ("officer", "data_owner")


def signoff_params(role: str) -> dict[str, Param]:
    params = {
        "guidance": Param(
            "",
            type="string",
            title="Guidance for the researcher",
            description="Required for 'Request revisions' and 'Query researcher': what to change or explain.",
        )
    }
    if role == "officer":
        params["exemption"] = Param(
            "",
            type="string",
            title="Exemption reason",
            description="Required to pass a request whose automated checks found blocking issues.",
        )
    return params


class SignOffOperator(HITLOperator):
    """One SRS sign-off (officer or data owner) of the ticket created by the ``intake`` task."""

    ui_color = "#ffe8b3"

    def __init__(
        self,
        *,
        role: str,
        slot: int = 0,
        dataset: str | None = None,
        intake_task_id: str = "intake",
        **kwargs: Any,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        kwargs.setdefault("subject", "SRS sign-off")
        kwargs.setdefault(
            "options", list(OFFICER_OPTIONS if role == "officer" else DATA_OWNER_OPTIONS)
        )
        kwargs.setdefault("params", signoff_params(role))
        kwargs.setdefault("retries", 0)  # a retry would ask the person again for nothing
        super().__init__(**kwargs)
        self.role = role
        self.slot = slot
        self.dataset = dataset
        self.intake_task_id = intake_task_id

    def _stats_id(self, context: Any) -> str:
        return context["ti"].xcom_pull(task_ids=self.intake_task_id)["stats_id"]

    def execute(self, context: Any) -> Any:
        from airflow.sdk.execution_time.hitl import HITLUser

        from include import output_requests as out
        from include.pipeline import Pipeline

        p = Pipeline()
        stats_id = self._stats_id(context)
        ticket = p.store.get(stats_id)
        if ticket.state == "closed_project_ended":  # the closure sweep got there first: ask nobody
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(
                f"{stats_id} was closed: project {ticket.project} has ended; nothing to sign off"
            )
        if self.role == "officer" and self.slot >= len(p.store.get(stats_id).assigned_officers):
            # Ingests and transfers may need one officer only (SRS_INGEST_OFFICERS).
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(f"{stats_id} needs no officer {self.slot + 1}")
        if self.role == "officer":
            request = out.officer_request(p, stats_id, self.slot)
        else:
            request = out.data_owner_request(p, stats_id, self.dataset or "")
        self.subject, self.body = request.subject, request.body
        self.assigned_users = [HITLUser(id=user, name=name) for user, name in request.assignees]
        p.store.append_audit(
            stats_id,
            actor="pipeline",
            action="signoff_requested",
            details={"step": self._step, "assigned": [u for u, _ in request.assignees]},
        )
        return super().execute(context)

    @property
    def _step(self) -> str:
        return f"data_owner_{self.dataset}" if self.role == "data_owner" else self.task_id

    def validate_params_input(self, params_input: Mapping) -> None:
        # Airflow refuses a form whose keys differ from the params; a REST client may send only
        # the fields it fills in, which is fine: missing text is judged by validate_response.
        for key, value in params_input.items():
            if key in self.params:
                self.params[key] = value

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        if "error" in event:
            return super().execute_complete(context, event)
        from include.pipeline import Pipeline
        from include.signoffs import validate_response

        chosen = event.get("chosen_options") or []
        params_input = event.get("params_input") or {}
        option = chosen[0] if len(chosen) == 1 else ""
        p = Pipeline()
        stats_id = self._stats_id(context)
        ticket = p.store.get(stats_id)
        blocking = 0
        if self.role == "officer":
            blocking = (
                ticket.details.get(f"checks_r{ticket.round}", {})
                .get("summary", {})
                .get("blocking", 0)
            )
        problem = "choose exactly one option" if not option else None
        problem = problem or validate_response(
            option,
            str(params_input.get("guidance") or ""),
            str(params_input.get("exemption") or ""),
            blocking=blocking,
        )
        if problem or option not in self.options:
            user = (event.get("responded_by_user") or {}).get("id")
            problem = problem or f"{option!r} is not one of {self.options}"
            self.log.warning("Answer from %s not accepted (%s); asking again.", user, problem)
            p.store.append_audit(
                stats_id,
                actor=str(user or "unknown"),
                action="signoff_answer_refused",
                details={"step": self._step, "option": option, "reason": problem},
            )
            # Clearing the answer and waiting again puts the task back in Required Actions.
            return self.execute(context)
        return super().execute_complete(context, event)
