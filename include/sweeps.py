"""The scheduled sweeps: register new submissions (intake), close requests of ended projects.

Both are plain functions of a :class:`~include.pipeline.Pipeline` and an Airflow client (the
``AirflowAPI`` REST client in production, a fake in unit tests), so they run and are tested
without a scheduler. Both are idempotent: a sweep run twice, or retried half-way, starts no run
twice, sends no email twice and closes nothing twice.

**Intake sweep.** In every live project's ``Ready for Checking/`` (output requests) and ingest
landing area ``ingest/<project>/`` (ingest requests), a folder no ticket knows (any
ticket, any state, any round: its current folder and every folder it used before) is a new
submission. With a complete request form it gets one ticket and its run ``<STATS-ID>-r1`` is
started (``request_steps.submit``): the open-folder unique index gives racing sweeps and
``srs submit`` one ticket between them, the round records the trigger, and Airflow refuses a
second run with the same id (``RunExists``, taken as "already started"), so a sweep that runs
again starts nothing new. A registered ticket whose trigger is not recorded (Airflow was down,
or its registrar died before the trigger) is started by the next sweep. A folder that is the next version (``…_v2``) of a ticket
whose revisions were requested starts that ticket's next round instead. A folder that cannot be
started (no form, an unreadable or incomplete form, an unsafe name, a symbolic link standing as
the folder, a link or hard-linked file inside) is listed in the sweep's log with the reason, and
its researcher is emailed once (recorded in ``sweep_notices``); where a link stops the form being
read, the project's researchers are. It is not an error: the sweep itself succeeds.

**Project-closure sweep.** Every open ticket of a project whose end date has passed is closed as
``closed_project_ended`` (rule ``project_closed``): nothing is released or placed afterwards (the
release and placement steps move the ticket by compare-and-set, which a closed ticket refuses),
the researcher is emailed once, and the round's run is finished: its sign-off tasks leave
Required Actions (set to ``skipped``, so the rest of the run skips and it ends as a success) and
the run gets a note saying why.
"""

from __future__ import annotations

import hashlib
import smtplib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import JSON, DateTime, Integer, String, Text, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from include.db import Base, session_scope
from include.request_kinds import DAG_OF_KIND, kind_for
from include.states import OPEN_STATES, TicketState
from include.storage import INGEST, Place, StorageError, UnsafePath
from include.tickets import StaleState, Ticket

S = TicketState
READY = "Ready for Checking"
SWEEP = "intake_sweep"
CLOSURE = "project_closure_sweep"
# A release or placement in progress is left to finish unless it has been stuck this long: the
# email or copy may already be under way, and a ticket must never say "closed" over a release.
IN_FLIGHT = {S.RELEASING: "release", S.PLACING: "placement"}
STUCK_AFTER = timedelta(hours=1)
# The states of the tickets the intake sweep acts on: a round-1 run that may not have started,
# and a blocked request whose next version may have arrived.
ACTED_ON = (S.RECEIVED, S.REVISIONS_REQUESTED)


class RunControl(Protocol):
    """What the sweeps need of Airflow (``include.airflow_api.AirflowAPI`` provides it)."""

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> dict[str, Any]: ...

    def waiting_tasks(self, dag_id: str, run_id: str) -> list[dict[str, Any]] | None: ...

    def skip_task(
        self, dag_id: str, run_id: str, task_id: str, map_index: int, note: str
    ) -> None: ...

    def set_run_note(self, dag_id: str, run_id: str, note: str) -> bool: ...


class SweepIncomplete(RuntimeError):
    """Some submissions could not be handled this time; the next sweep (or a retry) tries again."""


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- notices: folders that could not be started, told once -------------------------------------


