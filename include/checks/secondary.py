"""Secondary disclosure: a request's tables against each other and the project's released ones.

``secondary_findings(tables, released, policy)`` runs the table rules on each new table
(`unrounded`, `rounding_undone`, `suppression_recoverable`) and the cross-table ones
(`differencing`, and `suppression_recoverable` with another table as the margin) on every
pair of new tables and every new table against the released tables that share a dimension
with it. The released tables are indexed by dimension name, so a new table is compared only
with tables it could be subtracted from, never with the whole ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from include.checks.differencing import differencing
from include.checks.findings import Finding, Location, Severity
from include.checks.policy import CheckPolicy
from include.checks.rounding import rounding_undone_findings, unrounded_findings
from include.checks.suppression import suppression_findings
from include.checks.table_profile import TableProfile

__all__ = ["LedgerIndex", "secondary_findings"]

# Differencing findings listed per new table; the rest are counted in one summary finding.
# Many tables of one shape (hundreds of one-row CSVs) would otherwise list every pair: an
# attack review made a 1.1 GB report of 1,500 files.
DIFFERENCING_LISTED = 20


class LedgerIndex:
    """Released tables by canonical dimension name."""

    def __init__(self, tables: Iterable[TableProfile]) -> None:
        self.tables = list(tables)
        self.by_dimension: dict[str, list[int]] = {}
        for i, t in enumerate(self.tables):
            for d in t.signature:
                self.by_dimension.setdefault(d, []).append(i)

    def sharing(self, table: TableProfile) -> list[TableProfile]:
        """Released tables sharing at least one dimension with ``table``, in ledger order."""
        hits = sorted({i for d in table.signature for i in self.by_dimension.get(d, ())})
        return [self.tables[i] for i in hits]


def secondary_findings(
    tables: Sequence[TableProfile],
    released: Sequence[TableProfile] | LedgerIndex,
    policy: CheckPolicy,
) -> list[Finding]:
    """Findings on the new ``tables`` (their Location.file is the table's file)."""
    index = released if isinstance(released, LedgerIndex) else LedgerIndex(released)
    threshold, base = policy.threshold, policy.rounding_base
    out: list[Finding] = []
    for i, table in enumerate(tables):
        out += unrounded_findings(table, base, policy.rounding_required)
        out += rounding_undone_findings(table, base)
        others = [t for j, t in enumerate(tables) if j != i]
        shared = index.sharing(table)
        out += suppression_findings(table, [*others, *shared], threshold, base)
        # The reverse: this table as the margin that gives away a released table's cells.
        for old in shared:
            if old.suppressed:
                for f in suppression_findings(old, [table], threshold, base, own=False):
                    if f.related is not None:
                        out.append(_on_new(f, table, old))
        found: list[Finding] = []
        for other in tables[i + 1 :]:
            found += differencing(table, other, threshold)
        for old in shared:
            found += differencing(table, old, threshold)
        out += _listed(table, found)
    return out


def _listed(table: TableProfile, found: list[Finding]) -> list[Finding]:
    """The first DIFFERENCING_LISTED findings, and one blocking summary of the rest."""
    if len(found) <= DIFFERENCING_LISTED:
        return found
    rest = found[DIFFERENCING_LISTED:]
    others = {(f.related.source, f.related.file, f.related.sheet) for f in rest if f.related}
    summary = Finding(
        rule="differencing",
        severity=Severity.BLOCK,
        kind="summary",
        location=Location(file=table.file, sheet=table.sheet),
        message=(
            f"{len(rest):,} more differencing findings against {len(others):,} other "
            f"table{'s' if len(others) != 1 else ''} are not listed (the first "
            f"{DIFFERENCING_LISTED} are): this table and many others share categories but not "
            "populations; make them consistent or combine them before the output is released"
        ),
    )
    return [*found[:DIFFERENCING_LISTED], summary]


def _on_new(f: Finding, new: TableProfile, old: TableProfile) -> Finding:
    """A released table's cell recovered with the new table's help: the new table must
    change, so the finding is on it and ``related`` names the released cell."""
    from dataclasses import replace

    from include.checks.findings import Location, Related

    where = f.location.cell or (f"row {f.location.row}" if f.location.row else None)
    # Side by side from this (the new) table's point of view: its margin, the released cell.
    compare = tuple((w, there, here) for w, here, there in (f.related.compare if f.related else ()))
    related = Related(old.source, old.file, old.sheet, where, compare)
    message = (
        f"released table {old.label}: {f.message} (this table is the margin that gives it away)"
    )
    return replace(
        f, message=message, location=Location(file=new.file, sheet=new.sheet), related=related,
        kind="released_cell",
    )  # fmt: skip
