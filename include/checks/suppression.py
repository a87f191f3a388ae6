"""`suppression_recoverable` (block): suppressed cells that margins and other cells give away.

A table's base cells (no category a total) add up to its total cells: a total row or column
is the sum of the cells it totals. Suppressed counts are unknowns, published cells and
totals constants, and a linear programme over that additivity (``scipy.optimize.linprog``,
HiGHS) gives each suppressed cell's feasible range, with counts never negative and a ``<N``
marker an upper bound. A cell whose range is narrower than the threshold is recoverable (the
only suppressed cell in a row with a total is the simplest case: its range is one value).

Other tables supply margins too: a table (of the same request, or released before) over a
subset of the dimensions adds one equation per published cell. When they contradict the
table (another population), they are left out. When a table's counts are rounded (all
multiples of the rounding base), every equation holds only to within the rounding, so the
ranges widen accordingly. A total that equals the sum of the published cells alone was
recomputed after suppression (ACRO's margins are) and is no equation about the hidden cells.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from include.checks.findings import Finding, Related, Severity
from include.checks.table_margins import count_column, dims, fmt, key_text, location, margins, ref
from include.checks.table_profile import TableProfile, canonical

RULE = "suppression_recoverable"
MAX_UNKNOWNS = 200
MAX_LP_OTHERS = 20  # other tables per suppressed table given the full LP (propagation for all)
INF = float("inf")
_BOUND = re.compile(r"<\s*(\d+(?:\.\d+)?)")


class _System:
    """Equations sum(unknowns) + constant == value (within ``slack``) over one table."""

    def __init__(self, table: TableProfile, column: str, rounding_base: int) -> None:
        self.table, self.column = table, column
        self.names = dims(table)
        totals = [table.totals.get(d) for d in table.dimensions]
        self.base: dict[tuple, float | None] = {}
        self.raw: dict[tuple, tuple[str, ...]] = {}
        self.total_cells: list[tuple[tuple, float | None, tuple[str, ...]]] = []
        for c in table.cells:
            key = tuple(
                None if k == t else canonical(k) for k, t in zip(c.key, totals, strict=True)
            )
            if None in key:
                self.total_cells.append((key, c.values.get(column), c.key))
            else:
                self.base[key] = c.values.get(column)
                self.raw[key] = c.key
        self.unknowns: list[tuple] = [k for k, v in self.base.items() if v is None]
        # Suppressed totals are unknowns too (a suppressed total hides nothing by itself).
        self.unknowns += [k for k, v, _ in self.total_cells if v is None]
        self.index = {k: i for i, k in enumerate(self.unknowns)}
        markers = {
            tuple(canonical(x) for x in key): m for key, col, m in table.suppressed if col == column
        }
        self.upper: dict[int, float] = {}
        for key, raw in self.raw.items():
            m = markers.get(tuple(canonical(x) for x in raw))
            if key in self.index and m and (b := _BOUND.search(m)):
                self.upper[self.index[key]] = float(b.group(1))
        known = [v for v in self.base.values() if v is not None]
        known += [v for _, v, _ in self.total_cells if v is not None]
        rounded = rounding_base > 1 and known and all(v % rounding_base == 0 for v in known)
        self.half = rounding_base / 2 if rounded else 0.0
        self.rows: list[tuple[list[int], float, float]] = []  # (unknowns, rhs, slack)
        # Row index -> the other table's cell (its key, or None for a sum) and value behind it.
        self.sources: dict[int, tuple[tuple[str, ...] | None, float]] = {}

    def add(self, pattern: tuple, value: float | None, total_key: tuple | None) -> None:
        """pattern: a canonical category per dimension, or None for 'any' (a total)."""
        members, const, terms = [], 0.0, 1
        for key, v in self.base.items():
            if all(p is None or p == k for p, k in zip(pattern, key, strict=True)):
                if v is None:
                    members.append(self.index[key])
                else:
                    const += v
                    terms += 1
        if not members and (total_key is None or total_key not in self.index):
            return
        if value is None:  # a suppressed total: sum(members) - total = -const
            if total_key is None or total_key not in self.index:
                return
            members = [*members, -1 - self.index[total_key]]
            value = 0.0
        slack = self.half * terms  # each published term is off by up to half the base
        self.rows.append((members, value - const, slack))

    def own(self) -> None:
        for key, value, _raw in self.total_cells:
            self.add(key, value, key)
        # A total equal to the sum of the published cells alone was recomputed after
        # suppression (ACRO 1.x does this): it says nothing about the suppressed cells (it
        # would pin them at 0), so it is not an equation about them.
        self.rows = [
            r for r in self.rows if not (abs(r[1]) <= r[2] + 1e-9 and all(m >= 0 for m in r[0]))
        ]

    def propagate(self, rounds: int = 30) -> dict[int, tuple[float, float]] | None:
        """Each base unknown's (min, max) by bound propagation over the equations (a range
        at least as wide as the LP's); None when the equations cannot all hold."""
        n = len(self.unknowns)
        lo = [0.0] * n
        hi = [self.upper.get(i, INF) for i in range(n)]
        terms = [
            ([(m, 1.0) if m >= 0 else (-1 - m, -1.0) for m in members], rhs, slack)
            for members, rhs, slack in self.rows
        ]
        for _ in range(rounds):
            changed = False
            for row, rhs, slack in terms:
                mins = [c * (lo[v] if c > 0 else hi[v]) for v, c in row]
                maxs = [c * (hi[v] if c > 0 else lo[v]) for v, c in row]
                total_min, total_max = sum(mins), sum(maxs)
                if total_min > rhs + slack + 1e-6 or total_max < rhs - slack - 1e-6:
                    return None
                for k, (v, c) in enumerate(row):
                    rest_min, rest_max = total_min - mins[k], total_max - maxs[k]
                    a, b = rhs - slack - rest_max, rhs + slack - rest_min  # bounds of c * x_v
                    new_lo, new_hi = (a / c, b / c) if c > 0 else (b / c, a / c)
                    if new_lo > lo[v] + 1e-9:
                        lo[v], changed = new_lo, True
                    if new_hi < hi[v] - 1e-9:
                        hi[v], changed = new_hi, True
                    if lo[v] > hi[v] + 1e-6:
                        return None
            if not changed:
                break
        involved = {v for row, _, _ in terms for v, _ in row}
        return {v: (lo[v], hi[v]) for v in involved if self.unknowns[v] in self.raw}

    def ranges(self) -> dict[int, tuple[float, float]] | None:
        """Each base unknown's (min, max); None when the equations cannot all hold."""
        import numpy as np
        from scipy.optimize import linprog

        n = len(self.unknowns)
        if not self.rows or n == 0:
            return {}
        a_ub, b_ub, a_eq, b_eq = [], [], [], []
        for members, rhs, slack in self.rows:
            row = np.zeros(n)
            for m in members:
                if m >= 0:
                    row[m] += 1
                else:
                    row[-1 - m] -= 1
            if slack:
                a_ub += [row, -row]
                b_ub += [rhs + slack, -(rhs - slack)]
            else:
                a_eq.append(row)
                b_eq.append(rhs)
        bounds = [(0, self.upper.get(i)) for i in range(n)]
        kwargs = {
            "A_ub": np.array(a_ub) if a_ub else None,
            "b_ub": np.array(b_ub) if b_ub else None,
            "A_eq": np.array(a_eq) if a_eq else None,
            "b_eq": np.array(b_eq) if b_eq else None,
            "bounds": bounds,
            "method": "highs",
        }
        out: dict[int, tuple[float, float]] = {}
        involved = {abs(m) if m >= 0 else -1 - m for members, _, _ in self.rows for m in members}
        for i in sorted(involved):
            if self.unknowns[i] not in self.raw:
                continue  # a suppressed total's range is not reported
            c = np.zeros(n)
            c[i] = 1
            lo = linprog(c, **kwargs)
            if lo.status == 2:
                return None  # infeasible
            hi = linprog(-c, **kwargs)
            if lo.status != 0:
                continue
            top = -hi.fun if hi.status == 0 else float("inf")
            out[i] = (max(lo.fun, 0.0), top)
        return out