class SweepNoticeRow(Base):
    """A submission the intake sweep could not start, and whether its researcher was told.

    One row per (project, area, folder, rule): the researcher is emailed once per problem,
    however often the sweep sees it; a different problem with the same folder is a new notice.
    """

    __tablename__ = "sweep_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    project: Mapped[str] = mapped_column(String(10), index=True)
    area: Mapped[str] = mapped_column(String(40))
    folder: Mapped[str] = mapped_column(String(255))  # as listed (shortened); the key hashes all
    rule: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # seen (not told yet) | claimed (sending) | sent | nobody (no researcher to tell: log only)
    status: Mapped[str] = mapped_column(String(10), default="seen")
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True)
class NotStarted:
    """A folder the sweep could not start, with the reason (for the log and the email)."""

    project: str
    area: str
    folder: str
    rule: str
    message: str
    notice: str = ""  # what happened to the researcher: emailed, already told, nobody, waiting

    def __str__(self) -> str:
        return (
            f"{self.project}/{self.area}/{self.folder!r}: [{self.rule}] {self.message} "
            f"({self.notice})"
        )


@dataclass
class IntakeSweepResult:
    started: list[str] = field(default_factory=list)  # "<STATS-ID>-r<n> <folder>"
    already: list[str] = field(default_factory=list)  # runs Airflow had already (409)
    not_started: list[NotStarted] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    projects: int = 0

    def log_lines(self) -> list[str]:
        lines = [
            f"intake sweep: {self.projects} live project(s), {len(self.started)} run(s) started, "
            f"{len(self.not_started)} folder(s) not started, {len(self.errors)} error(s)"
        ]
        lines += [f"  started {s}" for s in self.started]
        lines += [f"  already started {s}" for s in self.already]
        lines += [f"  NOT STARTED {n}" for n in self.not_started]
        lines += [f"  ERROR {e}" for e in self.errors]
        return lines

    def to_xcom(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "already": self.already,
            "not_started": [str(n) for n in self.not_started],
            "errors": self.errors,
        }


# --- where submissions arrive -------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One place researchers put submissions, and the kind of request found there."""

    kind: str
    area: str


# Output requests in Ready for Checking; ingests in the ingest landing area (``ingest/<p>/``).
# Transfers name two projects and a source area, so they are submitted with `srs submit` or the
# trigger form, never found by the sweep.
SOURCES: tuple[Source, ...] = (Source("output", READY), Source("ingest", INGEST))


def sweep_intake(
    p: Any,
    api: RunControl,
    *,
    today: date | None = None,
    grace: timedelta = timedelta(0),
) -> IntakeSweepResult:
    """Start a run for every new complete submission of every live project (see module doc).

    ``grace``: how long a folder must have been seen unstartable before its researcher is told
    (a folder still being copied in may not hold its form yet).
    """
    from include.registry import list_projects
    from include.ticket_queries import known_folders, tickets_in_states

    today = today or p.today()
    result = IntakeSweepResult()
    with session_scope(p.settings.database_url) as s:
        live = [pr for pr in list_projects(s) if pr.is_live(today)]
    result.projects = len(live)
    for project in live:
        # Two light queries a project (folder names; the few tickets it acts on), read as the
        # project's turn comes: no ticket is loaded whole, so a sweep costs the same per folder
        # however many folders are already registered.
        with session_scope(p.settings.database_url) as s:
            known = known_folders(s, [project.number])[project.number]
            tickets = tickets_in_states(s, [project.number], ACTED_ON)
        _retry_unstarted(p, api, tickets, result)
        waiting = {
            (t.kind, _next_version(t.folder)): t
            for t in tickets
            if t.state == S.REVISIONS_REQUESTED
        }
        for source in SOURCES:
            try:
                base = Place(project.number, source.area)
                names = p.storage.list_folders(base)
            except (StorageError, OSError) as exc:
                result.errors.append(f"{project.number}/{source.area}: cannot list folders: {exc}")
                continue
            for name in names:
                if name in known:
                    continue
                try:
                    _one_folder(
                        p,
                        api,
                        project,
                        source,
                        base,
                        name,
                        waiting.get((source.kind, name)),
                        grace,
                        result,
                    )
                except Exception as exc:  # one bad folder never stops the others
                    result.errors.append(f"{project.number}/{source.area}/{name!r}: {exc}")
    return result


def _next_version(folder: str) -> str:
    from include.request_steps import next_version

    return next_version(folder)


