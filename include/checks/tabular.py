"""Content checks for one table file (CSV, TSV, XLSX): identifiers and tabular SDC.

Contract (called by the engine):
``check_table_file(path, rel, table_format, policy) -> list[Finding]``. The engine has already
dealt with file type, hidden sheets, formulas and macros; this module checks content only.

Design (budget: a 1M-row CSV in ~3x the time and 2x the memory of ``pandas.read_csv``):

1. Read in bounded batches of strings: CSV/TSV with pyarrow's streaming reader (8 MB blocks,
   every column as text so leading zeros and identifiers survive), falling back to Python's
   ``csv`` module for ragged files; XLSX with calamine (cached values, as Excel shows), every
   visible sheet one table whose header is its first non-empty row.
2. Classify each column once from its header (``identifiers.classify_header``) and the form's
   declared count columns.
3. Per batch, vectorised prefilters (pyarrow compute: numeric casts, RE2 regexes) choose the
   candidate cells: counts below the threshold (small, zero or negative), 0 and 100 percent,
   degrees of freedom below the minimum, negative or near-dominant contributions, the first
   value of a min/max column, values shaped like identifiers, and first-row cells that look
   like data rather than names (a headerless or one-row table). A prefilter only chooses.
4. EVERY candidate goes to ONE Great Expectations validation per table: the suites in
   ``include.checks.suites`` (custom expectations in ``include.checks.expectations``) ARE the
   rules, with the project's parameters supplied at run time, and GX's unexpected_index_list
   (srs_row, srs_col) locates each failing cell. GX is imported only when a table has
   candidates. There is no second copy of any rule here.
5. Findings: the first ``FINDINGS_CAP`` per rule, kind and column, then one summary finding with
   the total. Identifier findings never quote the value.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import pathlib
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from include.checks.findings import SDC_SEVERITY, Finding, Location, Severity, sort_findings
from include.checks.identifiers import (
    CELL_PREFILTER,
    HEADER_VALUE_PATTERNS,
    KIND_LABEL,
    TEXT_PREFILTER,
    HeaderClass,
    classify_header,
    identifier_finding,
    possible_kinds,
    rule_for,
)
from include.checks.policy import CheckPolicy

CSV_BLOCK_BYTES = 8 << 20  # pyarrow block: ~100k rows of a 10-column table
XLSX_CHUNK_ROWS = 50_000
PY_CSV_CHUNK_ROWS = 50_000
FINDINGS_CAP = 50  # findings listed per rule, kind and column before a summary
MAX_COLUMNS = 16_384  # Excel's limit: no table an officer can open is wider
MAX_LINE_CHARS = 8 << 20  # one physical CSV line; a longer one is read no further

# Process-wide counters for the benchmark: GX's one-off import, and time spent validating.
STATS: dict[str, float] = {"gx_import_s": 0.0, "gx_validate_s": 0.0, "gx_candidates": 0}

_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
_EXTRA_COLUMN = "(fields beyond the header)"
_HEADER_KEY = -1  # the CSV fast path's row key for the header line (record keys start at 0)


# --------------------------------------------------------------------------------- sources


@dataclass
class _Source:
    """One table: its header, and batches of (row keys, one pyarrow string array per column)."""

    headers: list[str]
    header_row: int
    batches: Iterator[tuple[Any, list[Any]]]
    sheet: str | None = None
    letters: list[str] | None = None  # spreadsheet column letters
    # CSV fast path: row keys are record indexes; map them to line numbers at the end.
    row_map: Callable[[list[int], bool], dict[int, int]] | None = None


def _pa() -> tuple[Any, Any, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    return pa, pc, pacsv


def _sniff_encoding(path: pathlib.Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(1 << 20)
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:
            return "cp1252"
    return "utf-8"


class _TooLarge(Exception):
    """A table beyond what the checks read: wider than MAX_COLUMNS, or a line longer than
    MAX_LINE_CHARS (a file of one enormous line must not be read into memory whole)."""


def _lines(fh: Any) -> Iterator[str]:
    """A text file's physical lines for ``csv.reader``, each bounded by MAX_LINE_CHARS."""
    while line := fh.readline(MAX_LINE_CHARS + 1):
        if len(line) > MAX_LINE_CHARS:
            raise _TooLarge(f"a line is longer than {MAX_LINE_CHARS:,} characters")
        yield line


def _bounded_width(row: list[str], what: str) -> list[str]:
    if len(row) > MAX_COLUMNS:
        raise _TooLarge(f"{what} has {len(row):,} fields, more than {MAX_COLUMNS:,} columns")
    return row


@dataclass(frozen=True)
class _CsvHeader:
    names: list[str]
    line: int  # the line the header starts on
    end: int  # the line it ends on (later only when a quoted header name holds a line break)


def _read_header(path: pathlib.Path, encoding: str, delimiter: str) -> _CsvHeader | None:
    """The first record with a non-blank cell. Blank lines (or rows of empty cells) above a
    table must not make its header look empty: the whole table would go unchecked."""
    with path.open(encoding=encoding, errors="replace", newline="") as fh:
        reader = csv.reader(_lines(fh), delimiter=delimiter)
        prev = 0
        for row in reader:
            start, prev = prev + 1, reader.line_num
            if any(cell.strip() for cell in row):
                names = [h.strip() for h in _bounded_width(row, "the header row")]
                return _CsvHeader(names, start, reader.line_num)
    return None


