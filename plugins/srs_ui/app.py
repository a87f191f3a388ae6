"""The SRS operator view: the request queue and one page per request, inside Airflow.

Mounted by ``plugins/srs_ui_plugin.py`` at ``/srs`` on Airflow's API server, so
``{AIRFLOW__API__BASE_URL}/srs/requests/<STATS-ID>`` (the link in every sign-off body) is the
request page. Every route needs a logged-in Airflow user: Airflow's own ``get_user`` dependency
accepts the JWT from an ``Authorization: Bearer`` header (API clients, the SPA) or from the
``_token`` cookie Airflow sets at login (a page opened in a browser tab, or in the UI's iframe).

Pages read the ticket store and the check reports the pipeline stored; they change nothing.
Everything shown is escaped (Jinja2 autoescape): file names and finding messages come from
researchers.

Need-to-know (``include.access``): operations and officers see every request, a data owner
only the requests touching their datasets (pages, JSON, reports, the queue), anyone else gets
403. Until every officer of a round has answered, nobody sees an officer's outcome or guidance
here ("1 of 2 answered").
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import jinja2
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from include import access
from include.request_kinds import DAG_OF_KIND
from srs_ui.airflow_hitl import AirflowHitl, get_hitl

URL_PREFIX = "/srs"
NAV_ROUTE = "srs-requests"  # the Airflow UI shows the queue at /plugin/srs-requests
PAGE_SIZE = 50  # tickets per page of each list of the queue
_PROJECT = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_RUN_OF_ROUND = re.compile(r"^(STATS\d{5,})-r(\d+)$")
TEMPLATES = Path(__file__).resolve().parent / "templates"

CurrentUser = Annotated[BaseUser, Depends(get_user)]


def get_pipeline():
    """A Pipeline on this process's settings, built per request (never at import)."""
    from include.pipeline import Pipeline

    return Pipeline()


def is_airflow_admin(user: Any) -> bool:
    """Airflow's own admin: SimpleAuthManager's ``admin`` role, or FAB's ``Admin`` role."""
    role = getattr(user, "role", None)
    if isinstance(role, str):
        return role.lower() == "admin"
    return any(getattr(r, "name", r) == "Admin" for r in getattr(user, "roles", None) or ())


def current_reader(user: CurrentUser, p: Annotated[Any, Depends(get_pipeline)]) -> access.Reader:
    """Who is asking, as include.access sees them; 403 for anyone who may see nothing."""
    who = access.load_reader(
        p.settings.database_url, str(user.get_name()), airflow_admin=is_airflow_admin(user)
    )
    refusal = access.view_refusal(who)
    if refusal:
        raise HTTPException(403, refusal)
    return who


Reader = Annotated[access.Reader, Depends(current_reader)]
Hitl = Annotated[AirflowHitl, Depends(get_hitl)]

app = FastAPI(
    title="SRS requests",
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
    # Every route, including ones added later, needs a logged-in Airflow user who may see
    # some request (include.access); each ticket is checked again where it is read.
    dependencies=[Depends(get_user), Depends(current_reader)],
)


# --- rendering ----------------------------------------------------------------------------------