def _retry_unstarted(
    p: Any, api: RunControl, tickets: list[Ticket], result: IntakeSweepResult
) -> None:
    """A ticket registered for a run that did not start (Airflow was down, or its registrar
    died before the trigger): start it now. Its round records the trigger once made."""
    from include.request_rounds import triggered_run

    for t in tickets:
        if (
            t.state == S.RECEIVED
            and t.round == 1
            and t.details.get("submitted_via")
            and not triggered_run(t, 1)
        ):
            _first_run(result, t.folder, lambda t=t: (t, _start_registered(p, api, t)))


def _start_registered(p: Any, api: RunControl, ticket: Ticket) -> bool:
    from include.request_steps import start_first_run

    return start_first_run(
        p, api, ticket, folder=ticket.folder, requester=ticket.requester, actor=SWEEP
    )


def _first_run(
    result: IntakeSweepResult, folder: str, submit: Callable[[], tuple[Ticket, bool]]
) -> None:
    """Run ``submit`` (→ the ticket, whether this call started its run) and log the outcome."""
    from include.airflow_api import AirflowAPIError
    from include.request_steps import first_run_id

    try:
        ticket, started = submit()
    except AirflowAPIError as exc:  # audited by the step; the ticket waits for the next sweep
        result.errors.append(f"{folder!r}: run not started: {exc}")
        return
    (result.started if started else result.already).append(f"{first_run_id(ticket)} {folder}")


def _one_folder(
    p: Any,
    api: RunControl,
    project: Any,
    source: Source,
    base: Place,
    name: str,
    revised: Ticket | None,
    grace: timedelta,
    result: IntakeSweepResult,
) -> None:
    try:
        place = base.child(name)
    except UnsafePath as exc:
        _not_started(
            p,
            project,
            source,
            name,
            "link_or_escape",
            f"the folder name is not acceptable: {exc}",
            [],
            grace,
            result,
        )
        return
    try:
        p.storage.exists(place)  # raises UnsafePath for a link standing in the area
    except UnsafePath as exc:
        # Its form cannot be read without following the link, so nobody is named: the
        # project's researchers are told (only they can put a folder in its areas).
        _not_started(
            p,
            project,
            source,
            name,
            "link_or_escape",
            f"the folder {exc.reason}. Copy the files themselves into a plain folder in "
            f"{_area_words(source.area)} (no links), and remove the link",
            list(project.researchers),
            grace,
            result,
        )
        return
    problems, named = _form_problems(p, source, project.number, name)
    if revised is not None:
        # The researcher's revised copy of a blocked request: that ticket's next round.
        requester = _person_of(p, revised.requester)
        if problems:
            rule, message = problems
            told = [requester] if requester else []
            _not_started(p, project, source, name, rule, message, told, grace, result)
            return
        _start_next_round(p, api, revised, name, result)
        return
    person = _researcher(project, named)
    if problems:
        rule, message = problems
        told = [person] if person else []
        if not told and rule == "link_or_escape":
            # A link (or hard link) inside stops the form being read: tell the project's
            # researchers rather than nobody, so the folder does not sit there unexplained.
            told = list(project.researchers)
        _not_started(p, project, source, name, rule, message, told, grace, result)
        return
    from include.request_steps import submit

    requester = person.username if person else (named or "?").strip()[:64]

    def register_and_start() -> tuple[Ticket, bool]:
        done = submit(
            p,
            api,
            kind=source.kind,
            project=project.number,
            folder=place.name,
            requester=requester,
            via=SWEEP,
        )
        return done.ticket, done.started

    _first_run(result, name, register_and_start)


def _start_next_round(
    p: Any, api: RunControl, ticket: Ticket, folder: str, result: IntakeSweepResult
) -> None:
    """Start the run of a blocked ticket's next round from its revised ``folder``.

    The round itself begins when that run's intake takes the folder: until then the trigger
    is an audit event (recorded once), each sweep asks again, and Airflow answers that the run
    exists.
    """
    from include.airflow_api import AirflowAPIError
    from include.request_steps import start_round_run

    rnd = ticket.round + 1
    run_id = f"{ticket.stats_id}-r{rnd}"
    try:
        started = start_round_run(
            p, api, ticket, rnd, folder=folder, requester=ticket.requester, actor=SWEEP
        )
    except AirflowAPIError as exc:
        result.errors.append(f"{ticket.stats_id}: run {run_id} not started: {exc}")
        return
    (result.started if started else result.already).append(f"{run_id} {folder}")


