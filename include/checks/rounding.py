"""`unrounded` and `rounding_undone`: counts rounded to the project's base, and kept rounded.

`unrounded`: count cells that are not multiples of the rounding base (the registry's, per
project and dataset; ACRO's default of 5). It blocks when the project or one of its datasets
sets a base, and asks for review otherwise (the default is a recommendation, not a rule).

`rounding_undone` (block): a table whose counts are all rounded, published with percentages
precise enough to recover the unrounded counts. A percentage p of a denominator N written to
d decimal places pins its count to within N * 10^-d / 100; when that is finer than the
rounding base and the percentages do not agree with the rounded counts (they were computed
from the unrounded ones), the rounding is undone. The denominator is found among the table's
own groupings (the grand total, or the total within each combination of the other
dimensions), from the rounded counts or the table's total cells. Means published with a sum
(sum / mean = the count) are checked the same way.
"""

from __future__ import annotations

from include.checks.findings import Finding, Severity
from include.checks.identifiers import header_tokens
from include.checks.table_margins import dims, fmt, key_text, location, ref
from include.checks.table_profile import TableProfile, decimals

MAX_LISTED = 5
_PERCENT = frozenset({"percent", "percentage", "pct", "%", "per_cent"})
_MEAN = frozenset({"mean", "average", "avg"})
_SUM = frozenset({"sum", "total", "value", "amount"})


def unrounded_findings(table: TableProfile, base: int, required: bool) -> list[Finding]:
    if base <= 1:
        return []
    out = []
    for column in table.counts:
        bad = [
            (c, v) for c in table.cells if (v := c.values.get(column)) is not None and v % base != 0
        ]
        if not bad:
            continue
        listed = ", ".join(f"{_ref(table, c.key, column)} = {fmt(v)}" for c, v in bad[:MAX_LISTED])
        more = f" and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
        setting = (
            "the rounding this project's registry entry requires"
            if required
            else f"the default rounding base of {base} (the registry sets none for this project)"
        )
        message = (
            f"{len(bad)} of the counts in column {column!r} are not multiples of {base} "
            f"({listed}{more}), {setting}; round every count (and total) to a multiple of "
            f"{base}, or say on the form why exact counts are safe"
        )
        out.append(
            Finding(
                "unrounded",
                Severity.BLOCK if required else Severity.REVIEW,
                message,
                location(table, bad[0][0].key, column),
            )
        )
    return out


def _ref(table: TableProfile, key, column: str) -> str:
    return ref(table, key, column) or "?"


def _rounded(table: TableProfile, column: str, base: int) -> bool:
    values = [v for c in table.cells if (v := c.values.get(column)) is not None]
    return bool(values) and any(v >= base for v in values) and all(v % base == 0 for v in values)


def _denominators(table: TableProfile, column: str) -> list[dict[tuple, list[float]]]:
    """Per grouping (a set of dimensions held fixed): group -> candidate denominators."""
    names = dims(table)
    totals = [table.totals.get(d) for d in table.dimensions]
    n = len(names)
    groupings = [()] + [tuple(j for j in range(n) if j != i) for i in range(n)]
    groupings += [(i,) for i in range(n) if n > 2]
    out = []
    for g in dict.fromkeys(groupings):
        sums: dict[tuple, float] = {}
        shown: dict[tuple, float] = {}
        for c in table.cells:
            is_total = [k == t for k, t in zip(c.key, totals, strict=True)]
            v = c.values.get(column)
            if v is None:
                continue
            group = tuple(c.key[j] for j in g)
            if any(is_total[j] for j in g):
                continue
            if not any(is_total):
                sums[group] = sums.get(group, 0.0) + v
            elif all(is_total[j] for j in range(n) if j not in g):
                shown[group] = v
        cands = {k: [v] for k, v in sums.items()}
        for k, v in shown.items():
            cands.setdefault(k, []).append(v)
        out.append({"groups": g, "cands": cands})  # type: ignore[dict-item]
    return out  # type: ignore[return-value]