def _margin_rows(system: _System, other: TableProfile, column: str) -> int:
    """Equations ``other``'s published margins add to ``system``: its sums over the dimensions
    both tables have (its own cells when it has no others) equal the sums of this table's
    cells with those categories. How many were added."""
    names = system.names
    common = [d for d in dims(other) if d in names]
    if not common:
        return 0
    cats = {d: {key[names.index(d)] for key in system.base} for d in common}
    before = len(system.rows)
    for key, cell in margins(other, column, common).items():
        if any(k not in cats[d] for d, k in zip(common, key, strict=True)):
            continue
        pattern: list[str | None] = [None] * len(names)
        for d, k in zip(common, key, strict=True):
            pattern[names.index(d)] = k
        added = len(system.rows)
        system.add(tuple(pattern), cell.value, None)
        if len(system.rows) > added:
            system.sources[added] = (cell.key, cell.value)
    return len(system.rows) - before


def suppression_findings(
    table: TableProfile,
    others: Sequence[TableProfile],
    threshold: int,
    rounding_base: int,
    *,
    own: bool = True,
) -> list[Finding]:
    """Recoverable suppressed cells of ``table``; ``others`` may supply margins. ``own=False``
    reports only what the others give away (the table's own totals are still equations).

    Each other table is tried alone (so the finding can name it): bound propagation first
    (exact for a cell an equation leaves alone), then, for the first ``MAX_LP_OTHERS`` tables
    it leaves open, the linear programme; the table's own equations get the LP always."""
    out: list[Finding] = []
    for column in table.counts:
        if not any(col == column for _, col, _ in table.suppressed):
            continue
        system = _System(table, column, rounding_base)
        if not system.unknowns or len(system.unknowns) > MAX_UNKNOWNS:
            continue
        system.own()
        own_rows = list(system.rows)
        if own:
            found = (system.ranges() if own_rows else {}) or {}
        else:
            found = (system.propagate() if own_rows else {}) or {}
        recovered = {i: r for i, r in found.items() if r[1] - r[0] < threshold}
        if own:
            for i, r in recovered.items():
                out.append(_finding(table, column, system, i, r, threshold, None))
        budget = MAX_LP_OTHERS
        for other in others:
            if other is table or other.same_table(table):
                continue
            col = count_column(other, table)
            if col is None:
                continue
            system.rows = list(own_rows)
            system.sources = {}
            if not _margin_rows(system, other, col):
                continue
            if all(row in own_rows for row in system.rows[len(own_rows) :]):
                continue  # nothing this table does not already say
            spans = system.propagate()
            if spans is None:
                continue  # contradicts this table (another population)
            hits = {
                i: r for i, r in spans.items() if r[1] - r[0] < threshold and i not in recovered
            }
            if not hits and budget > 0 and any(i not in recovered for i in spans):
                budget -= 1
                spans = system.ranges()
                if not spans:
                    continue
                hits = {
                    i: r for i, r in spans.items() if r[1] - r[0] < threshold and i not in recovered
                }
            for i, r in hits.items():
                recovered[i] = r
                out.append(_finding(table, column, system, i, r, threshold, other, col))
    return out


