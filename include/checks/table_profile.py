"""A released (or about-to-be-released) table as the secondary-disclosure rules see it.

A :class:`TableProfile` is one table (a CSV/TSV file, or one visible sheet of a workbook): its
dimension columns and their categories, its count, magnitude and rate columns, its cells keyed
by their categories, the total categories it holds, and the cells it suppresses. The ledger of
released tables stores profiles (``to_dict`` is JSON-safe and round-trips through
``from_dict``); the rules in ``include.checks.secondary`` compare them.

Reading reuses ``include.checks.tabular``'s readers (the header row found as the checks find
it, calamine for workbooks) and ``identifiers.classify_header`` for column roles, so a column
is a count here exactly when the SDC checks treat it as one. Only aggregate tables are
profiled: a table with more than ``MAX_PROFILE_ROWS`` rows (record-level data) or a file over
``MAX_PROFILE_BYTES`` (a workbook over ``MAX_PROFILE_XLSX_BYTES``) is not, so the 1M-row
and 100k-row paths are never read twice.

A wide table (two or more count columns, e.g. a cross-tabulation with one column per
category) is melted: its count-column headers become the categories of a dimension named
``WIDE_DIMENSION`` and its cells one count column ``WIDE_COUNT``.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from include.checks.identifiers import classify_header, header_tokens

MAX_PROFILE_ROWS = 1_000  # larger tables are record-level data, not released aggregates
MAX_PROFILE_BYTES = 4 << 20  # a CSV is read only up to its first MAX_PROFILE_ROWS rows
# calamine reads a whole sheet before its first row: a workbook this big is no aggregate table
MAX_PROFILE_XLSX_BYTES = 1 << 20
WIDE_DIMENSION = "(column)"
WIDE_COUNT = "count"

# Suppression markers (the list); a blank is a marker only in an otherwise numeric column.
_MARKER = re.compile(r"^\s*(?:\*+|c|\[c\]|x|\.\.|-|–|<\s*\d+(?:\.\d+)?)\s*$", re.I)
_NUMBER = re.compile(r"^\s*[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?\s*%?\s*$")
_TOTAL_LABELS = frozenset(
    {"total", "totals", "all", "overall", "grand total", "sum", "all persons", "all people",
     "persons", "all ages", "both sexes", "all regions", "all areas", "england and wales"}
)  # fmt: skip
_RATE_TOKENS = frozenset({"rate", "rates", "mean", "average", "avg", "ratio", "per"})
# Numeric columns that classify nothing but are categories (a year, an age in years).
_NUMERIC_DIMENSIONS = frozenset(
    {"year", "age", "month", "quarter", "wave", "period", "week", "day", "code", "band", "group"}
)


def is_total_label(label: str) -> bool:
    """'Total', 'All', 'Total (all ages)', 'All ages': a category that sums the others."""
    low = re.sub(r"\s+", " ", str(label).strip().casefold())
    return low in _TOTAL_LABELS or low.startswith(("total ", "total(", "all ")) or low == "total:"


@functools.lru_cache(maxsize=1 << 16)
def canonical(label: str) -> str:
    """A category label or column name compared across tables: case, spaces and dashes folded."""
    text = str(label).strip().casefold().replace("–", "-").replace("—", "-")
    return re.sub(r"\s+", " ", re.sub(r"\s*-\s*", "-", text))


def parse_number(text: str | None) -> float | None:
    """A cell's number ('1,234', '12.5%', '3') or None when it is not one."""
    if text is None:
        return None
    if "_" not in text:
        try:  # the common case, a plain number: no regex
            value = float(text)
        except ValueError:
            pass
        else:
            return value if math.isfinite(value) else None
    if not _NUMBER.match(text) or not re.search(r"\d", text):
        return None
    try:
        value = float(text.replace(",", "").replace("%", "").strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def is_marker(text: str | None) -> bool:
    return text is None or not text.strip() or bool(_MARKER.match(text))


def decimals(text: str) -> int:
    """Digits after the decimal point as written ('12.50' -> 2)."""
    body = text.strip().rstrip("%").strip()
    return len(body.split(".", 1)[1]) if "." in body and "e" not in body.lower() else 0


@dataclass(frozen=True)
class Cell:
    """One row of the table: its categories (one per dimension), the row (and spreadsheet
    column letters) where it is, and its numeric values by column (None: suppressed/blank)."""

    key: tuple[str, ...]
    row: int
    values: dict[str, float | None]
    text: dict[str, str] = field(default_factory=dict)  # rate cells as written (precision)


@dataclass(frozen=True)
class TableProfile:
    source: str  # STATS-ID of the release, or the path of a folder of released files
    file: str
    sheet: str | None
    sha256: str | None
    dimensions: tuple[str, ...]
    categories: dict[str, tuple[str, ...]]
    counts: tuple[str, ...]
    magnitudes: tuple[str, ...]
    rates: tuple[str, ...] = ()  # percentages, proportions, rates and means
    cells: tuple[Cell, ...] = ()
    totals: dict[str, str] = field(default_factory=dict)  # dimension -> its total category
    suppressed: tuple[tuple[tuple[str, ...], str, str], ...] = ()  # (key, column, marker)
    letters: dict[str, str] = field(default_factory=dict)  # column -> spreadsheet letters
    wide: bool = False  # melted from a table with one count column per category

    # ---- identity and lookup

    @property
    def label(self) -> str:
        where = f"{self.file}" + (f" [{self.sheet}]" if self.sheet else "")
        return where if self.source in ("", self.file) else f"{self.source}: {where}"

    @property
    def signature(self) -> frozenset[str]:
        """The canonical dimension names: the ledger's index key."""
        return frozenset(canonical(d) for d in self.dimensions)

    def cell_ref(self, key: Sequence[str], column: str) -> str:
        """Where a cell is, as a person finds it: 'C7' in a workbook, 'row 7, column n' else."""
        cell = self.by_key().get(tuple(key))
        row = cell.row if cell else None
        if self.wide:
            column = key[-1]
        letter = self.letters.get(column)
        if row is None:
            return f"{'/'.join(key)} / {column}"
        return f"{letter}{row}" if letter else f"row {row}, column {column!r}"

    def by_key(self) -> dict[tuple[str, ...], Cell]:
        cached = self.__dict__.get("_by_key")
        if cached is None:
            cached = {c.key: c for c in self.cells}
            object.__setattr__(self, "_by_key", cached)
        return cached

    def same_table(self, other: TableProfile) -> bool:
        """The same sheet of the same file (by content), released again or read twice."""
        return bool(self.sha256) and self.sha256 == other.sha256 and self.sheet == other.sheet

    def is_total_key(self, key: Sequence[str]) -> bool:
        return any(self.totals.get(d) == k for d, k in zip(self.dimensions, key, strict=False))

    # ---- JSON (the ledger's columns)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe; the ledger keeps ``dimensions``, ``categories``, ``counts``,
        ``magnitudes``, ``totals`` and ``cells`` (everything else about the cells) as columns."""
        return {
            "source": self.source,
            "file": self.file,
            "sheet": self.sheet,
            "sha256": self.sha256,
            "dimensions": list(self.dimensions),
            "categories": {d: list(v) for d, v in self.categories.items()},
            "counts": list(self.counts),
            "magnitudes": list(self.magnitudes),
            "totals": dict(self.totals),
            "cells": {
                "rates": list(self.rates),
                "rows": [
                    {"key": list(c.key), "row": c.row, "values": c.values,
                     **({"text": c.text} if c.text else {})}
                    for c in self.cells
                ],
                "suppressed": [[list(k), col, m] for k, col, m in self.suppressed],
                "letters": dict(self.letters),
                "wide": self.wide,
            },
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableProfile:
        cells = d.get("cells") or {}
        return cls(
            source=str(d.get("source") or ""),
            file=d["file"],
            sheet=d.get("sheet"),
            sha256=d.get("sha256"),
            dimensions=tuple(d.get("dimensions") or ()),
            categories={k: tuple(v) for k, v in (d.get("categories") or {}).items()},
            counts=tuple(d.get("counts") or ()),
            magnitudes=tuple(d.get("magnitudes") or ()),
            rates=tuple(cells.get("rates") or ()),
            cells=tuple(
                Cell(tuple(r["key"]), int(r["row"]), dict(r["values"]), dict(r.get("text") or {}))
                for r in cells.get("rows") or ()
            ),
            totals=dict(d.get("totals") or {}),
            suppressed=tuple((tuple(k), col, m) for k, col, m in cells.get("suppressed") or ()),
            letters=dict(cells.get("letters") or {}),
            wide=bool(cells.get("wide")),
        )


# ------------------------------------------------------------------------------- profiling


def _is_rate(header: str, role: str | None) -> bool:
    if role == "percent":
        return True
    tokens = set(header_tokens(header))
    return bool(tokens & _RATE_TOKENS) or "%" in header


def profile_columns(
    source: str,
    file: str,
    sheet: str | None,
    sha256: str | None,
    headers: Sequence[str],
    rows: Iterable[tuple[int, Sequence[str | None]]],
    *,
    letters: Sequence[str] | None = None,
    declared_counts: Sequence[str] = (),
) -> TableProfile | None:
    """Profile one table from its header and (row number, cell texts) rows; None when it is
    not an aggregate table (too many rows, or no numeric column)."""
    body: list[tuple[int, list[str | None]]] = []
    width = len(headers)
    for number, values in rows:
        cells = [(values[i] if i < len(values) else None) for i in range(width)]
        if all(v is None or not str(v).strip() for v in cells):
            continue
        body.append((number, [None if v is None else str(v) for v in cells]))
        if len(body) > MAX_PROFILE_ROWS:
            return None
    if not body:
        return None
    declared = {canonical(c) for c in declared_counts}
    numeric: list[int] = []
    texts: list[int] = []
    classes = [classify_header(h) for h in headers]
    for i, h in enumerate(headers):
        if classes[i].identifier_kind is not None or not h:
            continue
        values = [r[i] for _, r in body if r[i] is not None and r[i].strip()]
        parsed = [parse_number(v) for v in values]
        numbers = sum(p is not None for p in parsed)
        if numbers and all(
            p is not None or is_marker(v) for p, v in zip(parsed, values, strict=True)
        ):
            tokens = set(header_tokens(h))
            if (
                classes[i].role is None
                and tokens & _NUMERIC_DIMENSIONS
                and canonical(h) not in declared
            ):
                texts.append(i)
            else:
                numeric.append(i)
        elif values:
            texts.append(i)
    if not numeric:
        return None
    count_cols = [
        i for i in numeric if classes[i].role == "count" or canonical(headers[i]) in declared
    ]
    rate_cols = [
        i for i in numeric if i not in count_cols and _is_rate(headers[i], classes[i].role)
    ]
    magnitude_cols = [i for i in numeric if i not in count_cols and i not in rate_cols]
    if not count_cols and len(magnitude_cols) >= 3 and texts:
        # An undeclared cross-tabulation: non-negative whole numbers under category headers,
        # one of them a total ('sex,Male,Female,Total').
        whole = all(
            v is None or (v >= 0 and v.is_integer())
            for _, r in body for i in magnitude_cols for v in (parse_number(r[i]),)
        )  # fmt: skip
        if whole and any(is_total_label(headers[i]) for i in magnitude_cols):
            count_cols, magnitude_cols = magnitude_cols, []
    wide = len(count_cols) >= 2 and bool(texts)
    if wide:
        # A total column of a cross-tabulation ('Total', 'All') belongs with its categories.
        count_cols += [i for i in magnitude_cols if is_total_label(headers[i])]
        magnitude_cols = [i for i in magnitude_cols if i not in count_cols]
    dims = [headers[i] for i in texts]
    key_rows: dict[tuple[str, ...], Cell] = {}
    suppressed: list[tuple[tuple[str, ...], str, str]] = []

    def add(
        key: tuple[str, ...], number: int, values: dict[str, float | None], text: dict[str, str]
    ) -> None:
        if key in key_rows:  # dimensions do not key the table: keep the first row
            return
        key_rows[key] = Cell(key, number, values, text)

    for number, row in body:
        base = tuple((row[i] or "").strip() for i in texts)
        if wide:
            for i in count_cols:
                key = (*base, headers[i])
                v = parse_number(row[i])
                if v is None:
                    suppressed.append((key, WIDE_COUNT, (row[i] or "").strip()))
                add(key, number, {WIDE_COUNT: v}, {})
            continue
        values: dict[str, float | None] = {}
        text: dict[str, str] = {}
        for i in numeric:
            v = parse_number(row[i])
            values[headers[i]] = v
            if v is None and i in count_cols:
                suppressed.append((base, headers[i], (row[i] or "").strip()))
            if i in rate_cols and row[i] is not None and v is not None:
                text[headers[i]] = row[i].strip()
        add(base, number, values, text)
    if wide:
        dims.append(WIDE_DIMENSION)
    categories: dict[str, tuple[str, ...]] = {d: () for d in dims}
    for key in key_rows:
        for d, k in zip(dims, key, strict=True):
            if k not in categories[d]:
                categories[d] = (*categories[d], k)
    totals = {}
    for d in dims:
        labels = [k for k in categories[d] if is_total_label(k)]
        if len(labels) == 1 and len(categories[d]) > 1:
            totals[d] = labels[0]
    letter_map = {headers[i]: letters[i] for i in numeric} if letters else {}
    return TableProfile(
        source=source,
        file=file,
        sheet=sheet,
        sha256=sha256,
        dimensions=tuple(dims),
        categories=categories,
        counts=(WIDE_COUNT,) if wide else tuple(headers[i] for i in count_cols),
        magnitudes=tuple(headers[i] for i in magnitude_cols),
        rates=() if wide else tuple(headers[i] for i in rate_cols),
        cells=tuple(key_rows.values()),
        totals=totals,
        suppressed=tuple(suppressed),
        letters=letter_map,
        wide=wide,
    )


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def profile_tables(
    path: Path,
    source: str,
    *,
    file: str | None = None,
    sha256: str | None = None,
    declared_counts: Sequence[str] = (),
) -> list[TableProfile]:
    """The profiles of a CSV/TSV file (one) or an xlsx workbook (one per visible sheet);
    ``file`` names it in findings (default: its name). Unreadable or record-level: []."""
    from include.checks import tabular

    path = Path(path)
    file = file or path.name
    suffix = path.suffix.lower()
    limit = MAX_PROFILE_XLSX_BYTES if suffix == ".xlsx" else MAX_PROFILE_BYTES
    if suffix not in (".csv", ".tsv", ".xlsx") or path.stat().st_size > limit:
        return []
    if _too_many_rows(path, suffix):
        return []
    sha = sha256 or _sha256(path)
    try:
        if suffix == ".xlsx":
            out = []
            for src in tabular._xlsx_sources(path):
                profile = profile_columns(
                    source, file, src.sheet, sha, src.headers, _source_rows(src),
                    letters=src.letters, declared_counts=declared_counts,
                )  # fmt: skip
                if profile is not None:
                    out.append(profile)
            return out
        delimiter = "\t" if suffix == ".tsv" else ","
        encoding = tabular._sniff_encoding(path)
        header = tabular._read_header(path, encoding, delimiter)
        if header is None:
            return []
        src = tabular._csv_source_python(path, delimiter, header, encoding)
        headers = src.headers[:-1]  # without the reader's "fields beyond the header" column
        profile = profile_columns(
            source, file, None, sha, headers, _source_rows(src), declared_counts=declared_counts
        )
        return [profile] if profile is not None else []
    except Exception:  # an unreadable table is the content checks' finding, not ours
        return []


_ROW_TAG = re.compile(rb"<(?:\w+:)?row[\s>]")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"[A-Z]+\d+:[A-Z]+(\d+)\"")


def _too_many_rows(path: Path, suffix: str) -> bool:
    """Whether the file is plainly record-level, decided without parsing it: a CSV with more
    lines than MAX_PROFILE_ROWS, a workbook whose every sheet says it has more rows."""
    limit = MAX_PROFILE_ROWS + 1
    if suffix != ".xlsx":
        with path.open("rb") as fh:
            return fh.read(MAX_PROFILE_BYTES).count(b"\n") > limit + 1
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            sheets = [
                n for n in zf.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")
            ]
            rows = []
            for name in sheets:
                with zf.open(name) as fh:
                    head = fh.read(4096)
                    m = _DIMENSION.search(head)
                    if m is not None:
                        rows.append(int(m.group(1)))
                        continue
                    # No dimension element (openpyxl's write-only mode): count row tags.
                    count, data = 0, head
                    while data and count <= limit:
                        count += len(_ROW_TAG.findall(data))
                        data = fh.read(1 << 20)
                    rows.append(count)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError):
        return False
    return bool(rows) and min(rows) > limit


def _source_rows(src: Any) -> Iterable[tuple[int, list[str | None]]]:
    for numbers, arrays in src.batches:
        columns = [a.to_pylist() for a in arrays]
        for j, number in enumerate(numbers.tolist()):
            yield int(number), [c[j] for c in columns]
