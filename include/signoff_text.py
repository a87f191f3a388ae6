"""What a sign-off task shows: its subject, the body summarising the round's automated checks
and what changed since the round before, and the people it is assigned to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from include import request_rounds
from include.tickets import Ticket


@dataclass(frozen=True)
class SignOffRequest:
    """What a sign-off task shows, and to whom it is assigned."""

    subject: str
    body: str
    assignees: tuple[tuple[str, str], ...]  # (username, display name)
    files: tuple[str, ...] = ()  # the request's files, each given its own guidance box


def signoff_body(p: Any, ticket: Ticket, what: str, *, officer: bool) -> str:
    """The body of the current round's sign-off; ``what`` says what the request is (its kind's
    description: "output from project **1234567**")."""
    checks = request_rounds.checks(ticket)
    summary = checks.get("summary", {})
    sev = summary.get("by_severity", {})
    requester = p.person(ticket.requester)
    by = f"{requester.name} ({ticket.requester})" if requester else ticket.requester
    lines = [
        f"**Request** {ticket.stats_id}, round {ticket.round}: {what}, "
        f"folder `{ticket.folder}`, requested by {by}.",
        "",
        f"**Automated checks: {checks.get('verdict', 'not run').upper()}** — "
        f"{sev.get('block', 0)} blocking, {sev.get('review', 0)} to review, {sev.get('info', 0)} for information.",
    ]
    by_rule = summary.get("by_rule", {})
    if by_rule:
        lines.append(
            "Findings by rule: " + ", ".join(f"`{rule}` {n}" for rule, n in by_rule.items())
        )
    if checks.get("blocking"):
        lines += ["", "Blocking findings:"]
        lines += [
            f"- `{f['rule']}`{'/' + f['kind'] if f.get('kind') else ''} at {f['where']}: {f['message']}"
            for f in checks["blocking"][:15]
        ]
        if len(checks["blocking"]) > 15:
            lines.append(f"- … and {len(checks['blocking']) - 15} more in the full report")
        lines += cross_table_lines(checks["blocking"])
    files = checks.get("files", [])
    if files:
        lines += ["", "Files: " + ", ".join(f"`{f['path']}` ({f['role']})" for f in files)]
    if ticket.round > 1:
        lines += ["", f"**Since round {ticket.round - 1}:** " + changes_since_last_round(ticket)]
    lines += [
        "",
        f"[Full check report and request page]({p.settings.ui_url(f'srs/requests/{ticket.stats_id}')})",
        "",
    ]
    if officer:
        lines.append(
            "Choose **Pass**, **Request revisions** or **Query researcher**. Revisions and queries need "
            "guidance text for the researcher. Passing with blocking findings needs an exemption reason."
        )
    else:
        lines.append(
            "Choose **Approve**, or **Request revisions** with guidance for the researcher."
        )
    return "\n".join(lines)


def changes_since_last_round(ticket: Ticket) -> str:
    changes = request_rounds.round_changes(ticket)
    if not changes:
        return "no snapshot of the previous round to compare with."
    parts = [
        f"{label} " + ", ".join(f"`{p}`" for p in changes[label])
        for label in ("changed", "added", "removed")
        if changes[label]
    ]
    return "; ".join(parts) + "." if parts else "no file changed (every hash is the same)."


MAX_CROSS_TABLE = 5


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def cross_table_lines(findings: list[dict[str, Any]]) -> list[str]:
    """Cross-table findings (those with ``related``) as compact two-column tables: this
    request's table and cell beside the other table's (a released one by STATS-ID)."""
    crossed = [f for f in findings if f.get("related")]
    if not crossed:
        return []
    lines = ["", "Cross-table findings (this request beside the other table):"]
    for f in crossed[:MAX_CROSS_TABLE]:
        rel, loc = f["related"], f.get("location") or {}
        here = loc.get("file", "?") + (f" [{loc['sheet']}]" if loc.get("sheet") else "")
        here_cell = loc.get("cell") or (f"row {loc['row']}" if loc.get("row") else "")
        there = (rel.get("source") + ": " if rel.get("source") else "") + rel.get("file", "?")
        there += f" [{rel['sheet']}]" if rel.get("sheet") else ""
        lines += [
            "",
            f"`{f['rule']}`{'/' + f['kind'] if f.get('kind') else ''}",
            "",
            "| | This request | Other table |",
            "|---|---|---|",
            f"| Table | {_cell(here)} | {_cell(there)} |",
            f"| Cell | {_cell(here_cell)} | {_cell(rel.get('cell') or '')} |",
        ]
        for what, this, other in rel.get("compare") or ():
            lines.append(f"| {_cell(what)} | {_cell(this)} | {_cell(other)} |")
    if len(crossed) > MAX_CROSS_TABLE:
        lines.append(
            f"… and {len(crossed) - MAX_CROSS_TABLE} more cross-table findings in the report"
        )
    return lines