def _form_problems(
    p: Any, source: Source, project: str, folder: str
) -> tuple[tuple[str, str] | None, str]:
    """(the first reason the folder cannot start, or None; the researcher the form names).

    The same test the run's intake applies, so a folder the sweep starts is not refused there.
    """
    from include.request_forms import folder_and_form as _folder_and_form

    reader = kind_for(source.kind).read_form
    refusals = _folder_and_form(
        p, project, folder, area=source.area, kind=source.kind, read_form=reader
    )
    named = _named_researcher(p, Place(project, source.area, folder), reader)
    if refusals:
        return (refusals[0].rule, refusals[0].message), named
    return None, named


def _named_researcher(p: Any, place: Place, reader: Any) -> str:
    """The researcher the folder's request form names; "" if there is no readable form."""
    from include.checks.request_form import is_form_name

    try:
        forms = [
            f.path
            for f in p.storage.list_files(place)
            if is_form_name(f.path) and f.path.lower().endswith(".xlsx")
        ]
        if not forms:
            return ""
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "form.xlsx"
            local.write_bytes(p.storage.read_bytes(place, forms[0]))
            form, _missing = reader(local)
            return str(form.researcher or "").strip()
    except (ValueError, StorageError, OSError):  # FormError is a ValueError
        return ""


def _researcher(project: Any, named: str) -> Any:
    """The project researcher the form names, by username or full name; None if not one."""
    key = named.strip().casefold()
    if not key:
        return None
    for person in project.researchers:
        if key in (person.username.casefold(), person.name.casefold()):
            return person
    return None


def _area_words(area: str) -> str:
    return "the project's ingest area" if area == INGEST else f"the project's {area}"


def _person_of(p: Any, username: str) -> Any:
    return p.person(username)


def _notice_key(project: str, area: str, folder: str, rule: str) -> str:
    return hashlib.sha256(f"{project}\0{area}\0{folder}\0{rule}".encode()).hexdigest()


def _not_started(
    p: Any,
    project: Any,
    source: Source,
    folder: str,
    rule: str,
    message: str,
    people: list[Any],
    grace: timedelta,
    result: IntakeSweepResult,
) -> None:
    """Record the folder as not started and tell ``people`` (its researcher), once per problem."""
    key = _notice_key(project.number, source.area, folder, rule)
    now = _now()
    shown = folder if len(folder) <= 255 else folder[:252] + "..."
    with session_scope(p.settings.database_url) as s:
        row = s.scalar(select(SweepNoticeRow).where(SweepNoticeRow.key == key))
        if row is None:
            try:
                with s.begin_nested():
                    row = SweepNoticeRow(
                        key=key,
                        project=project.number,
                        area=source.area,
                        folder=shown,
                        rule=rule,
                        message=message,
                        first_seen=now,
                        last_seen=now,
                        status="seen",
                        recipients=[],
                    )
                    s.add(row)
            except IntegrityError:
                row = s.scalar(select(SweepNoticeRow).where(SweepNoticeRow.key == key))
        row.last_seen = now
        row.message = message
        status, first_seen, row_id = row.status, _aware(row.first_seen), row.id

    def record(notice: str) -> None:
        result.not_started.append(
            NotStarted(project.number, source.area, folder, rule, message, notice)
        )

    if status == "sent":
        return record("researcher already emailed")
    if status == "nobody":
        return record("no researcher to email: log only")
    if status == "claimed":
        return record("email being sent by another sweep")
    if now - first_seen < grace:
        return record("researcher not emailed yet: the folder may still be being copied in")
    if not people:
        _set_status(p, row_id, "seen", "nobody")
        return record("no researcher to email (no readable form naming one): log only")
    if not _set_status(p, row_id, "seen", "claimed"):
        return record("email being sent by another sweep")
    to = [person.email for person in people]
    names = ", ".join(person.username for person in people)
    email = _render_not_started(project.number, source.area, folder, rule, message, people)
    try:
        _send(p, email, to)
    except (smtplib.SMTPException, OSError) as exc:
        _set_status(p, row_id, "claimed", "seen")  # the next sweep tries again
        result.errors.append(f"{project.number}/{folder!r}: could not email {names}: {exc}")
        return record("email failed; will retry")
    with session_scope(p.settings.database_url) as s:
        s.execute(
            update(SweepNoticeRow)
            .where(SweepNoticeRow.id == row_id)
            .values(status="sent", recipients=to, notified_at=_now())
        )
    record(f"emailed {names}")