def csv_headers(path: pathlib.Path, delimiter: str = ",") -> list[str]:
    """The column headers of a CSV/TSV file (empty when it has none)."""
    header = _read_header(path, _sniff_encoding(path), delimiter)  # may raise _TooLarge
    return header.names if header else []


def _holds_line_break(arr: Any) -> bool:
    """Whether any value of a pyarrow string array holds a line break (a quoted multi-line
    value): then records and lines no longer correspond one to one."""
    data = arr.buffers()[2]
    if data is None:
        return False
    raw = data.to_pybytes()  # bytes.find is memchr-fast; pyarrow's substring kernels are not
    return b"\n" in raw or b"\r" in raw


def _csv_exact_lines(
    path: pathlib.Path, encoding: str, delimiter: str, header_end: int, records: list[int]
) -> dict[int, int]:
    """Record index (0-based, counted from the line after the header; a blank line is a
    record, as in pyarrow with ``ignore_empty_lines=False``) -> the line where it starts."""
    wanted = set(records)
    out: dict[int, int] = {}
    last = max(wanted) if wanted else -1
    with path.open(encoding=encoding, errors="replace", newline="") as fh:
        reader = csv.reader(_lines(fh), delimiter=delimiter)
        prev, index = 0, -1
        for _ in reader:
            start, prev = prev + 1, reader.line_num
            if start <= header_end:
                continue
            index += 1
            if index in wanted:
                out[index] = start
            if index >= last:
                break
    return out


def _csv_source(path: pathlib.Path, delimiter: str, header: _CsvHeader, encoding: str) -> _Source:
    """pyarrow's streaming reader: every column as text (leading zeros and identifiers
    survive); blank lines kept as empty records, so record r is line r + header.end + 1
    unless a quoted value spans lines (then the csv module maps the few rows reported)."""
    pa, pc, pacsv = _pa()
    names = [f"c{i}" for i in range(len(header.names))]
    read_options = pacsv.ReadOptions(
        column_names=names,
        skip_rows=header.end,  # physical lines, blank ones included (ignore_empty_lines=False)
        block_size=CSV_BLOCK_BYTES,
        use_threads=False,  # one parsing thread: _read_ahead overlaps it with the checks
        encoding="utf-8" if encoding == "utf-8-sig" else encoding,
    )
    # newlines_in_values=False is ~30% faster; a quoted value spanning a block boundary then
    # fails to parse and the caller falls back to the csv module (exact, slower).
    parse_options = pacsv.ParseOptions(
        delimiter=delimiter, newlines_in_values=False, ignore_empty_lines=False
    )
    convert_options = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        strings_can_be_null=True,  # empty cells are null: numeric casts then just work
        quoted_strings_can_be_null=False,
    )

    def batches() -> Iterator[tuple[Any, list[Any]]]:
        import numpy as np

        reader = pacsv.open_csv(
            path,
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )
        records = 0
        for batch in reader:
            n = batch.num_rows
            if not n:
                continue
            yield np.arange(records, records + n, dtype=np.int64), batch.columns
            records += n

    def row_map(records: list[int], multiline: bool) -> dict[int, int]:
        if not multiline:
            return {r: r + header.end + 1 for r in records}
        return _csv_exact_lines(path, encoding, delimiter, header.end, records)

    return _Source(
        headers=header.names, header_row=header.line, batches=_read_ahead(batches()),
        row_map=row_map,
    )  # fmt: skip


