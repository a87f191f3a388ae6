"""`differencing` (block): two tables whose populations differ by a small group.

Two tables sharing at least one dimension are compared on their count columns:

* over the dimensions whose (non-total) categories are the same in both: every cell of the
  margins over all of them, over each one alone, and the grand total. A difference of more
  than 0 and less than the threshold is the count of a group the tables single out together.
* over a dimension whose categories nest or overlap (age bands 16-24/25-34 against
  16-29/30-34): every run of adjacent bands in one table against every run in the other that
  contains it; the difference is the count of the bands left over (25-29).
* a region against its parts: a dimension whose categories in one table are all absent from
  the other; the parts' sum against each category (and the total) of the other table.

The finding is on the new table's cell; ``related`` names the other table and its cell, with
both values side by side.
"""

from __future__ import annotations

from collections.abc import Iterator

from include.checks.findings import Finding, Location, Related, Severity
from include.checks.table_margins import (
    MarginCell,
    base_categories,
    count_column,
    dims,
    fmt,
    interval,
    location,
    margins,
    ref,
    shown,
)
from include.checks.table_profile import TableProfile, canonical

RULE = "differencing"
MAX_PER_PAIR = 20  # findings listed per pair of tables
MAX_BANDS = 40  # interval categories compared run by run (runs are quadratic)
MAX_CATEGORIES = 200  # a dimension nested against another only up to this many categories
MAX_GROUPS = 200  # combinations of the other dimensions nested within


def _related(b: TableProfile, cell: MarginCell | None, column: str, rows) -> Related:
    return Related(
        b.source, b.file, b.sheet, ref(b, cell.key if cell else None, column), tuple(rows)
    )


def _where(profile: TableProfile, cell: MarginCell | None, column: str) -> str:
    if cell is None or cell.key is None:
        return ""
    return f" ({ref(profile, cell.key, column)})"


def _finding(
    a: TableProfile,
    b: TableProfile,
    what_a: str,
    what_b: str,
    va: MarginCell,
    vb: MarginCell,
    col_a: str,
    col_b: str,
    threshold: int,
    kind: str,
    group: str | None = None,
) -> Finding:
    diff = abs(va.value - vb.value)
    other = "another file of this request" if not b.source or b.source == a.source else b.source
    revealed = f"the {group}" if group else "a group"
    message = (
        f"{what_a} is {fmt(va.value)}{_where(a, va, col_a)} here and {what_b} is "
        f"{fmt(vb.value)}{_where(b, vb, col_b)} in {b.file}"
        + (f" [{b.sheet}]" if b.sheet else "")
        + f" ({other}): they differ by {fmt(diff)}, so subtracting one from the other reveals "
        f"{revealed} of {fmt(diff)}, fewer than this project's minimum of {threshold}; make "
        "the tables consistent (same population and categories) or combine categories so no "
        "difference is below the minimum"
    )
    loc = location(a, va.key, col_a) if va.key is not None else Location(a.file, a.sheet)
    rows = [(f"{what_a} / {what_b}" if what_a != what_b else what_a, fmt(va.value), fmt(vb.value))]
    return Finding(RULE, Severity.BLOCK, message, loc, kind, _related(b, vb, col_b, rows))


def _small(x: float, y: float, threshold: int) -> bool:
    return 0 < abs(x - y) < threshold


def differencing(a: TableProfile, b: TableProfile, threshold: int) -> list[Finding]:
    """Findings on table ``a`` from comparing it with ``b`` (another new or a released table)."""
    if a.same_table(b):
        return []  # the same file again: nothing new to subtract
    col_a, col_b = count_column(a, b), count_column(b, a)
    if col_a is None or col_b is None:
        return []
    common = [d for d in dims(a) if d in set(dims(b))]
    if not common:
        return []
    out: list[Finding] = []
    seen: set[tuple] = set()
    for f in _iter(a, b, col_a, col_b, common, threshold):
        key = (f.location.row, f.location.cell, f.related.cell if f.related else None, f.kind)
        if key in seen:
            continue
        seen.add(key)
        out.append(f)
        if len(out) >= MAX_PER_PAIR:
            break
    return out


def _iter(
    a: TableProfile, b: TableProfile, col_a: str, col_b: str, common: list[str], threshold: int
) -> Iterator[Finding]:
    aligned = [d for d in common if set(base_categories(a, d)) == set(base_categories(b, d))]
    differing = [d for d in common if d not in aligned]
    # Same categories: the cells of the finest common margin, each dimension alone, the total.
    subsets: list[list[str]] = []
    if aligned:
        subsets.append(aligned)
        subsets += [[d] for d in aligned if len(aligned) > 1]
    subsets.append([])
    for over in subsets:
        ma, mb = margins(a, col_a, over), margins(b, col_b, over)
        for key in sorted(set(ma) & set(mb)):
            if _small(ma[key].value, mb[key].value, threshold):
                what = shown(a, over, key)
                kind = "cell" if over else "total"
                yield _finding(a, b, what, what, ma[key], mb[key], col_a, col_b, threshold, kind)
    for d in differing:
        yield from _nested(a, b, col_a, col_b, d, aligned, threshold)