def rounding_undone_findings(table: TableProfile, base: int) -> list[Finding]:
    if base <= 1:
        return []
    out: list[Finding] = []
    for column in table.counts:
        if not _rounded(table, column, base):
            continue
        for rate in table.rates:
            f = _percent_check(table, column, rate, base)
            if f is not None:
                out.append(f)
        out += _mean_checks(table, column, base)
    return out


def _percent_check(table: TableProfile, column: str, rate: str, base: int) -> Finding | None:
    tokens = set(header_tokens(rate))
    if tokens & _MEAN:
        return None
    totals = [table.totals.get(d) for d in table.dimensions]
    rows = [
        c
        for c in table.cells
        if c.values.get(column) is not None
        and c.values.get(rate) is not None
        and not any(k == t for k, t in zip(c.key, totals, strict=True))
    ]
    if len(rows) < 2:
        return None
    values = [c.values[rate] for c in rows]
    # A share (0-1) or a percentage (0-100): the header says which, else the values do.
    percent = bool(tokens & _PERCENT) or "%" in rate
    scale = 1.0 if not percent and max(values) <= 1.0 else 100.0
    best = None
    for grouping in _denominators(table, column):
        g, cands = grouping["groups"], grouping["cands"]  # type: ignore[index]
        worst, evidence, finest = 0.0, None, float("inf")
        usable = True
        for c in rows:
            options = cands.get(tuple(c.key[j] for j in g))
            if not options:
                usable = False
                break
            p, count = c.values[rate], c.values[column]
            places = decimals(c.text.get(rate, str(p)))
            dev_best, width_best, implied_best = float("inf"), 0.0, 0.0
            for n in options:
                width = n * 10.0**-places / scale
                dev = abs(p * n / scale - count)
                if dev - width / 2 < dev_best - width_best / 2:
                    dev_best, width_best, implied_best = dev, width, p * n / scale
            excess = dev_best - width_best / 2
            finest = min(finest, width_best)
            if excess > worst:
                worst, evidence = excess, (c, p, implied_best, width_best)
            if dev_best > base + width_best:
                usable = False  # not a percentage of these counts
                break
        if usable and (best is None or worst < best[0]):
            best = (worst, evidence, finest, g)
    if best is None:
        return None
    worst, evidence, finest, _g = best
    if evidence is None or worst <= 1e-6 or finest >= base:
        return None  # the percentages agree with the rounded counts, or are coarse enough
    c, p, implied, _width = evidence
    count = c.values[column]
    return Finding(
        "rounding_undone",
        Severity.BLOCK,
        f"the counts in column {column!r} are rounded to multiples of {base}, but the "
        f"percentages in column {rate!r} are precise to about {fmt(round(finest, 3))} "
        f"people, finer than the rounding, and disagree with the rounded counts: at "
        f"{key_text(table.dimensions, c.key)} {c.text.get(rate, fmt(p))} implies about "
        f"{fmt(round(implied, 1))}, not the published {fmt(count)}; compute the percentages "
        "from the rounded counts, or publish them with fewer decimal places",
        location(table, c.key, rate),
    )


def _mean_checks(table: TableProfile, column: str, base: int) -> list[Finding]:
    means = [r for r in table.rates if set(header_tokens(r)) & _MEAN]
    sums = [m for m in table.magnitudes if set(header_tokens(m)) & _SUM]
    out = []
    for mean in means:
        for total in sums:
            for c in table.cells:
                n, m, s = c.values.get(column), c.values.get(mean), c.values.get(total)
                if not n or not m or s is None:
                    continue
                implied = s / m
                if abs(implied - round(implied)) < 0.05 and round(implied) != n:
                    out.append(
                        Finding(
                            "rounding_undone",
                            Severity.BLOCK,
                            f"the counts in column {column!r} are rounded to multiples of "
                            f"{base}, but {total!r} / {mean!r} gives the unrounded count at "
                            f"{key_text(table.dimensions, c.key)}: {fmt(s)} / {fmt(m)} = "
                            f"{fmt(round(implied))}, not the published {fmt(n)}; publish "
                            "the sum or the mean, not both, or round them",
                            location(table, c.key, mean),
                        )
                    )
                    break
    return out
