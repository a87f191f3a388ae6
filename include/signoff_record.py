"""A sign-off's answer as Airflow recorded it, and whether a task's result agrees with it.

Airflow authenticates whoever answers a Required Action and keeps the answer in its
Human-in-the-loop record (responder, option, form input, time). Any user with write access to a
run can also set a task's state or write its XCom, so decisions are taken from that record
only (DESIGN.md principle 6); a task whose state or result disagrees with it is tampering.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

FILE_FIELD = "file_"  # form fields file_1 … file_N: guidance for one file each
FILE_TITLE = "Changes to "  # … titled "Changes to <path>"


@dataclass(frozen=True)
class Response:
    """One person's answer to a sign-off task, taken from Airflow's record."""

    step: str
    user: str
    option: str
    guidance: str = ""
    exemption: str = ""
    dataset: str | None = None
    files: tuple[tuple[str, str], ...] = ()  # (path, what to change)
    at: datetime | None = None


@dataclass(frozen=True)
class RecordedAnswer:
    """What Airflow holds for one sign-off task instance: its state, and the latest answer."""

    task_id: str
    map_index: int
    state: str | None
    try_number: int
    responded: bool = False
    user: str = ""
    options: tuple[str, ...] = ()
    params_input: Mapping[str, Any] | None = None
    form: Mapping[str, Any] | None = None  # the fields Airflow showed, as it serialised them
    responded_at: datetime | None = None
    assigned: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"

    def response(self, step: str, dataset: str | None = None) -> Response:
        answers = dict(self.params_input or {})
        return Response(
            step=step,
            user=self.user,
            option=self.options[0] if len(self.options) == 1 else "",
            guidance=_text(answers.get("guidance")),
            exemption=_text(answers.get("exemption")),
            dataset=dataset,
            files=file_guidance(self.form or {}, answers),
            at=self.responded_at,
        )


class SignOffRecords(Protocol):
    """The part of Airflow's REST API this module reads (``include.airflow_api.AirflowAPI``)."""

    def task_instance(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1
    ) -> dict[str, Any] | None: ...

    def hitl_detail(
        self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int
    ) -> dict[str, Any] | None: ...


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def file_guidance(
    form: Mapping[str, Any], answers: Mapping[str, Any]
) -> tuple[tuple[str, str], ...]:
    """The per-file comments of an answer, as (path, text), in the form's order.

    The path is read from the field's title in the form Airflow showed, which our sign-off
    operator wrote; the answer only supplies the text.
    """
    found = []
    for key, spec in form.items():
        if not key.startswith(FILE_FIELD):
            continue
        text = _text(answers.get(key)).strip()
        title = str(((spec or {}).get("schema") or {}).get("title") or "")
        if text and title.startswith(FILE_TITLE):
            found.append((title.removeprefix(FILE_TITLE), text))
    return tuple(found)


def parse_time(value: Any) -> datetime | None:
    """A time as Airflow's API writes it (ISO 8601, maybe with Z), or None."""
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _answer_of(ti: Mapping[str, Any], detail: Mapping[str, Any], try_number: int) -> RecordedAnswer:
    by = detail.get("responded_by_user") or {}
    return RecordedAnswer(
        task_id=str(ti["task_id"]),
        map_index=int(ti.get("map_index", -1)),
        state=ti.get("state"),
        try_number=try_number,
        responded=bool(detail.get("response_received")),
        user=str(by.get("id") or ""),
        options=tuple(detail.get("chosen_options") or ()),
        params_input=dict(detail.get("params_input") or {}),
        form=dict(detail.get("params") or {}),
        responded_at=parse_time(detail.get("responded_at")),
        assigned=tuple(str(u.get("id")) for u in detail.get("assigned_users") or ()),
    )


def read_answer(
    api: SignOffRecords, dag_id: str, run_id: str, task_id: str, map_index: int = -1
) -> RecordedAnswer | None:
    """The latest answer Airflow recorded for a sign-off task, searching its tries newest
    first (a try that failed after its answer was recorded still counts); the newest try's
    record if none was answered; None if there is no such task instance."""
    ti = api.task_instance(dag_id, run_id, task_id, map_index)
    if ti is None:
        return None
    newest = None
    for try_number in range(int(ti.get("try_number") or 1), 0, -1):
        detail = api.hitl_detail(dag_id, run_id, task_id, map_index, try_number)
        if detail is None:
            continue
        answer = _answer_of(ti, detail, try_number)
        if answer.responded:
            return answer
        newest = newest or answer
    return newest or RecordedAnswer(
        task_id, map_index, ti.get("state"), int(ti.get("try_number") or 0)
    )


def tampering(answer: RecordedAnswer, result: Any) -> str | None:
    """Why a finished sign-off task cannot be trusted, or None.

    ``result`` is the task's XCom (Airflow's HITL payload), which users can overwrite: it must
    say exactly what Airflow recorded.
    """
    if not answer.responded:
        return (
            f"{answer.label} is '{answer.state}' but Airflow recorded no answer to it "
            "(the task was set to success or skipped by hand, not answered)"
        )
    if answer.assigned and answer.user not in answer.assigned:
        return f"{answer.label} was answered by {answer.user!r}, who was not asked ({', '.join(answer.assigned)})"
    if not isinstance(result, Mapping):
        return f"{answer.label} has no result (XCom) matching the answer Airflow recorded"
    said_by = (result.get("responded_by_user") or {}).get("id")
    if (
        list(result.get("chosen_options") or ()) != list(answer.options)
        or dict(result.get("params_input") or {}) != dict(answer.params_input or {})
        or said_by != answer.user
    ):
        return (
            f"{answer.label}'s result (XCom) says {list(result.get('chosen_options') or ())} by "
            f"{said_by!r}, but Airflow recorded {list(answer.options)} by {answer.user!r}"
        )
    return None


def changes_through_the_api(changes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The run's audit-log entries that someone made through Airflow's API or UI (a state set,
    an XCom written, an answer given), leaving out the scheduler's own task events."""
    made = []
    for c in changes:
        try:
            extra = json.loads(c.get("extra") or "{}")
        except ValueError:
            continue
        if isinstance(extra, dict) and extra.get("method") not in (None, "GET"):
            made.append(dict(c))
    return made