def _nested(
    a: TableProfile,
    b: TableProfile,
    col_a: str,
    col_b: str,
    d: str,
    aligned: list[str],
    threshold: int,
) -> Iterator[Finding]:
    cats_a, cats_b = base_categories(a, d), base_categories(b, d)
    if len(cats_a) > MAX_CATEGORIES or len(cats_b) > MAX_CATEGORIES:
        return  # a list of areas or dates, not bands or regions to nest: compared cell by cell
    # Within each combination of the aligned dimensions' categories, and over all of them.
    for over in ([*aligned, d], [d]) if aligned else ([d],):
        ma, mb = margins(a, col_a, over), margins(b, col_b, over)
        groups_a = _by_rest(ma)
        groups_b = _by_rest(mb)
        common_groups = sorted(set(groups_a) & set(groups_b))
        if len(common_groups) > MAX_GROUPS:
            continue  # too fine to nest within; the margin over the dimension alone still is
        for rest in common_groups:
            ga = {_label(a, d, k): v for k, v in groups_a[rest].items()}
            gb = {_label(b, d, k): v for k, v in groups_b[rest].items()}
            prefix = shown(a, over[:-1], rest) + ", " if rest else ""
            bands_a, bands_b = _bands(ga), _bands(gb)
            if bands_a is not None and bands_b is not None:
                yield from _band_runs(a, b, col_a, col_b, d, prefix, bands_a, bands_b, threshold)
                continue
            if not set(cats_a) & set(cats_b):
                yield from _parts(a, b, col_a, col_b, d, prefix, ga, gb, threshold)
                yield from _parts(b, a, col_b, col_a, d, prefix, gb, ga, threshold, flip=True)


def _label(profile: TableProfile, dim: str, label: str) -> str:
    """The table's own spelling of a canonical category label."""
    labels = profile.__dict__.get("_labels")
    if labels is None:
        labels = {
            (canonical(d), canonical(k)): k
            for d in profile.dimensions
            for k in profile.categories[d]
        }
        object.__setattr__(profile, "_labels", labels)
    return labels.get((dim, label), label)


def _by_rest(m: dict[tuple, MarginCell]) -> dict[tuple, dict[str, MarginCell]]:
    out: dict[tuple, dict[str, MarginCell]] = {}
    for key, cell in m.items():
        out.setdefault(key[:-1], {})[key[-1]] = cell
    return out


def _bands(group: dict[str, MarginCell]) -> list[tuple[int, int, str, MarginCell]] | None:
    """The group's categories as disjoint intervals, in order; None if any is not one."""
    if len(group) > MAX_BANDS:
        return None
    bands = []
    for label, cell in group.items():
        span = interval(label)
        if span is None:
            return None
        bands.append((span[0], span[1], label, cell))
    bands.sort()
    if any(bands[i][1] >= bands[i + 1][0] for i in range(len(bands) - 1)):
        return None  # overlapping bands within one table: not a partition
    return bands


def _runs(bands: list[tuple[int, int, str, MarginCell]]):
    """Every run of adjacent bands: (lo, hi) -> (labels, sum, single cell or None)."""
    out: dict[tuple[int, int], tuple[list[str], float, MarginCell | None]] = {}
    for i in range(len(bands)):
        total, labels = 0.0, []
        for j in range(i, len(bands)):
            if j > i and bands[j][0] != bands[j - 1][1] + 1:
                break
            total += bands[j][3].value
            labels.append(bands[j][2])
            out[(bands[i][0], bands[j][1])] = (list(labels), total, bands[i][3] if i == j else None)
    return out


def _span_text(lo: int, hi: int) -> str:
    from include.checks.table_margins import INF

    return f"{lo}+" if hi >= INF else (str(lo) if lo == hi else f"{lo}-{hi}")


def _band_runs(a, b, col_a, col_b, d, prefix, bands_a, bands_b, threshold) -> Iterator[Finding]:
    runs_a, runs_b = _runs(bands_a), _runs(bands_b)
    for (lo_a, hi_a), (labels_a, sum_a, cell_a) in runs_a.items():
        for (lo_b, hi_b), (labels_b, sum_b, cell_b) in runs_b.items():
            a_in_b = lo_b <= lo_a and hi_a <= hi_b
            b_in_a = lo_a <= lo_b and hi_b <= hi_a
            if not (a_in_b or b_in_a) or not _small(sum_a, sum_b, threshold):
                continue
            if (lo_a, hi_a) == (lo_b, hi_b):
                group = f"{d} {_span_text(lo_a, hi_a)} group"
            else:
                outer = (lo_b, hi_b) if a_in_b else (lo_a, hi_a)
                inner = (lo_a, hi_a) if a_in_b else (lo_b, hi_b)
                left = [(outer[0], inner[0] - 1)] if outer[0] < inner[0] else []
                right = [(inner[1] + 1, outer[1])] if inner[1] < outer[1] else []
                group = f"{d} " + " and ".join(_span_text(*s) for s in left + right) + " group"
            va = cell_a or MarginCell(sum_a, None, len(labels_a))
            vb = cell_b or MarginCell(sum_b, None, len(labels_b))
            what_a = prefix + f"{d} " + " + ".join(labels_a)
            what_b = prefix + f"{d} " + " + ".join(labels_b)
            yield _finding(a, b, what_a, what_b, va, vb, col_a, col_b, threshold, "nested", group)


def _parts(a, b, col_a, col_b, d, prefix, ga, gb, threshold, flip: bool = False):
    """``b``'s categories are the parts of one of ``a``'s (a region against its parts)."""
    parts_sum = sum(c.value for c in gb.values())
    parts = MarginCell(parts_sum, None, len(gb))
    labels = " + ".join(sorted(gb))
    for label, cell in sorted(ga.items()):
        if _small(cell.value, parts_sum, threshold):
            what_whole, what_parts = prefix + f"{d} {label}", prefix + f"{d} {labels}"
            if flip:  # the finding stays on the new table (b here), naming the other's region
                yield _finding(b, a, what_parts, what_whole, parts, cell, col_b, col_a,
                               threshold, "parts")  # fmt: skip
            else:
                yield _finding(a, b, what_whole, what_parts, cell, parts, col_a, col_b,
                               threshold, "parts")  # fmt: skip
