"""``srs db upgrade|current|grant-app-role`` and ``srs audit verify``: the permanent record."""

from __future__ import annotations

import argparse

from include.settings import get_settings


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    from include.db import upgrade

    print(f"ticket store at revision {upgrade(get_settings().database_url)} (head)")
    return 0


def cmd_db_current(_args: argparse.Namespace) -> int:
    from alembic.script import ScriptDirectory

    from include.db import current_revision
    from include.store_migrations import alembic_config

    current = current_revision(get_settings().database_url)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    state = "head" if current == head else f"behind head {head}; run `srs db upgrade`"
    print(f"{current or 'not migrated'} ({state})")
    return 0 if current == head else 1


def cmd_db_grant(args: argparse.Namespace) -> int:
    from include.db_grants import grant_app_role

    for sql in grant_app_role(get_settings().database_url, args.role):
        print(sql)
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from include.tickets import TicketStore, UnknownTicket

    if args.archive:
        return _verify_archives(args.stats_id)
    store = TicketStore(get_settings().database_url)
    try:
        reports = [store.verify_chain(args.stats_id)] if args.stats_id else store.verify_all()
    except UnknownTicket as exc:
        raise ValueError(str(exc)) from None
    broken = [r for r in reports if not r.ok]
    for r in reports:
        if r.ok:
            print(f"{r.stats_id}  ok  {r.events} events  head {r.head}")
    for r in broken:
        print(r.describe())
    if not reports:
        print("no tickets")
    return 1 if broken else 0


def _verify_archives(stats_id: str | None) -> int:
    """Each archived ticket's chain.json re-verified from its archive alone, and the store's
    chain checked to still begin with it (a chain rewritten whole, head and all)."""
    from include.archive_chain import CHAIN_FILE, read_archive, store_differs
    from include.audit_verify import verify_archived
    from include.pipeline import Pipeline
    from include.states import TicketState
    from include.tickets import UnknownTicket

    p = Pipeline()
    try:
        tickets = [p.store.get(stats_id)] if stats_id else []
    except UnknownTicket as exc:
        raise ValueError(str(exc)) from None
    if stats_id and tickets[0].state != TicketState.ARCHIVED:
        raise ValueError(f"{stats_id} is {tickets[0].state}, not archived: it has no archive yet")
    tickets = tickets or p.store.find(states=[TicketState.ARCHIVED])
    bad = 0
    for t in tickets:
        where = p.archive_place(t)
        if not p.storage.exists(where, CHAIN_FILE):
            print(f"{t.stats_id}  no {CHAIN_FILE} (archived before the archive kept the chain)")
            continue
        chain, decisions, manifests = read_archive(p.storage, where)
        report = verify_archived(chain, decisions, manifests)
        differs = store_differs(p.store, chain) if report.ok else None
        if report.ok and differs is None:
            print(f"{t.stats_id}  archive ok  {report.events} events  head {report.head}")
            continue
        bad += 1
        print(
            f"{report.describe()} (archive)" if not report.ok else f"{t.stats_id} BROKEN: {differs}"
        )
    if not tickets:
        print("no archived tickets")
    return 1 if bad else 0


def add_record_parsers(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="the ticket store's schema (Alembic migrations) and grants")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="upgrade the ticket store to the newest schema").set_defaults(
        func=cmd_db_upgrade
    )
    db_sub.add_parser("current", help="the schema revision (exit 1 when not at head)").set_defaults(
        func=cmd_db_current
    )
    p = db_sub.add_parser(
        "grant-app-role",
        help="PostgreSQL: let ROLE read and append the record, never update or delete it",
    )
    p.add_argument("role", metavar="ROLE")
    p.set_defaults(func=cmd_db_grant)

    audit = sub.add_parser("audit", help="the audit trail's hash chain")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    p = audit_sub.add_parser(
        "verify", help="recompute the chain (exit 1 naming the first broken event)"
    )
    p.add_argument("stats_id", nargs="?", metavar="STATS-ID", help="default: every ticket")
    p.add_argument(
        "--archive",
        action="store_true",
        help="verify archived tickets from their archive's chain.json, and the store against it",
    )
    p.set_defaults(func=cmd_audit_verify)
