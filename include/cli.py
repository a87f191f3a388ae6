"""The `srs` command: the registry, tickets, checks and the embedded mail sink from a terminal."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from include.settings import get_settings


class CommandError(Exception):
    """A usage problem the user can fix; printed without a traceback, exit status 2."""


def _store():
    from include.tickets import TicketStore

    return TicketStore(get_settings().database_url)


# --- registry ------------------------------------------------------------------------------


def cmd_registry_load(args: argparse.Namespace) -> int:
    from include.db import session_scope
    from include.registry import load
    from include.registry_file import RegistryFileError, read_registry_file

    try:
        doc = read_registry_file(Path(args.file))
    except RegistryFileError as exc:
        raise CommandError(str(exc)) from None
    with session_scope(get_settings().database_url) as session:
        result = load(session, doc)
    print(
        f"loaded {args.file}: {result.people} people, {result.datasets} datasets, "
        f"{result.projects} projects ({len(result.added_projects)} added, "
        f"{len(result.updated_projects)} updated)"
    )
    if result.kept_projects:
        print(
            f"kept (not in this file, still referenced by tickets): {', '.join(result.kept_projects)}"
        )
    return 0


def _project_lines(project) -> list[str]:
    from datetime import date

    today = date.today()
    status = (
        "live"
        if project.is_live(today)
        else ("ended" if project.has_ended(today) else "not started")
    )
    lines = [
        f"project {project.number}: {project.title}",
        f"  kind: {project.kind}   {project.start_date} to {project.end_date} ({status})",
        f"  minimum threshold: {project.effective_threshold}"
        + (" (project setting)" if project.threshold is not None else " (default)"),
        f"  indirect identifiers permitted: {', '.join(project.indirect_permitted) or 'none'}",
        f"  approved variables: {', '.join(project.approved_variables) or 'none'}",
        "  researchers: " + ", ".join(f"{p.username} <{p.email}>" for p in project.researchers),
    ]
    for d in project.datasets:
        owners = ", ".join(p.username for p in d.data_owners) or "none"
        lines.append(f"  dataset {d.name}: data owner review {d.review} (owners: {owners})")
    return lines


def cmd_registry_show(args: argparse.Namespace) -> int:
    from include.db import session_scope
    from include.registry import UnknownProject, get_project, list_projects, officers

    with session_scope(get_settings().database_url) as session:
        if args.project:
            try:
                projects = [get_project(session, args.project)]
            except UnknownProject as exc:
                raise CommandError(str(exc)) from None
        else:
            projects = list_projects(session)
        staff = officers(session)
    if args.json:
        from dataclasses import asdict

        print(json.dumps([asdict(p) for p in projects], default=str, indent=2))
        return 0
    if not projects:
        print("the registry is empty: load a file with `srs registry load FILE`")
    for project in projects:
        print("\n".join(_project_lines(project)))
    if not args.project:
        print("officers: " + (", ".join(f"{p.username} <{p.email}>" for p in staff) or "none"))
    return 0


# --- tickets -------------------------------------------------------------------------------


def cmd_tickets(args: argparse.Namespace) -> int:
    from include.states import TicketState

    states = None
    if args.state:
        try:
            states = [TicketState(s) for s in args.state]
        except ValueError:
            known = ", ".join(s.value for s in TicketState)
            raise CommandError(f"unknown state; known states: {known}") from None
    tickets = _store().find(states=states, project=args.project, kind=args.kind)
    if args.json:
        from dataclasses import asdict

        print(json.dumps([asdict(t) for t in tickets], default=str, indent=2))
        return 0
    if not tickets:
        print("no tickets")
        return 0
    print(
        f"{'STATS-ID':<12} {'kind':<9} {'project':<8} {'state':<22} {'round':>5}  {'received':<20} folder"
    )
    for t in tickets:
        print(
            f"{t.stats_id:<12} {t.kind:<9} {t.project:<8} {t.state.value:<22} {t.round:>5}  "
            f"{t.received_at:%Y-%m-%d %H:%M:%S}  {t.folder}"
        )
    return 0


def cmd_ticket(args: argparse.Namespace) -> int:
    from include.tickets import UnknownTicket

    store = _store()
    try:
        t = store.get(args.stats_id)
        events = store.audit(args.stats_id)
        decisions = store.decisions(args.stats_id)
    except UnknownTicket as exc:
        raise CommandError(str(exc)) from None
    print(
        f"{t.stats_id}  {t.kind} request for project {t.project}"
        + (f" to project {t.destination_project}" if t.destination_project else "")
    )
    print(f"  state: {t.state.value}   round: {t.round}   run: {t.run_id}")
    print(f"  requester: {t.requester}   folder: {t.folder}")
    print(
        f"  received: {t.received_at:%Y-%m-%d %H:%M:%S %Z}   updated: {t.updated_at:%Y-%m-%d %H:%M:%S %Z}"
    )
    named = _full_names([*t.assigned_officers, *(d.actor for d in decisions)])
    if t.assigned_officers:
        print(f"  officers: {', '.join(named[o] for o in t.assigned_officers)}")
    if decisions:
        print("decisions:")
        for d in decisions:
            extra = f" — {d.guidance}" if d.guidance else ""
            extra += f" (exemption: {d.exemption})" if d.exemption else ""
            print(
                f"  {d.at:%Y-%m-%d %H:%M:%S} round {d.round} {d.step} {named[d.actor]}: "
                f"{d.outcome}{extra}"
            )
    print("audit trail:")
    for e in events:
        move = f" {e.from_state or ''}→{e.to_state}" if e.to_state else ""
        detail = f" {json.dumps(e.details, default=str)}" if e.details else ""
        print(f"  {e.at:%Y-%m-%d %H:%M:%S} {e.actor:<16} {e.action}{move}{detail}")
    return 0


def _full_names(usernames: Sequence[str]) -> dict[str, str]:
    """``username (Full Name)`` from the registry for each username; the username alone if
    the registry does not know it (a person removed since, or ``pipeline``)."""
    from include.db import session_scope
    from include.registry import get_person

    shown: dict[str, str] = {}
    with session_scope(get_settings().database_url) as session:
        for username in dict.fromkeys(usernames):
            person = get_person(session, username)
            shown[username] = f"{username} ({person.name})" if person else username
    return shown


# --- submitting ----------------------------------------------------------------------------

SUBMITTED_VIA = "srs submit"


def cmd_submit(args: argparse.Namespace) -> int:
    from include.airflow_api import AirflowAPI, AirflowAPIError
    from include.pipeline import Pipeline
    from include.request_kinds import kind_for
    from include.request_steps import AlreadySubmitted, submit

    p = Pipeline()
    kind = kind_for(args.kind)
    _refuse_what_cannot_start(p, args)
    between = kind.intake_args(vars(args)) if kind.between_projects else {}
    try:
        done = submit(
            p,
            AirflowAPI(p.settings),
            kind=kind.name,
            project=args.project,
            folder=args.folder,
            requester=args.researcher,
            via=SUBMITTED_VIA,
            **between,
        )
    except AlreadySubmitted as exc:
        raise CommandError(str(exc)) from None
    except AirflowAPIError as exc:
        ticket = p.store.open_ticket_for(args.project, args.folder, kind=kind.name)
        which = f"{ticket.stats_id} registered but its run" if ticket else "its run"
        raise CommandError(f"{which} did not start: {exc}. Run the same command again.") from None
    ticket = done.ticket
    if done.started:
        print(f"{ticket.stats_id}: {kind.name} request submitted (Airflow run {done.run_id})")
    else:
        print(
            f"{ticket.stats_id}: {kind.name} request already submitted (Airflow run "
            f"{done.run_id}); nothing new was started"
        )
    return 0


def _refuse_what_cannot_start(p, args: argparse.Namespace) -> None:
    """Refuse at once (CommandError, no ticket) what the run's intake would refuse for sure:
    an unregistered project, a folder name that is a path, a folder that is not there, is a
    symbolic link or holds a link or hard-linked file. The form is left to the run's checks."""
    from include.registry import UnknownProject
    from include.request_kinds import kind_for
    from include.storage import INGEST, NotFound, Place, StorageError, UnsafePath
    from include.storage.paths import segment_problem

    destination = getattr(args, "destination", None)
    for role, number in (("project", args.project), ("destination project", destination)):
        if number is None:
            continue
        try:
            p.project(number)
        except UnknownProject:
            raise CommandError(
                f"{role} {number!r} is not registered with the SRS; nothing was submitted. "
                "Check the number (`srs registry show` lists the registered projects)."
            ) from None
    area = kind_for(args.kind).submission_area(getattr(args, "source_area", None))
    where = "ingest area" if area == INGEST else f"{area} area"
    where = f"project {args.project}'s {where}"
    problem = segment_problem(args.folder)  # "/" included: a path could lead anywhere
    if problem:
        raise CommandError(
            f"--folder {args.folder!r} is not a folder directly inside {where} ({problem}); "
            "nothing was submitted. Put the request folder there and give its name only, "
            "e.g. --folder 2024_01_16_EnergyUseModel_v1."
        )
    place = Place(args.project, area, args.folder)
    try:
        present = p.storage.exists(place)
        if present:
            p.storage.list_files(place)
    except UnsafePath as exc:
        raise CommandError(
            f"folder {args.folder!r} in {where} cannot be submitted: {exc.path!r} "
            f"{exc.reason}; nothing was submitted. Copy the files themselves into a plain "
            "folder there (no links) and submit that folder."
        ) from None
    except (NotFound, StorageError) as exc:
        raise CommandError(f"folder {args.folder!r} in {where} cannot be read: {exc}") from None
    if not present:
        raise CommandError(
            f"there is no folder {args.folder!r} in {where}; nothing was submitted. "
            f"Check the name, or put the request folder in {where} first."
        )