def _read_ahead(batches: Iterator[Any]) -> Iterator[Any]:
    """Parse the next batch in a worker thread while the caller checks this one: pyarrow
    releases the GIL while parsing, so reading and checking overlap (at most one batch ahead,
    so memory stays bounded). Errors (e.g. ``ArrowInvalid``, which sends the caller to the
    exact ``csv`` reader) surface from ``result()`` in the caller's thread."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="srs-csv-read") as pool:
        pending = pool.submit(next, batches, None)
        while (batch := pending.result()) is not None:
            pending = pool.submit(next, batches, None)
            yield batch


def _csv_source_python(
    path: pathlib.Path, delimiter: str, header: _CsvHeader, encoding: str
) -> _Source:
    """Ragged or oddly encoded CSV: Python's csv module, exact line numbers, extra fields kept
    in one extra column so nothing escapes the identifier checks."""
    pa, _, _ = _pa()
    width = len(header.names)

    def batches() -> Iterator[tuple[Any, list[Any]]]:
        import numpy as np

        with path.open(encoding=encoding, errors="replace", newline="") as fh:
            reader = csv.reader(_lines(fh), delimiter=delimiter)
            prev = 0
            while prev < header.end and next(reader, None) is not None:  # up to the header
                prev = reader.line_num
            rows: list[int] = []
            cols: list[list[str | None]] = [[] for _ in range(width + 1)]
            for record in reader:
                start, prev = prev + 1, reader.line_num
                if not record:
                    continue
                _bounded_width(record, f"line {start}")
                rows.append(start)
                for i in range(width):
                    cols[i].append(record[i] if i < len(record) else None)
                cols[width].append(delimiter.join(record[width:]) if len(record) > width else None)
                if len(rows) >= PY_CSV_CHUNK_ROWS:
                    yield np.array(rows), [pa.array(c, type=pa.string()) for c in cols]
                    rows, cols = [], [[] for _ in range(width + 1)]
            if rows:
                yield np.array(rows), [pa.array(c, type=pa.string()) for c in cols]

    return _Source(
        headers=[*header.names, _EXTRA_COLUMN], header_row=header.line, batches=batches()
    )


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = str(value)
    return text if text.strip() else None


def _column_letter(index: int) -> str:
    """0-based column index -> spreadsheet letters (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _xlsx_sources(path: pathlib.Path) -> Iterator[_Source]:
    """Every visible worksheet's cached values, read by calamine (Rust; ~10x openpyxl's
    read-only reader). The hygiene rules (formulas, hidden rows, links) read the XML itself,
    in ``include.checks.spreadsheets``."""
    import numpy as np
    from python_calamine import CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

    pa, _, _ = _pa()
    workbook = CalamineWorkbook.from_path(str(path))
    try:
        for meta in workbook.sheets_metadata:
            if meta.visible != SheetVisibleEnum.Visible or meta.typ != SheetTypeEnum.WorkSheet:
                continue
            # Absolute positions (row 1 is the sheet's first row), so rows and cells match
            # what a person sees.
            grid = workbook.get_sheet_by_name(meta.name).to_python(skip_empty_area=False)
            rows_iter = enumerate(grid, start=1)
            header_row, header = 0, None
            for number, values in rows_iter:
                texts = [_cell_text(v) for v in values]
                if any(t is not None for t in texts):
                    header_row, header = number, texts
                    break
            if header is None:
                continue
            while header and header[-1] is None:  # calamine pads rows to the sheet's width
                header.pop()
            width = max(len(header), max((len(r) for r in grid), default=0))
            header += [None] * (width - len(header))
            letters = [_column_letter(i) for i in range(width)]
            headers = [(h.strip() if h else f"column {letters[i]}") for i, h in enumerate(header)]

            def batches(
                rows_iter: Iterator[tuple[int, list[Any]]] = rows_iter, width: int = width
            ) -> Iterator[tuple[Any, list[Any]]]:
                numbers: list[int] = []
                cols: list[list[str | None]] = [[] for _ in range(width)]
                for number, values in rows_iter:
                    texts = [_cell_text(v) for v in values[:width]]
                    if all(t is None for t in texts):
                        continue
                    numbers.append(number)
                    for i in range(width):
                        cols[i].append(texts[i] if i < len(texts) else None)
                    if len(numbers) >= XLSX_CHUNK_ROWS:
                        yield np.array(numbers), [pa.array(c, type=pa.string()) for c in cols]
                        numbers, cols = [], [[] for _ in range(width)]
                if numbers:
                    yield np.array(numbers), [pa.array(c, type=pa.string()) for c in cols]

            yield _Source(
                headers=headers,
                header_row=header_row,
                batches=batches(),
                sheet=meta.name,
                letters=letters,
            )
    finally:
        workbook.close()


# ---------------------------------------------------------------------------- the checks


@dataclass
class _Tally:
    """Cells failing one rule (and kind) in one column: the first few, and how many in all."""

    rows: list[int] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    total: int = 0

    def add(self, row: int, value: Any = None) -> None:
        self.total += 1
        if len(self.rows) < FINDINGS_CAP:
            self.rows.append(row)
            self.values.append(value)


@dataclass
class _Buffer:
    """Candidate cells of one family and column: row keys and values, every one for GX."""

    rows: list[Any] = field(default_factory=list)  # numpy arrays, one per batch
    values: list[Any] = field(default_factory=list)  # lists of scalars (tuples for evidence)
    size: int = 0

    def extend(self, rows: Any, values: Any) -> None:
        self.rows.append(rows)
        self.values.append(list(values))
        self.size += len(rows)


# Candidate families -> the frame column GX validates and the rules (SuiteSpec) on it. All
# columns' candidates of one family share a frame column (srs_col says which column), so a
# table's suite has a fixed number of expectations however many columns it has.
_FAMILY_RULES: dict[str, tuple[str, ...]] = {
    "count": ("threshold", "zero_cell", "negative_values"),
    "percent": ("full_cell",),
    "negative": ("negative_values",),
    "df": ("degrees_of_freedom",),
    "minmax": ("min_max",),
}
# The finding each rule's failures become: (rule, kind).
_RULE_FINDING: dict[str, tuple[str, str | None]] = {
    "threshold": ("threshold", None),
    "zero_cell": ("zero_cell", None),
    "full_cell": ("zero_cell", "full"),
    "negative_values": ("negative_values", None),
    "degrees_of_freedom": ("degrees_of_freedom", None),
    "min_max": ("min_max", None),
    "dominance": ("dominance", None),
    "p_ratio": ("p_ratio", None),
}
_NUMERIC_FAMILIES = frozenset({"count", "percent", "negative", "df"})
_FAMILIES = (*_FAMILY_RULES, "evidence", "identifier", "header_identifier")


class _TableCheck:
    def __init__(self, source: _Source, rel: str, policy: CheckPolicy) -> None:
        self.source = source
        self.rel = rel
        self.policy = policy
        declared = {c.strip().lower() for c in policy.declared_counts.get(rel, ())}
        self.classes: list[HeaderClass] = []
        for header in source.headers:
            hc = HeaderClass() if header == _EXTRA_COLUMN else classify_header(header)
            if header.strip().lower() in declared:
                hc = HeaderClass(role="count")
            self.classes.append(hc)
        roles = [c.role for c in self.classes]
        self.count_cols = [i for i, r in enumerate(roles) if r == "count"]
        self.percent_cols = [i for i, r in enumerate(roles) if r == "percent"]
        self.df_cols = [i for i, r in enumerate(roles) if r == "df"]
        self.minmax_cols = [i for i, r in enumerate(roles) if r == "minmax"]
        self.x1 = roles.index("x1") if "x1" in roles else None
        self.x2 = roles.index("x2") if "x2" in roles else None
        self.total = roles.index("total") if "total" in roles else None
        self.evidence = self.x1 is not None and self.total is not None
        self.header_cols = [
            (i, c.identifier_kind) for i, c in enumerate(self.classes) if c.identifier_kind
        ]
        self.business_ref_context = any(k == "ons_business_ref" for _, k in self.header_cols)
        measure = {"count", "percent", "df", "minmax", "total"}
        if self.evidence:
            measure |= {"x1", "x2"}
        self.scan_cols = [
            i
            for i, c in enumerate(self.classes)
            if c.identifier_kind is None and c.role not in measure
        ]
        self.measure_cols = [
            i for i, c in enumerate(self.classes) if c.identifier_kind is None and c.role in measure
        ]
        self.tallies: dict[tuple[str, str | None, int], _Tally] = {}
        self.buffers: dict[tuple[str, int], _Buffer] = {}
        self.data_rows = 0
        self._float_memo: dict[int, Any] = {}
        # Plain-number columns: how many bare 10-digit values each holds (see _chance_nhs).
        self.bare_ten: dict[int, int] = {}
        self.textual: set[int] = set()  # scanned columns with a block that was not all numbers
        self.chance_nhs: list[tuple[int, int, int]] = []  # (column, valid, bare 10-digit)
        self.multiline = False  # a CSV value spans lines: rows need exact line mapping

    # ---- helpers

    def tally(self, rule: str, kind: str | None, col: int) -> _Tally:
        return self.tallies.setdefault((rule, kind, col), _Tally())

    def buffer(self, rule: str, col: int) -> _Buffer:
        return self.buffers.setdefault((rule, col), _Buffer())

    def _floats(self, arr: Any) -> Any:
        """``_as_float`` once per column and batch: several rules ask, and the cast is the
        costliest step of a numeric column."""
        key = id(arr)  # the batch's arrays live until feed() returns
        if key not in self._float_memo:
            self._float_memo[key] = _as_float(arr)
        return self._float_memo[key]

    def _numeric(self, arr: Any) -> Any:
        """float64 numpy array, NaN where the cell is empty or not a number."""
        pa, pc, _ = _pa()
        fast = self._floats(arr)
        if fast is not None:
            return fast
        text = pc.replace_substring(pc.utf8_trim_whitespace(arr), ",", "")
        ok = pc.match_substring_regex(text, _NUMBER)
        num = pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), pa.float64())
        return num.to_numpy(zero_copy_only=False)

    # ---- per batch

    def feed(self, rows: Any, arrays: list[Any]) -> None:
        import numpy as np

        _, pc, _ = _pa()
        self.data_rows += len(rows)
        self._float_memo = {}
        if self.source.row_map is not None and not self.multiline:
            # Numbers hold no line break, and their (memoised) cast is needed anyway.
            self.multiline = any(self._floats(a) is None and _holds_line_break(a) for a in arrays)
        threshold = self.policy.threshold
        # Prefilters choose candidates (a superset of what fails); the suite decides.
        for i in self.count_cols:
            v = self._numeric(arrays[i])
            self._candidates("count", i, rows, v, v < threshold)  # small, zero or negative
        for i in self.percent_cols:
            v = self._numeric(arrays[i])
            self._candidates("percent", i, rows, v, (v == 100) | (v == 0))
        for i in self.df_cols:
            v = self._numeric(arrays[i])
            self._candidates("df", i, rows, v, v < self.policy.min_degrees_of_freedom)
        for i in self.minmax_cols:
            if ("minmax", i) not in self.buffers:  # the first non-empty cell is the candidate
                valid = pc.utf8_length(pc.utf8_trim_whitespace(arrays[i])).to_numpy(
                    zero_copy_only=False
                )
                hits = np.flatnonzero(np.nan_to_num(valid.astype(float)) > 0)
                if len(hits):
                    first = hits[:1]
                    self.buffer("minmax", i).extend(rows[first], arrays[i].take(first).to_pylist())
        if self.evidence:
            self._feed_evidence(rows, arrays)
        for i in self.measure_cols:
            if self._floats(arrays[i]) is None:  # text in a numeric column: scan the text cells
                self._feed_scan(i, rows, arrays[i], text_only=True)
        for i, kind in self.header_cols:
            self._feed_header(i, kind, rows, arrays[i])
        for i in self.scan_cols:
            self._feed_scan(i, rows, arrays[i])

    def _candidates(self, family: str, col: int, rows: Any, v: Any, mask: Any) -> None:
        if mask.any():
            self.buffer(family, col).extend(rows[mask], v[mask].tolist())

    def _feed_evidence(self, rows: Any, arrays: list[Any]) -> None:
        import numpy as np

        assert self.x1 is not None and self.total is not None
        x1 = self._numeric(arrays[self.x1])
        x2 = self._numeric(arrays[self.x2]) if self.x2 is not None else np.zeros(len(rows))
        total = self._numeric(arrays[self.total])
        negative = np.zeros(len(rows), dtype=bool)
        for c, v in ((self.x1, x1), (self.x2, x2), (self.total, total)):
            if c is None:
                continue
            self._candidates("negative", c, rows, v, v < 0)
            negative |= v < 0
        # Rows where dominance is defined (no negative contribution, a positive total) and the
        # largest contributors make up at least half the share n,k forbids, or the largest
        # over half the total: a superset of both rules' failures when p <= 1 (p% fails only
        # if x1 + x2 > total - p * x1). The suite applies n,k and p% to them.
        x2z = np.nan_to_num(x2)
        near = (total > 0) & ~np.isnan(x1) & ~negative
        if self.policy.p_ratio <= 1:
            share = 0.5 * min(self.policy.dominance_k, 1.0)
            near &= (x1 + x2z >= share * total) | (x1 > 0.5 * total)
        if near.any():
            values = list(zip(x1[near].tolist(), x2z[near].tolist(), total[near].tolist(),
                              strict=True))  # fmt: skip
            self.buffer("evidence", self.total).extend(rows[near], values)

    def _feed_header(self, col: int, kind: str, rows: Any, arr: Any) -> None:
        _, pc, _ = _pa()
        pattern = HEADER_VALUE_PATTERNS.get(kind) or r"\S"
        mask = pc.fill_null(pc.match_substring_regex(arr, pattern), False)
        mask = mask.to_numpy(zero_copy_only=False)
        if mask.any():
            values = arr.filter(mask).to_pylist()
            self.buffer("header_identifier", col).extend(rows[mask], values)

    def _feed_scan(self, col: int, rows: Any, arr: Any, text_only: bool = False) -> None:
        """Value-led identifier candidates. ``text_only``: a numeric (measure) column, where
        only the non-numeric cells are scanned (a 10-digit count is not an NHS number)."""
        import numpy as np

        _, pc, _ = _pa()
        if text_only:
            numeric = pc.match_substring_regex(pc.utf8_trim_whitespace(arr), _NUMBER)
            mask = pc.and_(self._scan_mask(arr), pc.invert(pc.fill_null(numeric, False)))
        elif self._floats(arr) is not None:
            # Numbers only: just values of 10+ characters can be identifiers (NHS, phone, RUREF).
            mask = pc.greater_equal(pc.utf8_length(arr), 10)
        else:
            self.textual.add(col)
            # Statistical tables repeat values (categories, area codes, dates): run the regexes
            # on the distinct values only when that is much cheaper.
            encoded = pc.dictionary_encode(arr)
            if len(encoded.dictionary) * 4 < len(arr):
                distinct = self._scan_mask(encoded.dictionary)
                if not pc.any(distinct).as_py():
                    return
                mask = pc.take(distinct, encoded.indices)
            else:
                mask = self._scan_mask(arr)
        # Most columns hold no candidate: ask arrow before building a numpy mask of the batch.
        if not pc.any(mask).as_py():
            return
        mask = np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)
        values = arr.filter(mask).to_pylist()
        if not text_only and col not in self.textual:
            bare = sum(1 for v in values if len(v.strip()) == 10 and v.strip().isdigit())
            self.bare_ten[col] = self.bare_ten.get(col, 0) + bare
        self.buffer("identifier", col).extend(rows[mask], values)

    def _scan_mask(self, arr: Any) -> Any:
        _, pc, _ = _pa()
        mask = pc.or_(
            pc.match_substring_regex(arr, TEXT_PREFILTER),
            pc.match_substring_regex(arr, CELL_PREFILTER),
        )
        if self.business_ref_context:
            mask = pc.or_(mask, pc.match_substring_regex(arr, r"^\s*\d{11}\s*$"))
        return pc.fill_null(mask, False)

    # ---- GX and findings

    def _frame_and_plan(self) -> tuple[Any, list[Any], list[str]]:
        """Every candidate in one DataFrame (srs_row, srs_col, one value column per family)
        and the suite plan over it; also each spec's family, for reading the results."""
        import numpy as np
        import pandas as pd

        from include.checks import suites

        parts = [(key, buf) for key, buf in self.buffers.items() if buf.size]
        n = sum(buf.size for _, buf in parts)
        codes = {family: code for code, family in enumerate(_FAMILIES)}
        index = [
            np.concatenate([np.concatenate(b.rows) for _, b in parts]).astype(np.int64),
            np.concatenate([np.full(b.size, col, dtype=np.int64) for (_, col), b in parts]),
            # The family keeps the index unique: one cell can be two families' candidate.
            np.concatenate([np.full(b.size, codes[f], dtype=np.int8) for (f, _), b in parts]),
        ]
        frame: dict[str, Any] = {}
        specs: list[suites.SuiteSpec] = []
        families: list[str] = []
        start = 0

        def column(name: str, numeric: bool) -> Any:
            if name not in frame:
                frame[name] = np.full(n, np.nan) if numeric else np.full(n, None, dtype=object)
            return frame[name]

        for (family, col), buf in parts:
            span = slice(start, start + buf.size)
            start += buf.size
            values = [v for chunk in buf.values for v in chunk]
            if family == "evidence":
                for i, name in enumerate(("x1", "x2", "total")):
                    column(name, True)[span] = [v[i] for v in values]
            elif family in ("identifier", "header_identifier"):
                name = "ident" if family == "identifier" else f"header_{col}"
                column(name, False)[span] = values
            else:
                column(family, family in _NUMERIC_FAMILIES)[span] = values
        planned: set[str] = set()
        for (family, col), _ in parts:
            if family == "evidence" and "evidence" not in planned:
                specs.append(suites.SuiteSpec("dominance", ("x1", "x2", "total")))
                families.append(family)
                if self.x2 is not None:
                    specs.append(suites.SuiteSpec("p_ratio", ("x1", "x2", "total")))
                    families.append(family)
            elif family == "identifier" and "identifier" not in planned:
                context = {"business_ref_context": self.business_ref_context}
                values = [v for v in frame["ident"] if v is not None]
                possible = possible_kinds(values, self.business_ref_context)
                # One expectation per kind that some candidate could be, so GX names the kind.
                for kind in (k for k in KIND_LABEL if k in possible):
                    specs.append(
                        suites.SuiteSpec("identifier", ("ident",), {**context, "kind": kind})
                    )
                    families.append(family)
            elif family == "header_identifier":
                options = {"kind": self.classes[col].identifier_kind,
                           "header": self.source.headers[col]}  # fmt: skip
                specs.append(suites.SuiteSpec("header_identifier", (f"header_{col}",), options))
                families.append(family)
            elif family in _FAMILY_RULES and family not in planned:
                for rule in _FAMILY_RULES[family]:
                    specs.append(suites.SuiteSpec(rule, (family,)))
                    families.append(family)
            planned.add(family)
        names = [suites.ROW, suites.COL, "srs_family"]
        return (
            pd.DataFrame(frame, index=pd.MultiIndex.from_arrays(index, names=names)),
            specs,
            families,
        )

    def _validate_with_gx(self) -> None:
        """One GX validation per table over every candidate cell: the failing cells (and their
        locations, from GX's unexpected_index_list) are the findings."""
        started = time.perf_counter()
        from include.checks import suites

        if not STATS["gx_import_s"]:
            STATS["gx_import_s"] = time.perf_counter() - started
        started = time.perf_counter()
        frame, specs, families = self._frame_and_plan()
        suite = suites.build_suite(f"srs_table_{self.rel}_{self.source.sheet or ''}", specs)
        result = suites.validate(frame, suite, suites.suite_parameters(self.policy))
        STATS["gx_validate_s"] += time.perf_counter() - started
        STATS["gx_candidates"] += len(frame)
        listed: dict[tuple[str, str | None, int], tuple[str, tuple[str, ...]]] = {}
        verdicts = suites.unexpected_rows(result)
        for spec, family, verdict in zip(specs, families, verdicts, strict=True):
            if verdict.raised:
                raise RuntimeError(f"Great Expectations could not evaluate {verdict.type}")
            if spec.rule in ("identifier", "header_identifier"):
                rule, kind = spec.rule, spec.options["kind"]
            else:
                rule, kind = _RULE_FINDING[spec.rule]
            for row, col in zip(verdict.rows, verdict.cols, strict=True):
                self.tally(rule, kind, col).add(row)
                listed[(rule, kind, col)] = (family, spec.columns)
        # The values of the cells listed in findings (the messages quote counts; identifier
        # messages say whether a check character failed), read back from the frame.
        codes = {family: code for code, family in enumerate(_FAMILIES)}
        for key, (family, columns) in listed.items():
            tally = self.tallies[key]
            at = list(zip(tally.rows, [key[2]] * len(tally.rows), [codes[family]] * len(tally.rows),
                          strict=True))  # fmt: skip
            picked = frame.loc[at, list(columns)]
            if len(columns) == 1:
                tally.values = picked.iloc[:, 0].tolist()
            else:
                tally.values = list(picked.itertuples(index=False, name=None))

    def run(self) -> list[Finding]:
        self._feed_header_cells()
        for rows, arrays in self.source.batches:
            self.feed(rows, arrays)
        if any(buf.size for buf in self.buffers.values()):
            self._validate_with_gx()
        self._chance_nhs()
        return self._findings()

    def _feed_header_cells(self) -> None:
        """A headerless or one-row table's first row is data: its cells are scanned like any
        other when they look like data (the identifier prefilter picks them), not names."""
        import numpy as np

        # Python's re on these few cells: building a pyarrow array from Python values imports
        # pandas (0.3 s), which a clean table never needs.
        patterns = [_re(TEXT_PREFILTER), _re(CELL_PREFILTER)]
        if self.business_ref_context:
            patterns.append(_re(r"^\s*\d{11}\s*$"))
        key = _HEADER_KEY if self.source.row_map is not None else self.source.header_row
        for i, cell in enumerate(self.source.headers):
            if cell != _EXTRA_COLUMN and any(p.search(cell) for p in patterns):
                self.buffer("identifier", i).extend(np.array([key], dtype=np.int64), [cell])

    def _chance_nhs(self) -> None:
        """About 1 in 11 ten-digit numbers passes the NHS number check digit by chance. In a
        column of plain numbers (a turnover in pounds, say) a check digit that passes proves
        nothing unless most of the column's 10-digit values pass: then it holds NHS numbers."""
        for col, bare in self.bare_ten.items():
            key = ("identifier", "nhs_number", col)
            tally = self.tallies.get(key)
            if col in self.textual or tally is None or tally.total * 2 > bare:
                continue
            del self.tallies[key]
            self.chance_nhs.append((col, tally.total, bare))

    # ---- messages

    def _location(self, col: int | None, row: int | None) -> Location:
        cell = None
        letters = self.source.letters
        if letters is not None and col is not None and row is not None and col < len(letters):
            cell = f"{letters[col]}{row}"
        return Location(
            file=self.rel,
            sheet=self.source.sheet,
            row=row,
            column=self.source.headers[col] if col is not None else None,
            cell=cell,
        )

    def _findings(self) -> list[Finding]:
        out: list[Finding] = []
        row_fix: dict[int, int] = {}
        if self.source.row_map is not None:
            wanted = sorted({r for t in self.tallies.values() for r in t.rows} - {_HEADER_KEY})
            row_fix = self.source.row_map(wanted, self.multiline) if wanted else {}

        def fix(row: int) -> int:
            if self.source.row_map is None:
                return row
            return self.source.header_row if row == _HEADER_KEY else row_fix.get(row, row)

        p = self.policy
        for (rule, kind, col), tally in sorted(
            self.tallies.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1] or "")
        ):
            name = self.source.headers[col]
            if rule == "min_max":
                out.append(self._min_max_finding(col, fix(tally.rows[0])))
                continue
            if rule == "header_identifier":
                assert kind is not None
                first = fix(tally.rows[0])
                finding = identifier_finding(
                    kind,
                    p,
                    self._location(col, first),
                    f"column {name!r} ({tally.total:,} value{'s' if tally.total != 1 else ''}"
                    f", first at row {first})",
                    values=tally.values,
                )
                if finding is not None:
                    out.append(finding)
                continue
            for row, value in zip(tally.rows, tally.values, strict=True):
                loc = self._location(col, fix(row))
                if rule == "identifier":
                    assert kind is not None
                    finding = identifier_finding(
                        kind, p, loc, f"the value in column {name!r}", values=(value,)
                    )
                    if finding is not None:
                        out.append(finding)
                    continue
                out.append(self._sdc_finding(rule, kind, name, value, loc))
            if tally.total > len(tally.rows):
                more = tally.total - len(tally.rows)
                if rule == "identifier":
                    assert kind is not None
                    summary_rule, summary_kind = rule_for(kind), kind
                else:
                    summary_rule, summary_kind = rule, None
                out.append(
                    Finding(
                        rule=summary_rule,
                        kind=summary_kind,
                        severity=SDC_SEVERITY.get(summary_rule, Severity.BLOCK),
                        message=(
                            f"{more:,} more cell{'s' if more != 1 else ''} in column {name!r} "
                            f"fail the same rule ({tally.total:,} in all); only the first "
                            f"{len(tally.rows)} are listed: fix the whole column"
                        ),
                        location=Location(file=self.rel, sheet=self.source.sheet, column=name),
                    )
                )
        for col, valid, bare in self.chance_nhs:
            out.append(
                Finding(
                    rule="direct_identifier",
                    kind="nhs_number",
                    severity=Severity.REVIEW,  # an officer judges; the researcher need not act
                    message=(
                        f"{valid:,} of the {bare:,} ten-digit numbers in column "
                        f"{self.source.headers[col]!r} pass the NHS number check digit, about "
                        "the 1 in 11 that ordinary numbers pass by chance, so they were not "
                        "blocked as NHS numbers; an officer will check that the column holds "
                        "ordinary numbers (if it holds NHS numbers, remove it)"
                    ),
                    location=Location(
                        file=self.rel, sheet=self.source.sheet, column=self.source.headers[col]
                    ),  # fmt: skip
                )
            )
        if self.data_rows and not self.count_cols:
            out.append(
                Finding(
                    rule="missing_counts",
                    severity=Severity.REVIEW,
                    message=(
                        "no column of unweighted counts was found (headers such as 'count', "
                        "'n', 'freq', 'unweighted_n'); add the unweighted count behind each "
                        "cell, or name the count columns on the request form"
                    ),
                    location=Location(file=self.rel, sheet=self.source.sheet),
                )
            )
        return out

    def _min_max_finding(self, col: int, row: int) -> Finding:
        name = self.source.headers[col]
        return Finding(
            rule="min_max",
            severity=Severity.REVIEW,
            message=(
                f"column {name!r} holds minimum, maximum, median, percentile or mode values, "
                "which can be single observations; an officer will review it: say on the form "
                f"how many observations each is based on (at least {self.policy.threshold}), "
                "or replace it with a rounded or averaged value"
            ),
            location=self._location(col, row),
        )

    def _sdc_finding(
        self, rule: str, kind: str | None, name: str, value: Any, loc: Location
    ) -> Finding:
        p = self.policy
        if rule == "threshold":
            message = (
                f"count {_fmt(value)} in column {name!r} is below this project's minimum of "
                f"{p.threshold}; suppress or combine cells (for example merge categories) so "
                f"every count is at least {p.threshold}"
            )
            return Finding(rule, Severity.BLOCK, message, loc)
        if rule == "zero_cell":
            what = "a full (100%) or empty (0%) cell" if kind == "full" else "a zero count"
            message = (
                f"{what} in column {name!r}: unless it is structural (impossible by "
                "definition), it can disclose that everyone or no one in a group has the "
                "attribute; explain it on the form or combine categories"
            )
            return Finding(rule, Severity.REVIEW, message, loc)
        if rule == "negative_values":
            message = (
                f"negative value {_fmt(value)} in column {name!r}: dominance (n,k and p%) "
                "cannot be assessed when contributions are negative; an officer will review; "
                "explain the negative values on the form or supply evidence on absolute values"
            )
            return Finding(rule, Severity.REVIEW, message, loc)
        if rule == "degrees_of_freedom":
            message = (
                f"the model has {_fmt(value)} residual degrees of freedom (column {name!r}), "
                f"fewer than the minimum of {p.min_degrees_of_freedom}; fit it on more "
                "observations or with fewer parameters"
            )
            return Finding(rule, Severity.BLOCK, message, loc)
        x1, x2, total = value
        if rule == "dominance":
            share = (x1 + x2) / total if total else 1.0
            message = (
                f"the {p.dominance_n} largest contributors make up {share:.0%} of this cell's "
                f"total (the limit is below {p.dominance_k:.0%}); suppress this cell or "
                "combine it with others"
            )
        else:
            rest = total - x1 - x2
            message = (
                f"the cell total minus its two largest contributors ({_fmt(rest)}) is less "
                f"than {p.p_ratio:.0%} of the largest ({_fmt(x1)}), so the second largest "
                "contributor could estimate the largest; suppress this cell or combine it "
                "with others"
            )
        return Finding(rule, Severity.BLOCK, message, loc)