def _finding(
    table: TableProfile,
    column: str,
    system: _System,
    i: int,
    span: tuple[float, float],
    threshold: int,
    other: TableProfile | None,
    other_column: str | None = None,
) -> Finding:
    key = system.unknowns[i]
    raw = system.raw[key]
    lo, hi = round(span[0], 6), round(span[1], 6)
    what = key_text(table.dimensions, raw)
    value = f"exactly {fmt(lo)}" if hi - lo < 1e-6 else f"between {fmt(lo)} and {fmt(hi)}"
    by = (
        "this table's own totals and cells"
        if other is None
        else f"this table with {other.file}"
        + (f" [{other.sheet}]" if other.sheet else "")
        + (f" ({other.source})" if other.source and other.source != table.source else "")
        + " as its margin"
    )
    message = (
        f"the suppressed count for {what}{'' if table.wide else f' (column {column!r})'} can "
        f"be worked out from {by}: it "
        f"is {value}, a range narrower than this project's minimum of {threshold}; suppress "
        "further cells (secondary suppression) or the totals, or combine categories"
    )
    related = None
    if other is not None:
        # The other table's cell whose equation holds this unknown (the margin used).
        cell, shown = None, "-"
        for row, (members, _, _) in enumerate(system.rows):
            if row in system.sources and i in members:
                other_key, margin = system.sources[row]
                cell, shown = ref(other, other_key, other_column), fmt(margin)
                break
        related = Related(
            other.source, other.file, other.sheet, cell,
            ((what, "suppressed", f"margin {shown}"), ("recovered", value, "")),
        )  # fmt: skip
    return Finding(
        RULE, Severity.BLOCK, message, location(table, raw, column), "cross_table" if other else
        "margins", related,
    )  # fmt: skip