def _display(text: Any) -> str:
    from include.checks.report import safe_display

    return safe_display(None if text is None else str(text))


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _age(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return ""
    seconds = max(0, int(((now or datetime.now(UTC)) - value).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


def _compact(data: Any, limit: int = 300) -> str:
    text = json.dumps(data, default=str, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(display=_display, when=_when, age=_age, compact=_compact)


@dataclass(frozen=True)
class Links:
    """Where this app and Airflow's UI live, from the mount point (works under any base path)."""

    srs: str  # e.g. "/srs"
    airflow: str  # e.g. "" (UI at the root)

    @classmethod
    def of(cls, request: Request) -> Links:
        root = request.scope.get("root_path", "").rstrip("/")
        airflow = root[: -len(URL_PREFIX)] if root.endswith(URL_PREFIX) else ""
        return cls(srs=root, airflow=airflow)

    def queue(self, **params: Any) -> str:
        query = urlencode({k: v for k, v in params.items() if v}, doseq=True)
        return f"{self.srs}/requests" + (f"?{query}" if query else "")

    def request(self, stats_id: str, round: int | None = None) -> str:
        return f"{self.srs}/requests/{quote(stats_id)}" + (f"?round={round}" if round else "")

    def report(self, stats_id: str, round: int) -> str:
        return f"{self.srs}/requests/{quote(stats_id)}/report?round={round}"

    def run(self, dag_id: str, run_id: str) -> str:
        return f"{self.airflow}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"

    def run_actions(self, dag_id: str, run_id: str) -> str:
        return self.run(dag_id, run_id) + "/required_actions"

    def required_actions(self) -> str:
        return f"{self.airflow}/required_actions?response_received=false"

    def signoffs(self) -> str:
        return f"{self.srs}/signoffs"

    def required_action(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
        """Airflow's Required Action page of one task (its form)."""
        return (
            self.run(dag_id, run_id)
            + f"/tasks/{quote(task_id, safe='')}/required_actions?map_index={map_index}"
        )

    def in_airflow(self, path: str) -> str:
        """The same page framed in Airflow's UI (its nav entry), for a link opened on its own."""
        return f"{self.airflow}/plugin/{NAV_ROUTE}{path}"


def _page(
    request: Request, template: str, status_code: int = 200, user: Any = None, **context: Any
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = _env.get_template(template).render(
        links=Links.of(request),
        user=_user_name(user),
        nonce=nonce,
        now=datetime.now(UTC),
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=_headers(nonce))


def _headers(nonce: str | None = None) -> dict[str, str]:
    script = f"script-src 'nonce-{nonce}'" if nonce else "script-src 'none'"
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; {script}; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'self'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Referrer-Policy": "same-origin",
    }


def _user_name(user: Any) -> str:
    if user is None:
        return ""
    try:
        return str(user.get_name())
    except Exception:  # noqa: BLE001 - a name is decoration; never fail a page over it
        return ""


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


@app.exception_handler(HTTPException)
async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Errors as a readable page for browsers, as JSON (Airflow's shape) for everything else."""
    headers = dict(getattr(exc, "headers", None) or {})
    if not _wants_html(request):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
    page = _page(
        request, "error.html.j2", exc.status_code, status=exc.status_code, detail=exc.detail
    )
    page.headers.update(headers)
    return page


@app.exception_handler(RequestValidationError)
async def _bad_query(request: Request, exc: RequestValidationError) -> Response:
    problems = "; ".join(
        f"{'.'.join(str(x) for x in e.get('loc', ()) if x != 'query')}: {e.get('msg')}"
        for e in exc.errors()
    )
    return await _http_error(request, HTTPException(400, f"bad request: {problems}"))


def _not_found(message: str) -> HTTPException:
    return HTTPException(404, message)


# --- the queue ----------------------------------------------------------------------------------


@app.get("/", include_in_schema=False)
def home(request: Request) -> RedirectResponse:
    return RedirectResponse(Links.of(request).queue(), status_code=307)


def _queue_filter(states: list[str] | None, project: str | None, kind: str | None):
    """The queue's filters from the query string (400 with the reason when one is wrong)."""
    from include.states import TicketState
    from include.ticket_queries import QueueFilter
    from include.tickets import KINDS

    chosen = [s.strip() for s in states or [] if s and s.strip()]
    unknown = [s for s in chosen if s not in TicketState.__members__.values()]
    if unknown:
        raise HTTPException(
            400,
            f"unknown state {', '.join(map(repr, unknown))}; states are: "
            + ", ".join(s.value for s in TicketState),
        )
    project = (project or "").strip() or None
    if project is not None and not _PROJECT.match(project):
        raise HTTPException(400, f"{project!r} is not a project number")
    kind = (kind or "").strip() or None
    if kind is not None and kind not in KINDS:
        raise HTTPException(400, f"unknown kind {kind!r}; kinds are: {', '.join(KINDS)}")
    return QueueFilter(tuple(chosen), project, kind)


def _pager(links: Links, params: dict[str, Any], name: str, got: Any) -> dict[str, Any]:
    """Previous/next links of one list (``name`` is its page parameter), keeping the rest."""

    def href(offset: int | None) -> str | None:
        if offset is None:
            return None
        number = offset // got.limit + 1
        return links.queue(**{**params, name: number if number > 1 else None})

    return {
        "name": name,
        "previous": href(got.previous_offset),
        "next": href(got.next_offset),
        "number": got.offset // got.limit + 1,
        "pages": max(1, -(-got.total // got.limit)),
    }


PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]


@app.get("/requests", response_class=HTMLResponse, name="queue")
def queue(
    request: Request,
    user: CurrentUser,
    who: Reader,
    p: Annotated[Any, Depends(get_pipeline)],
    state: Annotated[list[str] | None, Query()] = None,
    project: str | None = None,
    kind: str | None = None,
    page: PageNumber = 1,
    blocked_page: PageNumber = 1,
    finished_page: PageNumber = 1,
) -> HTMLResponse:
    """The open queue in order of receipt, the blocked ones, the recently finished: a page of
    each (``?page=``, ``?blocked_page=``, ``?finished_page=``), counted and filtered in SQL to
    what this reader may see, so the page costs the same however many tickets there are."""
    from include import ticket_queries as tq
    from include.db import session_scope
    from include.states import BLOCKED_STATES, OPEN_STATES, TicketState
    from include.tickets import KINDS

    filters = _queue_filter(state, project, kind)
    size = PAGE_SIZE
    with session_scope(p.settings.database_url) as s:
        counts = tq.counts_by_state(s, who)  # of what this reader may see, never the whole store
        oldest = tq.oldest_waiting(s, who)
        open_ = tq.page(s, who, tq.Section.OPEN, filters, offset=(page - 1) * size, limit=size)
        blocked = tq.page(
            s, who, tq.Section.BLOCKED, filters, offset=(blocked_page - 1) * size, limit=size
        )
        finished = tq.page(
            s, who, tq.Section.FINISHED, filters, offset=(finished_page - 1) * size, limit=size
        )
    links = Links.of(request)
    params = {
        "state": list(filters.states),
        "project": filters.project,
        "kind": filters.kind,
        "page": page if page > 1 else None,
        "blocked_page": blocked_page if blocked_page > 1 else None,
        "finished_page": finished_page if finished_page > 1 else None,
    }
    return _page(
        request,
        "queue.html.j2",
        user=user,
        open_page=open_,
        blocked_page=blocked,
        finished_page=finished,
        pagers={
            "open": _pager(links, params, "page", open_),
            "blocked": _pager(links, params, "blocked_page", blocked),
            "finished": _pager(links, params, "finished_page", finished),
        },
        counts=[(s.value, counts.get(s.value, 0)) for s in TicketState],
        total=sum(counts.values()),
        open_states={s.value for s in OPEN_STATES},
        blocked_states={s.value for s in BLOCKED_STATES},
        oldest=oldest,
        all_states=[s.value for s in TicketState],
        kinds=KINDS,
        filters={
            "state": list(filters.states),
            "project": filters.project or "",
            "kind": filters.kind or "",
        },
        filtered=bool(filters.states or filters.project or filters.kind),
    )


# --- one request --------------------------------------------------------------------------------


def _ticket_or_404(p: Any, stats_id: str):
    from include.tickets import STATS_ID, UnknownTicket

    if not STATS_ID.match(stats_id):
        raise _not_found(
            f"{_display(stats_id)!r} is not a STATS-ID (STATS followed by digits, e.g. STATS00042)"
        )
    try:
        return p.store.get(stats_id)
    except UnknownTicket:
        raise _not_found(f"there is no request {stats_id}") from None


def _readable_ticket(p: Any, who: access.Reader, stats_id: str):
    """The ticket, if it exists (404) and ``who`` may see it (403)."""
    from include.db import session_scope
    from include.ticket_queries import may_view

    ticket = _ticket_or_404(p, stats_id)
    with session_scope(p.settings.database_url) as s:  # asks about this ticket's projects only
        allowed = may_view(s, who, ticket)
    if not allowed:  # the refusal's wording, for a reader SQL found no shared dataset for
        raise HTTPException(403, access.ticket_refusal(who, ticket, {}))
    return ticket


def _officer_answers_in_airflow(hitl: AirflowHitl, ticket: Any) -> int:
    """Officers of the current round Airflow has an answer from (0 if it cannot be read)."""
    dag_id = DAG_OF_KIND.get(ticket.kind)
    if dag_id is None:
        return 0
    run_id = ticket.run_id  # the run its intake recorded (a trigger form's manual__...)
    try:
        answered = hitl.answered_tasks(dag_id, run_id)
    except Exception:  # noqa: BLE001 - the store's count stands; a page never fails over this
        return 0
    return len({t for t in answered if t.startswith("officer_")})


def _blinded(p: Any, hitl: AirflowHitl, ticket: Any) -> tuple[list, list, dict]:
    """Decisions and audit as anyone may see them now, and each round's progress."""
    decisions = p.store.decisions(ticket.stats_id)
    in_airflow = _officer_answers_in_airflow(hitl, ticket) if ticket.is_open else 0
    progress = {
        n: access.round_progress(ticket, decisions, n, in_airflow if n == ticket.round else 0)
        for n in range(1, ticket.round + 1)
    }
    shown = access.blind_decisions(decisions, progress)
    audit = access.blind_audit(p.store.audit(ticket.stats_id), progress, ticket.round)
    return shown, audit, progress


def _round_or_404(ticket: Any, round: int | None) -> int:
    if round is None:
        return ticket.round
    if not 1 <= round <= ticket.round:
        raise _not_found(f"{ticket.stats_id} has no round {round} (rounds 1 to {ticket.round})")
    return round


def _round_folder(ticket: Any, rnd: int) -> str:
    found = ticket.round_of(rnd)
    return found.folder if found else ticket.folder


def _reports_place(ticket: Any, rnd: int):
    """Where the pipeline keeps a round's ``<folder>.check.json|html``: outputs in
    ``Output/<STATS-ID>/``, ingest and transfer in their quarantine (the kind decides)."""
    from include.request_kinds import reports_place

    return reports_place(ticket, rnd)


def _stored_report(p: Any, ticket: Any, rnd: int, suffix: str) -> bytes | None:
    """The check report the pipeline stored for this round, or None."""
    from include.storage import StorageError

    try:
        place = _reports_place(ticket, rnd)
        return p.storage.read_bytes(place, f"{_round_folder(ticket, rnd)}.{suffix}")
    except (StorageError, OSError, ValueError, KeyError):  # not stored (yet), or nowhere
        return None


def _load_report(p: Any, ticket: Any, rnd: int) -> tuple[Any, str | None]:
    from include.checks.report import CheckReport

    raw = _stored_report(p, ticket, rnd, "check.json")
    if raw is None:
        return None, None
    try:
        return CheckReport.from_dict(json.loads(raw)), None
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"the stored check report could not be read: {exc}"


def _files(ticket: Any, rnd: int, report: Any) -> list[dict[str, Any]]:
    """The round's files: path, role, type, size and SHA-256, from the snapshot manifest."""
    found = ticket.round_of(rnd)
    checks = found.checks if found else None
    described = {f.get("path"): f for f in (checks.files if checks else ()) if isinstance(f, dict)}
    in_report = {fr.path: fr for fr in report.files} if report else {}
    manifest = found.snapshot.manifest if found and found.snapshot else ()
    rows = []
    for entry in manifest:
        path = entry.path
        fr = in_report.get(path)
        info = described.get(path) or {}
        rows.append(
            {
                "path": path,
                "role": info.get("role") or (fr.role if fr else ""),
                "type": info.get("type") or (fr.type if fr else ""),
                "size": entry.size,
                "sha256": entry.sha256,
                "findings": len(fr.findings) if fr else None,
                "in_manifest": True,
            }
        )
    listed = {r["path"] for r in rows}
    for path, fr in in_report.items():  # a report without a recorded snapshot (or extra files)
        if path not in listed:
            rows.append(
                {
                    "path": path,
                    "role": fr.role,
                    "type": fr.type,
                    "size": fr.size,
                    "sha256": fr.sha256 or "",
                    "findings": len(fr.findings),
                    "in_manifest": False,
                }
            )
    return rows


def _airflow_runs(ticket: Any, links: Links) -> list[dict[str, Any]]:
    dag_id = DAG_OF_KIND.get(ticket.kind)
    if dag_id is None:
        return []
    runs = []
    for n in range(1, ticket.round + 1):
        found = ticket.round_of(n)
        run_id = (found.run_id if found else None) or f"{ticket.stats_id}-r{n}"
        runs.append(
            {
                "round": n,
                "dag_id": dag_id,
                "run_id": run_id,
                "href": links.run(dag_id, run_id),
                "actions": links.run_actions(dag_id, run_id),
            }
        )
    return runs


@app.get("/requests/{stats_id}", response_class=HTMLResponse, name="request_page")
def request_page(
    request: Request,
    stats_id: str,
    user: CurrentUser,
    who: Reader,
    hitl: Hitl,
    p: Annotated[Any, Depends(get_pipeline)],
    round: int | None = None,
) -> HTMLResponse:
    """One request: files, check report, decisions, audit trail and its Airflow runs."""
    from include.checks.findings import sort_findings
    from include.ledger_page import page_view
    from include.request_rounds import check_summary, round_changes
    from include.states import BLOCKED_STATES, OPEN_STATES

    ticket = _readable_ticket(p, who, stats_id)
    decisions, audit, progress = _blinded(p, hitl, ticket)
    rnd = _round_or_404(ticket, round)
    report, report_problem = _load_report(p, ticket, rnd)
    findings = sort_findings(report.all_findings()) if report else []
    links = Links.of(request)
    return _page(
        request,
        "request.html.j2",
        user=user,
        ticket=ticket,
        rnd=rnd,
        folder=_round_folder(ticket, rnd),
        is_open=ticket.state in OPEN_STATES,
        is_blocked=ticket.state in BLOCKED_STATES,
        files=_files(ticket, rnd, report),
        changes=round_changes(ticket, rnd),
        checks=check_summary(ticket, rnd),
        report=report,
        report_summary=report.summary() if report else None,
        report_problem=report_problem,
        has_html_report=_stored_report(p, ticket, rnd, "check.html") is not None,
        findings=findings,
        refusals=ticket.details.get("refusals") or [],
        decisions=decisions,
        progress=[progress[n] for n in sorted(progress)],
        audit=audit,
        runs=_airflow_runs(ticket, links),
        ledger=page_view(p, ticket, rnd, report),
    )


@app.get("/requests/{stats_id}/report", name="report")
def stored_report(
    stats_id: str,
    who: Reader,
    p: Annotated[Any, Depends(get_pipeline)],
    round: int | None = None,
) -> Response:
    """The HTML check report exactly as the pipeline stored it (and archives it)."""
    ticket = _readable_ticket(p, who, stats_id)
    rnd = _round_or_404(ticket, round)
    html = _stored_report(p, ticket, rnd, "check.html")
    if html is None:
        raise _not_found(f"{stats_id} has no stored check report for round {rnd}")
    return Response(html, media_type="text/html; charset=utf-8", headers=_headers())


@app.get("/runs/{dag_id}/{run_id}", name="run")
def run_to_request(
    request: Request,
    dag_id: str,
    run_id: str,
    who: Reader,
    p: Annotated[Any, Depends(get_pipeline)],
) -> RedirectResponse:
    """From an Airflow run (``<STATS-ID>-r<n>``) to its request page (the run view's tab)."""
    match = _RUN_OF_ROUND.match(run_id)
    if match:
        stats_id, rnd = match.group(1), int(match.group(2))
    else:  # a run started from Airflow's trigger form: its round recorded the run's id
        found = p.store.round_of_run(run_id, kind=_kind_of(dag_id))
        if found is None:
            raise _not_found(
                f"run {_display(run_id)!r} of {_display(dag_id)} is not an SRS request"
            )
        stats_id, rnd = found
    ticket = _readable_ticket(p, who, stats_id)
    _round_or_404(ticket, rnd)
    return RedirectResponse(Links.of(request).request(stats_id, rnd), status_code=307)


def _kind_of(dag_id: str) -> str:
    for kind, dag in DAG_OF_KIND.items():
        if dag == dag_id:
            return kind
    raise _not_found(f"{_display(dag_id)} is not an SRS request DAG")


# --- JSON: the same rules as the pages --------------------------------------------------------


def _ticket_json(ticket: Any) -> dict[str, Any]:
    return {
        "stats_id": ticket.stats_id,
        "kind": ticket.kind,
        "project": ticket.project,
        "destination_project": ticket.destination_project,
        "requester": ticket.requester,
        "folder": ticket.folder,
        "round": ticket.round,
        "state": ticket.state.value,
        "assigned_officers": list(ticket.assigned_officers),
        "received_at": ticket.received_at.isoformat(),
        "queued_at": ticket.queued_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
    }


@app.get("/api/requests", name="queue_json")
def queue_json(
    request: Request,
    who: Reader,
    p: Annotated[Any, Depends(get_pipeline)],
    state: Annotated[list[str] | None, Query()] = None,
    project: str | None = None,
    kind: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE_SIZE,
) -> JSONResponse:
    """The tickets this reader may see, in queue order, a page at a time (``offset``,
    ``limit``; ``total`` counts them all, ``next``/``previous`` are the neighbouring pages)."""
    from include import ticket_queries as tq
    from include.db import session_scope

    filters = _queue_filter(state, project, kind)
    with session_scope(p.settings.database_url) as s:
        got = tq.page(s, who, tq.Section.ALL, filters, offset=offset, limit=limit)
    base = {"state": list(filters.states), "project": filters.project, "kind": filters.kind}

    def href(at: int | None) -> str | None:
        if at is None:
            return None
        query = urlencode(
            {k: v for k, v in {**base, "offset": at, "limit": got.limit}.items() if v or v == 0},
            doseq=True,
        )
        return f"{Links.of(request).srs}/api/requests?{query}"

    return JSONResponse(
        {
            "requests": [_ticket_json(t) for t in got.tickets],
            "total": got.total,
            "offset": got.offset,
            "limit": got.limit,
            "next": href(got.next_offset),
            "previous": href(got.previous_offset),
        },
        headers={"Cache-Control": "no-store"},
    )


@app.get("/api/requests/{stats_id}", name="request_json")
def request_json(
    stats_id: str, who: Reader, hitl: Hitl, p: Annotated[Any, Depends(get_pipeline)]
) -> JSONResponse:
    """One request with its decisions (blinded as on the page) and each round's progress."""
    ticket = _readable_ticket(p, who, stats_id)
    decisions, _, progress = _blinded(p, hitl, ticket)
    body = {
        **_ticket_json(ticket),
        "rounds": [
            {
                "round": n,
                "officers_answered": r.answered,
                "officers_needed": r.needed,
                "blinded": r.blinded,
                "progress": r.label,
            }
            for n, r in sorted(progress.items())
        ],
        "decisions": [
            {
                "round": d.round,
                "step": d.step,
                "role": d.role,
                "actor": d.actor,
                "outcome": d.outcome,
                "guidance": d.guidance,
                "exemption": d.exemption,
                "files": [list(f) for f in d.files],
                "at": d.at.isoformat(),
            }
            for d in decisions
        ],
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


# --- my sign-offs -----------------------------------------------------------------------------


@app.get("/signoffs", response_class=HTMLResponse, name="signoffs")
def my_signoffs(request: Request, user: CurrentUser, hitl: Hitl) -> HTMLResponse:
    """The sign-off tasks waiting for the logged-in user, each linking to its Required Action."""
    links = Links.of(request)
    problem = None
    try:
        waiting = hitl.waiting_for(str(user.get_id()))
    except Exception as exc:  # noqa: BLE001 - say so on the page rather than fail it
        waiting, problem = [], f"Airflow's Required Actions could not be read: {exc}"
    rows = []
    for w in waiting:
        match = _RUN_OF_ROUND.match(w.run_id)
        rows.append(
            {
                "item": w,
                "stats_id": match.group(1) if match else None,
                "href": links.required_action(w.dag_id, w.run_id, w.task_id, w.map_index),
            }
        )
    return _page(request, "signoffs.html.j2", user=user, rows=rows, problem=problem)