def cmd_reopen(args: argparse.Namespace) -> int:
    """A held request (signoff_held) goes back to its officers once operations have looked."""
    from include.airflow_api import AirflowAPI, AirflowAPIError
    from include.permissions import NotPermitted
    from include.pipeline import Pipeline
    from include.request_kinds import kind_for
    from include.request_steps import reopen_signoffs
    from include.tickets import TicketError

    p = Pipeline()
    try:
        ticket = reopen_signoffs(p, args.stats_id, actor=args.by, reason=args.reason)
    except (NotPermitted, TicketError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    kind = kind_for(ticket.kind)
    dag_id = kind.dag_id
    try:
        AirflowAPI(p.settings).clear_tasks(dag_id, ticket.run_id, list(kind.signoff_tasks))
    except AirflowAPIError as exc:
        raise CommandError(
            f"{ticket.stats_id} is awaiting its officers again, but its sign-offs were not "
            f"cleared: {exc}. Clear them in run {ticket.run_id} of {dag_id}."
        ) from None
    print(f"{ticket.stats_id}: sign-offs of run {ticket.run_id} asked again")
    return 0


def cmd_resubmit(args: argparse.Namespace) -> int:
    from include import request_steps
    from include.airflow_api import AirflowAPI, AirflowAPIError
    from include.pipeline import Pipeline
    from include.states import TicketState
    from include.tickets import UnknownTicket

    p = Pipeline()
    try:
        ticket = p.store.get(args.stats_id)
    except UnknownTicket as exc:
        raise CommandError(str(exc)) from None
    if ticket.state != TicketState.REVISIONS_REQUESTED:
        raise CommandError(
            f"{ticket.stats_id} is in state '{ticket.state}'; only a request whose revisions were requested can be resubmitted"
        )
    researcher = args.researcher or ticket.requester
    rnd = ticket.round + 1
    run_id = f"{ticket.stats_id}-r{rnd}"
    try:
        started = request_steps.start_round_run(
            p,
            AirflowAPI(p.settings),
            ticket,
            rnd,
            folder=args.folder,
            requester=researcher,
            actor=SUBMITTED_VIA,
        )
    except AirflowAPIError as exc:
        raise CommandError(str(exc)) from None
    if not started:
        print(f"{ticket.stats_id}: round {rnd} already submitted (Airflow run {run_id})")
        return 0
    print(
        f"{ticket.stats_id}: round {rnd} submitted from folder {args.folder} (Airflow run {run_id})"
    )
    return 0


# --- mail sink and demo ---------------------------------------------------------------------


def cmd_mailsink(args: argparse.Namespace) -> int:
    from include.mailsink import serve

    settings = get_settings()
    folder = Path(args.folder) if args.folder else settings.mail_dir
    serve(args.host or settings.smtp_host, args.port or settings.smtp_port, folder)
    return 0


def cmd_demo_init(args: argparse.Namespace) -> int:
    from include.demo import init_demo

    for line in init_demo(Path(args.registry)):
        print(line)
    return 0


def cmd_demo_users(args: argparse.Namespace) -> int:
    """The SimpleAuthManager users setting (``name:role,...``) for the registry's staff."""
    from include.demo import airflow_users
    from include.registry_file import read_registry_file

    doc = read_registry_file(Path(args.registry))
    print(",".join(f"{user}:{role}" for user, role in airflow_users(doc)))
    return 0


def cmd_demo_logins(args: argparse.Namespace) -> int:
    from include.demo import login_lines
    from include.registry_file import read_registry_file

    print("\n".join(login_lines(read_registry_file(Path(args.registry)))))
    return 0


# --- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from include.request_kinds import KINDS, SOURCE_AREAS

    parser = argparse.ArgumentParser(prog="srs", description="SRS request pipeline")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    reg = sub.add_parser("registry", help="load or show the projects registry")
    reg_sub = reg.add_subparsers(dest="registry_command", required=True, metavar="ACTION")
    p = reg_sub.add_parser("load", help="load a registry YAML file (updates in place)")
    p.add_argument("file")
    p.set_defaults(func=cmd_registry_load)
    p = reg_sub.add_parser("show", help="show one project, or everything known")
    p.add_argument("project", nargs="?")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_registry_show)

    p = sub.add_parser("tickets", help="list tickets in queue order")
    p.add_argument("--state", action="append", help="only tickets in this state (repeatable)")
    p.add_argument("--project")
    p.add_argument("--kind", choices=list(KINDS))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tickets)

    p = sub.add_parser("ticket", help="one ticket with its decisions and audit trail")
    p.add_argument("stats_id", metavar="STATS-ID")
    p.set_defaults(func=cmd_ticket)

    submit = sub.add_parser("submit", help="register a request and start its Airflow run")
    kinds = submit.add_subparsers(dest="kind", required=True, metavar="KIND")
    for kind in KINDS.values():
        p = kinds.add_parser(kind.name, help=kind.submit_help)
        p.add_argument("--project", required=True, help="project number (transfer: the source)")
        if kind.between_projects:
            p.add_argument("--source-area", required=True, choices=list(SOURCE_AREAS))
            p.add_argument("--destination", required=True, help="destination project number")
        p.add_argument("--folder", required=True)
        p.add_argument("--researcher", required=True, help="the requester's username")
        p.set_defaults(func=cmd_submit)

    p = sub.add_parser("resubmit", help="start the next round of a request after revisions")
    p.add_argument("stats_id", metavar="STATS-ID")
    p.add_argument("--folder", required=True, help="the revised folder, e.g. NAME_v2")
    p.add_argument("--researcher", help="default: the ticket's requester")
    p.set_defaults(func=cmd_resubmit)

    p = sub.add_parser("reopen", help="ask a held request's sign-offs again (operations)")
    p.add_argument("stats_id", metavar="STATS-ID")
    p.add_argument("--reason", required=True, help="what the investigation found")
    p.add_argument("--by", required=True, help="your username (operations)")
    p.set_defaults(func=cmd_reopen)

    try:
        from include.checks.command import add_check_parser
    except ImportError:  # the checks engine is optional while it is being built
        pass
    else:
        add_check_parser(sub)
        from include.checks import check_server

        p = sub.add_parser(
            "check-server",
            help="keep the checks warm (Great Expectations imported) for `srs check`",
            description=check_server.__doc__.split("\n")[0],
        )
        check_server.add_arguments(p)
        p.set_defaults(func=check_server.run)

    p = sub.add_parser(
        "mailsink", help="run the embedded SMTP server that keeps mail as .eml files"
    )
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--folder", help="where to keep received mail (default: $SRS_MAIL_DIR)")
    p.set_defaults(func=cmd_mailsink)

    from include.record_cli import add_record_parsers

    add_record_parsers(sub)  # srs db ..., srs audit verify

    demo = sub.add_parser("demo", help="demo data for the embedded default")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True, metavar="ACTION")
    default_registry = str(Path(__file__).resolve().parent.parent / "demo" / "registry.yaml")
    for name, func, text in (
        ("init", cmd_demo_init, "load the demo registry and lay out project folders"),
        ("users", cmd_demo_users, "print the Airflow SimpleAuthManager users setting"),
        ("logins", cmd_demo_logins, "print the demo logins and their passwords"),
    ):
        p = demo_sub.add_parser(name, help=text)
        p.add_argument("--registry", default=default_registry)
        p.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["check"]:
        from include.checks.check_client import run_on_server

        served = run_on_server(argv[1:])  # a warm `srs check-server`, when one is running
        if served is not None:
            return served
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"srs: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # bad settings, illegal transitions: a message, never a traceback
        print(f"srs: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