def _set_status(p: Any, row_id: int, expected: str, status: str) -> bool:
    with session_scope(p.settings.database_url) as s:
        done = s.execute(
            update(SweepNoticeRow)
            .where(SweepNoticeRow.id == row_id, SweepNoticeRow.status == expected)
            .values(status=status)
        )
        return done.rowcount == 1


def _render_not_started(
    project: str, area: str, folder: str, rule: str, message: str, people: list[Any]
):
    from types import SimpleNamespace

    from include.notifications import render

    # The template greets one requester by name; several are greeted together.
    return render(
        "not_started",
        f"Project {project}",
        requester=SimpleNamespace(name=" and ".join(person.name for person in people)),
        project=project,
        area=area,
        folder=folder,
        rule=rule,
        message=message,
    )


def _send(p: Any, email: Any, to: list[str]) -> None:
    """An email that belongs to no ticket yet (so it is recorded in sweep_notices instead)."""
    from include.notifications import build_message

    msg = build_message(p.settings, email, to=to)
    p.mailer._deliver(msg, to)


def notices(p: Any, project: str | None = None) -> list[dict[str, Any]]:
    """The recorded notices (for operations and tests)."""
    with session_scope(p.settings.database_url) as s:
        q = select(SweepNoticeRow).order_by(SweepNoticeRow.id)
        if project is not None:
            q = q.where(SweepNoticeRow.project == project)
        return [
            {
                "project": r.project,
                "area": r.area,
                "folder": r.folder,
                "rule": r.rule,
                "message": r.message,
                "status": r.status,
                "recipients": list(r.recipients or []),
            }
            for r in s.scalars(q)
        ]


# --- project closure ----------------------------------------------------------------------------


@dataclass
class ClosureResult:
    ended_projects: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    runs_finished: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # in-flight releases left to finish
    errors: list[str] = field(default_factory=list)

    def log_lines(self) -> list[str]:
        lines = [
            f"project closure sweep: {len(self.ended_projects)} ended project(s) "
            f"{self.ended_projects}, {len(self.closed)} ticket(s) closed, "
            f"{len(self.runs_finished)} run(s) finished, {len(self.errors)} error(s)"
        ]
        lines += [f"  closed {c}" for c in self.closed]
        lines += [f"  finished run {r}" for r in self.runs_finished]
        lines += [f"  left to finish {left}" for left in self.left]
        lines += [f"  ERROR {e}" for e in self.errors]
        return lines

    def to_xcom(self) -> dict[str, Any]:
        return {
            "ended_projects": self.ended_projects,
            "closed": self.closed,
            "runs_finished": self.runs_finished,
            "left": self.left,
            "errors": self.errors,
        }


def closure_note(ticket: Ticket, project: str, end_date: date | str) -> str:
    return (
        f"Closed: project {project} ended on {end_date}; {ticket.stats_id} was closed without "
        "further action (rule project_closed). Nothing was released or placed."
    )


