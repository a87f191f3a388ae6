"""`srs check PATH`: run the automated checks on a folder or file and print the report.

Exit codes: 0 pass, 1 fail (a blocking finding), 2 usage errors only (a bad option, an unknown
project, a missing PATH). A hostile, corrupt or huge file is a finding, never exit 2.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from include.checks.check_client import write_bytes
from include.checks.policy import INDIRECT_KINDS, CheckPolicy

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def add_check_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "check",
        help="run the automated checks on a request folder or a file",
        description="Check a request folder (or one file) against shared/RULES.md. "
        "Exit 0 pass, 1 fail, 2 usage error.",
    )
    _add_arguments(p)
    p.set_defaults(func=run_check)
    return p


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="PATH", help="request folder or single file")
    p.add_argument(
        "--project",
        metavar="NUMBER",
        help="use this project's SDC policy and check against its released tables (the ledger)",
    )
    p.add_argument(
        "--released",
        action="append",
        default=[],
        metavar="DIR",
        help="check against the tables in this folder of previously released files instead of "
        "the ledger (offline use); repeatable",
    )
    p.add_argument(
        "--threshold", type=int, metavar="N", help="minimum count (overrides the project's)"
    )
    p.add_argument(
        "--allow-indirect",
        action="append",
        default=[],
        metavar="KIND",
        choices=INDIRECT_KINDS,
        dest="allow_indirect",
        help=f"allow an indirect identifier kind ({', '.join(INDIRECT_KINDS)}); repeatable",
    )
    p.add_argument(
        "--request", action="store_true", help="also run the request form and folder rules"
    )
    p.add_argument(
        "--no-server",
        action="store_true",
        help="check in this process even when a warm check server is running",
    )
    p.add_argument(
        "--format",
        choices=("json", "text", "html"),
        default="text",
        dest="format",
        help="report format (default: text)",
    )


def _err(message: str) -> int:
    sys.stderr.write(f"srs check: error: {message}\n")
    return EXIT_USAGE


def _policy(args: argparse.Namespace) -> CheckPolicy:
    if getattr(args, "project", None):
        from include.projects import check_policy_for

        policy = check_policy_for(str(args.project))
    else:
        policy = CheckPolicy()
    changes: dict = {}
    if getattr(args, "threshold", None) is not None:
        changes["threshold"] = args.threshold
    allow = list(getattr(args, "allow_indirect", None) or [])
    if allow:
        changes["allowed_indirect"] = frozenset(policy.allowed_indirect) | frozenset(allow)
    return replace(policy, **changes) if changes else policy


def _released(args: argparse.Namespace, path: Path) -> Any:
    """The released tables to check against: every table under each --released folder
    (source: the folder), else the project's ledger when --project is given."""
    from include.checks.table_profile import profile_tables

    folders = list(getattr(args, "released", None) or [])
    if folders:
        out = []
        for folder in folders:
            root = Path(folder)
            if not root.is_dir():
                raise ValueError(f"--released {folder}: not a folder")
            for file in sorted(root.rglob("*")):
                if file.is_file() and not file.is_symlink():
                    out += profile_tables(file, str(root), file=file.relative_to(root).as_posix())
        return out
    if getattr(args, "project", None):
        from include.release_ledger import StoredLedger
        from include.settings import get_settings
        from include.tickets import TicketStore

        # Lazy: only the released tables sharing a dimension with these tables are loaded.
        return StoredLedger(TicketStore(get_settings().database_url), str(args.project))
    return []


def run_check(args: argparse.Namespace) -> int:
    from include.checks.engine import check_path
    from include.checks.report import render

    path = Path(args.path)
    if not path.exists() and not path.is_symlink():
        return _err(f"no such file or folder: {args.path}")
    fmt = getattr(args, "format", "text") or "text"
    if fmt not in ("json", "text", "html"):
        return _err(f"unknown format {fmt!r} (json, text or html)")
    try:
        policy = _policy(args)
    except LookupError as exc:
        return _err(str(exc.args[0]) if exc.args else str(exc))
    except ValueError as exc:
        return _err(str(exc))
    request = bool(getattr(args, "request", False))
    if request and not path.is_dir():
        return _err("--request needs the request folder, not a single file")
    try:
        released = _released(args, path)
    except (LookupError, ValueError, OSError) as exc:
        return _err(str(exc))
    report = check_path(path, policy, request=request, released=released)
    write_bytes(sys.stdout, render(report, fmt).encode("utf-8", "replace"))
    return EXIT_PASS if report.passed else EXIT_FAIL


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (python -m include.checks.command PATH ...), same as `srs check`."""
    parser = argparse.ArgumentParser(
        prog="srs check", description="Check a request folder or file."
    )
    _add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return run_check(args)


if __name__ == "__main__":
    raise SystemExit(main())
