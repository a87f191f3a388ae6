"""SRS sign-off: Airflow's Human-in-the-loop operator, asking the person the ticket names.

Who is asked, and what they read, is decided when the task runs (the officers were assigned at
intake; the body summarises that round's automated checks), so one DAG serves every request.
The form has a guidance box for the researcher, one box per file of the request, and (for
officers) an exemption reason. An answer that breaks the rules (revisions without guidance, a
pass over blocking findings without an exemption) is not accepted: it is recorded, and the same
person is asked again, the reason shown as the task's note.

The decision steps never read this task's XCom or state: they read Airflow's own record of the
answer (``include.signoff_record``). A try that fails after an answer was recorded (Airflow 3.3
can fail a task answered within moments of parking) is retried, and the retry takes the answer
already recorded instead of asking again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param
from airflow.sdk.definitions.param import ParamsDict

from include.signoff_record import FILE_FIELD, FILE_TITLE, parse_time
from include.signoffs import DATA_OWNER_OPTIONS, OFFICER_OPTIONS

ROLES = ("officer", "data_owner")
MAX_FILE_FIELDS = 40  # beyond this, the officer names files in the general guidance
REFUSED = "Your answer was not accepted:"


def _text_field(title: str, description: str) -> Param:
    # source="task": HITLOperator shows only task-level params (DAG params are filtered out).
    # "null" allowed: Airflow's form treats a plain string field as required and keeps the
    # option buttons disabled until every box is filled; what an answer needs is ours to judge.
    return Param(
        None,
        type=["string", "null"],
        format="multiline",
        title=title,
        description=description,
        source="task",
    )


def signoff_params(role: str, files: Sequence[str] = ()) -> dict[str, Param]:
    """The Required Action form: guidance, one box per file (officers), exemption (officers)."""
    params = {
        "guidance": _text_field(
            "Guidance for the researcher",
            "Required for 'Request revisions' and 'Query researcher' (here or per file below): "
            "what to change or explain. The researcher receives it by email.",
        )
    }
    if role != "officer":
        return params
    for n, path in enumerate(files[:MAX_FILE_FIELDS], 1):
        params[f"{FILE_FIELD}{n}"] = _text_field(
            f"{FILE_TITLE}{path}",
            "What the researcher must change in this file. Leave empty if nothing.",
        )
    params["exemption"] = _text_field(
        "Exemption reason",
        "Required to pass a request whose automated checks found blocking issues: which "
        "finding you exempt, and why it is safe to release.",
    )
    return params


class SignOffOperator(HITLOperator):
    """One SRS sign-off (officer or data owner) of the ticket whose round this run is."""

    ui_color = "#ffe8b3"

    def __init__(
        self,
        *,
        role: str,
        slot: int = 0,
        dataset: str | None = None,
        **kwargs: Any,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        kwargs.setdefault("subject", "SRS sign-off")
        kwargs.setdefault(
            "options", list(OFFICER_OPTIONS if role == "officer" else DATA_OWNER_OPTIONS)
        )
        # Always ours: Airflow hands every task the DAG's params, which a HITL form drops.
        kwargs["params"] = signoff_params(role)
        # A retry never asks again for an answer already recorded (see execute).
        kwargs.setdefault("retries", 2)
        kwargs.setdefault("retry_delay", timedelta(seconds=10))
        super().__init__(**kwargs)
        self.role = role
        self.slot = slot
        self.dataset = dataset
        self._refused: str | None = None

    @property
    def _step(self) -> str:
        return f"data_owner_{self.dataset}" if self.role == "data_owner" else self.task_id

    def execute(self, context: Any) -> Any:
        from airflow.sdk.exceptions import AirflowSkipException
        from airflow.sdk.execution_time.hitl import HITLUser

        from include import request_steps as steps
        from include.pipeline import Pipeline
        from include.states import TicketState

        p = Pipeline()
        ticket = steps.ticket_of_run(p, context["run_id"])
        stats_id = ticket.stats_id
        if ticket.state == TicketState.CLOSED_PROJECT_ENDED:  # the closure sweep got there first
            raise AirflowSkipException(
                f"{stats_id} was closed: project {ticket.project} has ended; nothing to sign off"
            )
        if self.role == "officer" and self.slot >= len(ticket.assigned_officers):
            # Ingests and transfers may need one officer only (SRS_INGEST_OFFICERS).
            raise AirflowSkipException(f"{stats_id} needs no officer {self.slot + 1}")
        earlier = self._answer_of_earlier_try(p, context)
        if earlier is not None:
            return self.execute_complete(context, earlier)
        if self.role == "officer":
            request = steps.officer_request(p, stats_id, self.slot)
        else:
            request = steps.data_owner_request(p, stats_id, self.dataset or "")
        self.params = ParamsDict(signoff_params(self.role, request.files))
        self.subject, self.body = request.subject, request.body
        self.assigned_users = [HITLUser(id=user, name=name) for user, name in request.assignees]
        p.store.append_audit(
            stats_id,
            actor="pipeline",
            action="signoff_requested",
            details={
                "step": self._step,
                "assigned": [u for u, _ in request.assignees],
                "try": context["ti"].try_number,
                **({"asked_again_because": self._refused} if self._refused else {}),
            },
        )
        self._notify(p, ticket, request, context)
        return super().execute(context)

    def _notify(self, p: Any, ticket: Any, request: Any, context: Any) -> None:
        from include.signoff_notices import notify_waiting

        notify_waiting(
            p,
            ticket,
            step=self._step,
            assignees=request.assignees,
            action_url=self.generate_link_to_ui_from_context(
                context=context, base_url=p.settings.api_base_url
            ),
            subject=request.subject,
        )

    def _answer_of_earlier_try(self, p: Any, context: Any) -> dict[str, Any] | None:
        """The answer Airflow recorded for an earlier try of this task, as a resume event.

        On a retry the task instance keeps its Human-in-the-loop record until this try asks
        again, so an answer recorded just before the last try failed is still there.
        """
        ti = context["ti"]
        if ti.try_number <= 1 or self._refused:  # first try, or asking again in this one
            return None
        from include.airflow_api import AirflowAPI

        api = AirflowAPI(p.settings)
        for try_number in range(ti.try_number, 0, -1):
            detail = api.hitl_detail(ti.dag_id, ti.run_id, ti.task_id, ti.map_index, try_number)
            if detail and detail.get("response_received"):
                self.log.info(
                    "Taking the answer %s recorded before try %s failed.",
                    (detail.get("responded_by_user") or {}).get("id"),
                    ti.try_number - 1,
                )
                return _resume_event(detail)
        return None

    def _show_refusal(self, p: Any, context: Any, problem: str) -> None:
        """Put the reason where the person asked again sees it: Airflow keeps a re-asked task's
        first body, but shows the task instance's note on its pages."""
        from include.airflow_api import AirflowAPI, AirflowAPIError

        ti = context["ti"]
        note = f"{REFUSED} {problem}. Please answer again."
        try:
            AirflowAPI(p.settings).set_task_note(
                ti.dag_id, ti.run_id, ti.task_id, ti.map_index, note
            )
        except AirflowAPIError as exc:  # the audit and the log still say why
            self.log.warning("Could not show the reason on the task: %s", exc)

    def validate_params_input(self, params_input: Mapping) -> None:
        # The form built at run time has a box per file, which the DAG's copy of this operator
        # does not know; what the answer must contain is judged by validate_response.
        for key, value in params_input.items():
            if key in self.params:
                self.params[key] = value

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        if "error" in event:
            return super().execute_complete(context, event)
        from include import request_rounds
        from include import request_steps as steps
        from include.pipeline import Pipeline
        from include.signoffs import validate_response

        chosen = event.get("chosen_options") or []
        answers = event.get("params_input") or {}
        option = chosen[0] if len(chosen) == 1 else ""
        p = Pipeline()
        ticket = steps.ticket_of_run(p, context["run_id"])
        blocking = request_rounds.blocking_count(ticket) if self.role == "officer" else 0
        files = [(k, str(v or "")) for k, v in answers.items() if k.startswith(FILE_FIELD)]
        problem = "choose exactly one option" if not option else None
        problem = problem or validate_response(
            option,
            str(answers.get("guidance") or ""),
            str(answers.get("exemption") or ""),
            blocking=blocking,
            files=files,
        )
        if problem or option not in self.options:
            user = (event.get("responded_by_user") or {}).get("id")
            problem = problem or f"{option!r} is not one of {self.options}"
            self.log.warning("Answer from %s not accepted (%s); asking again.", user, problem)
            p.store.append_audit(
                ticket.stats_id,
                actor=str(user or "unknown"),
                action="signoff_answer_refused",
                details={"step": self._step, "option": option, "reason": problem},
            )
            self._refused = problem
            self._show_refusal(p, context, problem)
            return self.execute(context)
        return super().execute_complete(context, event)


def _resume_event(detail: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "chosen_options": list(detail.get("chosen_options") or []),
        "params_input": dict(detail.get("params_input") or {}),
        "responded_at": parse_time(detail["responded_at"]),
        "responded_by_user": detail.get("responded_by_user"),
    }
