"""Sums over a profiled table: its margins over a set of dimensions, aligned across tables.

Tables are compared by canonical dimension names and category labels
(``table_profile.canonical``), so 'Region'/'region' and '16–24'/'16-24' match. A margin over
dimensions S sums the table's base cells (no category a total) by their S categories; where
the table publishes the margin itself (a row whose other categories are all totals) that cell
is used, and it is the only source when a summed cell is suppressed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from include.checks.findings import Location
from include.checks.table_profile import WIDE_DIMENSION, TableProfile, canonical


@dataclass(frozen=True)
class MarginCell:
    value: float
    key: tuple[str, ...] | None  # the table's cell holding this value (None: summed by us)
    parts: int  # how many base cells it sums


def count_column(profile: TableProfile, other: TableProfile | None = None) -> str | None:
    """The count column compared: one with the same name as ``other``'s, else the first."""
    if not profile.counts:
        return None
    if other is not None:
        names = {canonical(c) for c in other.counts}
        for c in profile.counts:
            if canonical(c) in names:
                return c
    return profile.counts[0]


def location(profile: TableProfile, key: Sequence[str] | None, column: str | None) -> Location:
    """A finding's Location at a cell of the table (or the table itself)."""
    cell = profile.by_key().get(tuple(key)) if key is not None else None
    if cell is None or column is None:
        return Location(file=profile.file, sheet=profile.sheet)
    header = key[-1] if profile.wide else column
    letter = profile.letters.get(header)
    return Location(
        file=profile.file,
        sheet=profile.sheet,
        row=cell.row,
        column=header,
        cell=f"{letter}{cell.row}" if letter else None,
    )


def ref(profile: TableProfile, key: Sequence[str] | None, column: str | None) -> str | None:
    """A cell as a person finds it: 'C7' in a workbook, 'row 7' in a CSV (with its column
    when the table is a cross-tabulation, whose cells share a row)."""
    loc = location(profile, key, column)
    if loc.cell or loc.row is None:
        return loc.cell
    return f"row {loc.row}" + (f", column {loc.column!r}" if profile.wide else "")


def dims(profile: TableProfile) -> list[str]:
    return [canonical(d) for d in profile.dimensions]


def base_categories(profile: TableProfile, dim: str) -> tuple[str, ...]:
    """The canonical non-total categories of a dimension (by canonical name)."""
    cache = profile.__dict__.setdefault("_base_categories", {})
    if dim not in cache:
        cache[dim] = _base_categories(profile, dim)
    return cache[dim]


def _base_categories(profile: TableProfile, dim: str) -> tuple[str, ...]:
    for d in profile.dimensions:
        if canonical(d) == dim:
            total = profile.totals.get(d)
            return tuple(canonical(k) for k in profile.categories.get(d, ()) if k != total)
    return ()


def margins(profile: TableProfile, column: str, over: Sequence[str]) -> dict[tuple, MarginCell]:
    """Margin of ``column`` over the canonical dimensions ``over`` (in that order)."""
    cache = profile.__dict__.setdefault("_margins", {})
    memo = (column, tuple(over))
    if memo in cache:
        return cache[memo]
    names = dims(profile)
    idx = [names.index(d) for d in over]
    totals = [profile.totals.get(d) for d in profile.dimensions]
    sums: dict[tuple, list[float]] = {}
    broken: set[tuple] = set()
    shown: dict[tuple, tuple[float, tuple[str, ...]]] = {}
    raw: dict[tuple, tuple[str, ...]] = {}
    for c in profile.cells:
        is_total = [k == t for k, t in zip(c.key, totals, strict=True)]
        key = tuple(canonical(c.key[i]) for i in idx)
        if any(is_total[i] for i in idx):
            continue
        value = c.values.get(column)
        if not any(is_total):
            raw.setdefault(key, c.key)
            if value is None:
                broken.add(key)
            else:
                sums.setdefault(key, []).append(value)
        elif all(is_total[i] for i in range(len(names)) if i not in idx) and value is not None:
            shown[key] = (value, c.key)
    out: dict[tuple, MarginCell] = {}
    for key in set(sums) | set(shown) | broken:
        if key in shown:
            out[key] = MarginCell(shown[key][0], shown[key][1], len(sums.get(key, ())))
        elif key not in broken:
            parts = sums[key]
            own = raw[key] if len(parts) == 1 and len(idx) == len(names) else None
            out[key] = MarginCell(sum(parts), own, len(parts))
    cache[memo] = out
    return out


# ---- interval categories (age bands and the like)

_RANGE = re.compile(r"^(?:aged?\s+)?(\d+)\s*(?:-|to)\s*(\d+)(?:\s*(?:years?|yrs?))?$")
_OPEN_UP = re.compile(r"^(?:aged?\s+)?(\d+)\s*(?:\+|and over|or over|and above|or more|plus)$")
_OPEN_DOWN = re.compile(r"^(?:under|less than|below|<)\s*(\d+)$")
_SINGLE = re.compile(r"^(\d+)$")
INF = 10**9


def interval(label: str) -> tuple[int, int] | None:
    """'16-24' -> (16, 24); '65+' / '65 and over' -> (65, INF); 'under 16' -> (0, 15)."""
    text = canonical(label)
    if m := _RANGE.match(text):
        lo, hi = int(m.group(1)), int(m.group(2))
        return (lo, hi) if lo <= hi else None
    if m := _OPEN_UP.match(text):
        return int(m.group(1)), INF
    if m := _OPEN_DOWN.match(text):
        return 0, int(m.group(1)) - 1
    if m := _SINGLE.match(text):
        return int(m.group(1)), int(m.group(1))
    return None


def key_text(dimensions: Sequence[str], key: Sequence[str]) -> str:
    if not dimensions:
        return "the table's total"
    return ", ".join(
        f"column {k}" if d == WIDE_DIMENSION else f"{d}={k}"
        for d, k in zip(dimensions, key, strict=True)
    )


def shown(profile: TableProfile, over: Sequence[str], key: Sequence[str]) -> str:
    """key_text with the table's own dimension names and labels (keys are canonical)."""
    cached = profile.__dict__.get("_shown")
    if cached is None:
        names = {canonical(d): d for d in profile.dimensions}
        labels = {
            (canonical(d), canonical(k)): k
            for d in profile.dimensions
            for k in profile.categories[d]
        }
        cached = (names, labels)
        object.__setattr__(profile, "_shown", cached)
    names, labels = cached
    return key_text(
        [names.get(d, d) for d in over],
        [labels.get((d, k), k) for d, k in zip(over, key, strict=True)],
    )


def fmt(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.6g}"