_NUMBER_RE = re.compile(_NUMBER)


@functools.lru_cache(maxsize=8)
def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _as_float(arr: Any) -> Any:
    """The column as float64 when every cell is a plain number (or empty), else None. A cast
    that fails is slow in pyarrow, so a sample of the first cells decides whether to try."""
    pa, pc, _ = _pa()
    sample = [v for v in arr.slice(0, 64).to_pylist() if v is not None]
    if not all(_NUMBER_RE.match(v) for v in sample):
        return None
    try:
        return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


# ------------------------------------------------------------------------------ public


def _unreadable(rel: str, exc: BaseException) -> Finding:
    return Finding(
        rule="unreadable",
        severity=Severity.BLOCK,
        message=f"the table could not be read ({type(exc).__name__}: {exc}); save it again "
        "as a plain CSV or XLSX file without passwords and resubmit",
        location=Location(file=rel),
    )


def check_table_file(
    path: pathlib.Path, rel: str, table_format: str, policy: CheckPolicy
) -> list[Finding]:
    """Identifier and SDC findings for one table file (``table_format``: csv, tsv or xlsx).
    ``rel`` (the path relative to the request folder) becomes every finding's Location.file."""
    path = pathlib.Path(path)
    if table_format not in ("csv", "tsv", "xlsx"):
        raise ValueError(f"unsupported table format {table_format!r}")
    pa, _, _ = _pa()
    findings: list[Finding] = []
    try:
        if table_format == "xlsx":
            from python_calamine import CalamineError

            try:
                for source in _xlsx_sources(path):
                    findings += _TableCheck(source, rel, policy).run()
            except CalamineError as exc:  # not a zip, broken XML, a password
                return [_unreadable(rel, exc)]
            return sort_findings(findings)
        delimiter = "\t" if table_format == "tsv" else ","
        encoding = _sniff_encoding(path)
        header = _read_header(path, encoding, delimiter)
        if header is None:
            return []
        if header.end == header.line:  # pyarrow's skip_rows cannot skip a multi-line header
            try:
                source = _csv_source(path, delimiter, header, encoding)
                return sort_findings(_TableCheck(source, rel, policy).run())
            except (pa.ArrowInvalid, UnicodeError):
                pass  # ragged rows, stray bytes, a quoted line break across blocks
        source = _csv_source_python(path, delimiter, header, encoding)
        return sort_findings(_TableCheck(source, rel, policy).run())
    except _TooLarge as exc:
        return [
            Finding(
                rule="too_large",
                kind="table",
                severity=Severity.BLOCK,
                message=f"the table was not checked: {exc}; save it as a table of at most "
                f"{MAX_COLUMNS:,} columns with one record per line and resubmit",
                location=Location(file=rel),
            )
        ]
    except (OSError, zipfile.BadZipFile, KeyError, csv.Error, pa.ArrowInvalid, io.UnsupportedOperation,
            ValueError) as exc:  # fmt: skip
        return [_unreadable(rel, exc)]