def close_ended_projects(p: Any, api: RunControl, *, today: date | None = None) -> ClosureResult:
    """Close every open ticket of every project whose end date has passed (see module doc)."""
    from include.registry import projects_ended_before

    today = today or p.today()
    result = ClosureResult()
    with session_scope(p.settings.database_url) as s:
        ended = set(projects_ended_before(s, today))
    result.ended_projects = sorted(ended)
    if not ended:
        return result
    now = _now()
    for ticket in p.store.find(states=OPEN_STATES):
        number = _ended_project_of(ticket, ended)
        if number is None:
            continue
        try:
            _close(p, ticket, number, now, result)
        except Exception as exc:  # one ticket never stops the others
            result.errors.append(f"{ticket.stats_id}: {exc}")
    # Closed now or by an earlier sweep whose Airflow step did not finish: finish their runs.
    for ticket in p.store.find(states=[S.CLOSED_PROJECT_ENDED]):
        if "closure_run" in ticket.details:
            continue
        try:
            _finish_run(p, api, ticket, result)
        except Exception as exc:
            result.errors.append(f"{ticket.stats_id}: run {ticket.run_id} not finished: {exc}")
    return result


def _ended_project_of(ticket: Ticket, ended: set[str]) -> str | None:
    if ticket.project in ended:
        return ticket.project
    if ticket.destination_project and ticket.destination_project in ended:
        return ticket.destination_project
    return None


def _close(p: Any, ticket: Ticket, number: str, now: datetime, result: ClosureResult) -> None:
    end_date = p.project(number).end_date
    for _attempt in range(5):
        what = IN_FLIGHT.get(ticket.state)
        if what and (
            now - ticket.updated_at < STUCK_AFTER
            or p.store.email_status(ticket.stats_id, "release")
        ):
            result.left.append(f"{ticket.stats_id} ({ticket.state}: a {what} is under way)")
            return
        try:
            ticket = p.store.transition(
                ticket.stats_id,
                S.CLOSED_PROJECT_ENDED,
                actor=CLOSURE,
                expected=ticket.state,
                details={
                    "rule": "project_closed",
                    "project": number,
                    "end_date": end_date.isoformat(),
                    "round": ticket.round,
                    "was": ticket.state.value,
                },
            )
            break
        except StaleState:  # it moved meanwhile: look again
            ticket = p.store.get(ticket.stats_id)
            if not ticket.is_open:
                return
    else:
        result.errors.append(f"{ticket.stats_id}: kept changing; not closed this time")
        return
    p.email_requester(
        ticket, "closed", "closed", end_date=end_date.isoformat(), ended_project=number
    )
    result.closed.append(f"{ticket.stats_id} (project {number}, round {ticket.round})")


def _finish_run(p: Any, api: RunControl, ticket: Ticket, result: ClosureResult) -> None:
    """Take the round's sign-offs out of Required Actions and note on the run why it ended."""
    closing = next(
        (
            e
            for e in reversed(p.store.audit(ticket.stats_id))
            if e.to_state == S.CLOSED_PROJECT_ENDED
        ),
        None,
    )
    details = closing.details if closing else {}
    number = details.get("project", ticket.project)
    end_date = details.get("end_date") or p.project(number).end_date.isoformat()
    p.email_requester(ticket, "closed", "closed", end_date=end_date, ended_project=number)  # once
    note = closure_note(ticket, number, end_date)
    dag_id, run_id = DAG_OF_KIND.get(ticket.kind, ""), ticket.run_id
    skipped: list[str] = []
    waiting = api.waiting_tasks(dag_id, run_id) if dag_id else None
    for ti in waiting or []:
        api.skip_task(dag_id, run_id, ti["task_id"], ti["map_index"], note)
        skipped.append(
            ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
        )
    noted = api.set_run_note(dag_id, run_id, note) if waiting is not None else False
    p.store.set_fields(
        ticket.stats_id,
        actor=CLOSURE,
        action="closure_run_finished",
        details={
            "closure_run": {
                "dag_id": dag_id,
                "run_id": run_id,
                "found": waiting is not None,
                "skipped": skipped,
                "note": note if noted else "",
            }
        },
    )
    result.runs_finished.append(
        f"{dag_id}/{run_id}: skipped {skipped or 'nothing'}"
        if waiting is not None
        else f"{run_id}: no such run"
    )
