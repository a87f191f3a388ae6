"""Formula-like cells in CSV/TSV files (`formula`, shared/RULES.md).

A CSV cell such as ``=HYPERLINK(...)``, ``+cmd|' /C calc'!A0`` or ``@SUM(...)`` is a formula the
moment the file opens in Excel (CSV injection), so the raw text is read here, before and apart
from the table rules. Cells that call a function or a command (DDE ``cmd|...``) block; other
formula-like cells (``=A1+B2``, ``-2+3``) are for an officer to judge. Numbers (``-2``,
``+3.5``, ``-1,234``) and bare dashes (the usual "nil" marker) are not formulas.

Speed: numpy scans the raw bytes for a sign that may start a cell, a small vectorised automaton
drops the signs of plain numbers and dash runs, and only the lines left are parsed as CSV, with
formula_kind deciding (see "The scan" below): about 35 ms for a 78 MB, 1M-row CSV.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from include.checks.findings import Finding, Location, Severity

LISTED = 20  # findings listed one by one; the rest are summarised
_CHUNK = 8 * 1024 * 1024
_NUMBER = re.compile(r"[+-]?(?:\d[\d,]*)?\.?\d+(?:[eE][+-]?\d+)?%?")
_FUNCTION = re.compile(r"[A-Za-z_][\w.]*\s*\(")  # SUM( HYPERLINK( _xlfn.CONCAT(
_COMMAND = re.compile(r"[\w.]+\s*\|")  # DDE: cmd|' /C calc'!A0, msexcel|...


def formula_kind(cell: str) -> str | None:
    """'command', 'function' or 'expression' for a formula-like cell, else None."""
    v = cell.lstrip(" \t\r")
    if len(v) < 2 or v[0] not in "=+-@":
        return None
    if _NUMBER.fullmatch(v.strip()) or not v.strip("-+=@ ").strip():
        return None  # a signed number, or only dashes/pluses (a nil marker, a rule line)
    body = v[1:]
    if _COMMAND.search(body):
        return "command"
    if _FUNCTION.search(body):
        return "function"
    return "expression"


# The scan, per chunk: numpy finds the bytes = + - @ that follow a byte which can come just
# before a cell's text: a delimiter, a quote, a line start, or a space, tab or CR (formula_kind
# strips those). Any byte up to the delimiter or '"' counts, so a few extra bytes (``(-``,
# ``+-``) are candidates too, and _plain drops them (inside a cell). A sign starting a plain number
# or a dash run in an ordinary cell (``,-12.5,``, ``"-1,234"``, ``, -5%``, ``,--,``) is then
# dropped by a small automaton run over all candidates at once (_plain), so a column of negative
# numbers is not a million lines for Python. The lines still holding a candidate are parsed
# with csv, and formula_kind decides, as it would for any line.
_BLOCK = 256 * 1024  # bytes scanned at a time (see _scan)
_AHEAD = 64  # bytes of a cell after its sign read by the automaton; longer cells are parsed
_BACK = 8  # spaces before a sign looked through to the cell's start


def _scan(
    a: np.ndarray, delimiter: int, scratch: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, int]:
    """(offsets in ``a``, a chunk starting at a line start, of the bytes = + - @ that start
    the chunk or follow a byte up to '"' (tab, newline, CR, space, quote) or the delimiter;
    the number of newlines in ``a``). Done _BLOCK bytes at a time, so that the few passes
    over each block read it from the cache; ``scratch`` is two bool arrays of _BLOCK."""
    sign, other = scratch
    lead = max(34, delimiter)
    found, newlines = [], 0
    for lo in range(0, len(a), _BLOCK):
        x = a[lo : lo + _BLOCK]
        s, o = sign[: len(x)], other[: len(x)]
        np.equal(x, 45, out=s)  # -
        for byte in (43, 61, 64):  # + = @
            np.equal(x, byte, out=o)
            np.bitwise_or(s, o, out=s)
        np.equal(x, 10, out=o)
        newlines += int(np.count_nonzero(o))
        if lo:
            np.less_equal(a[lo - 1 : lo - 1 + len(x)], lead, out=o)
        else:
            np.less_equal(x[:-1], lead, out=o[1:])
            o[0] = True  # the chunk's start is a line start
        np.bitwise_and(o, s, out=o)
        at = np.flatnonzero(o)
        if len(at):
            found.append(at + lo)
    return (np.concatenate(found) if found else np.zeros(0, np.intp)), newlines


# The automaton over a cell's bytes after its sign: states per mode (a bare cell, ending at the
# delimiter or line end; a quoted one, ending at a quote then the delimiter or line end), then
# _ACCEPT (the cell is a plain number or dash run: formula_kind gives None) and _REJECT (anything
# else, or not known). The number states follow _NUMBER: (digit [digits,]*)? .? digits
# (e [+-]? digits)? %?, then spaces.
_STATES = ("start", "int", "comma", "point", "frac", "e", "esign", "exp", "pct", "space", "dash",
           "end1", "end2")  # fmt: skip
_ACCEPT = 2 * len(_STATES)
_REJECT = _ACCEPT + 1


@functools.cache
def _machine(delimiter: int) -> np.ndarray:
    """The transition table, flat: ``table[state * 256 + byte]`` is the next state * 256."""
    table = np.full((_REJECT + 1, 256), _REJECT, np.uint16)
    digits = b"0123456789"
    blank = b" " if delimiter == 9 else b" \t"

    for mode in (0, 1):  # 0: a bare cell, 1: a quoted one
        st = {name: mode * len(_STATES) + i for i, name in enumerate(_STATES)}

        def go(state: str, chars: bytes, to: int | str, st: dict[str, int] = st) -> None:
            table[st[state], list(chars)] = st[to] if isinstance(to, str) else to

        comma = b"," if mode == 1 or delimiter != 44 else b""
        go("start", digits, "int")
        go("start", b".", "point")
        go("start", b"-+=@ ", "dash")
        go("int", digits, "int")
        go("int", comma, "comma")
        go("int", b".", "point")
        go("comma", digits, "int")
        go("comma", comma, "comma")
        go("comma", b".", "point")
        go("point", digits, "frac")
        go("frac", digits, "frac")
        for state in ("int", "frac"):
            go(state, b"eE", "e")
        go("e", b"+-", "esign")
        go("e", digits, "exp")
        go("esign", digits, "exp")
        go("exp", digits, "exp")
        for state in ("int", "frac", "exp"):
            go(state, b"%", "pct")
        for state in ("int", "frac", "exp", "pct", "space"):
            go(state, blank, "space")
        go("dash", b"-+=@ ", "dash")
        for state in ("start", "int", "frac", "exp", "pct", "space", "dash"):  # the cell's end
            if mode == 0:  # the delimiter, a newline, or CR LF
                go(state, bytes([delimiter, 10]), _ACCEPT)
                go(state, b"\r", "end1")
            else:  # a closing quote, then the same
                go(state, b'"', "end1")
        if mode == 0:
            go("end1", b"\n", _ACCEPT)  # the CR of CR LF
        else:
            go("end1", bytes([delimiter, 10]), _ACCEPT)
            go("end1", b"\r", "end2")
            go("end2", b"\n", _ACCEPT)
    table[_ACCEPT:] = np.arange(_ACCEPT, _REJECT + 1)[:, None]
    return (table * 256).ravel()


def _byte(a: np.ndarray, at: np.ndarray) -> np.ndarray:
    """a[at], with a newline (a line start) before the chunk."""
    out = a[np.maximum(at, 0)]
    out[at < 0] = 10
    return out


def _back_through(
    a: np.ndarray, pos: np.ndarray, through: np.ndarray, steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Back from the byte before each ``pos``, over bytes marked in ``through`` (a table of
    256 bools), at most ``steps`` bytes: (the offset and byte each walk stopped at, how many
    quotes it passed)."""
    at, quotes = pos - 1, np.zeros(len(pos), np.intp)
    b = _byte(a, at)
    for _ in range(steps):
        more = through[b]
        if not more.any():
            break
        quotes += b == 34
        at -= more
        b = _byte(a, at)
    return at, b, quotes


def _plain(a: np.ndarray, pos: np.ndarray, delimiter: int) -> np.ndarray:
    """For each sign at ``pos``: True when it surely starts no formula-like cell: it is inside
    a cell's text, or the cell it starts is a plain signed number (``-12``, ``+3.5``,
    ``-1,234``, ``-5%``, ``-1e-3``) or only dashes, pluses, = @ and spaces, with at most spaces
    around. ``a`` ends with a newline.

    Conservative: anything else (quotes or CR inside, a cell start it cannot see, a cell
    longer than _AHEAD) is False and left to the csv parse and formula_kind."""
    spaces = np.zeros(256, bool)
    spaces[list(b" " if delimiter == 9 else b" \t")] = True
    # Back through spaces to the byte before the cell's text: the delimiter or a line start
    # (a bare cell), or an opening quote after one (a quoted cell).
    at, b1, _ = _back_through(a, pos, spaces, _BACK)
    b2 = _byte(a, at - 1)
    bare = (b1 == delimiter) | (b1 == 10)
    quoted = (b1 == 34) & ((b2 == delimiter) | (b2 == 10))
    # Any other byte there but a quote or CR (``North - East``, ``(-5)``, ``a+-b``) is inside
    # a cell's text, so the sign cannot start it: formula_kind strips only spaces, tabs, CR.
    inside = ~(bare | spaces[b1] | (b1 == 34) | (b1 == 13))
    if delimiter == 9:
        # A tab is both the delimiter and stripped by formula_kind, so tabs and quotes before
        # the sign may lie inside one cell: ``"\t"-5"`` is the cell ``\t-5"``, a formula. Safe
        # only when the run of blanks (space, tab, CR, quote) before the sign holds no quote
        # (a bare cell) or just the opening one, and ends at another byte or a line start.
        blanks = np.zeros(256, bool)
        blanks[list(b' \t\r"')] = True
        _, b, quotes = _back_through(a, pos, blanks, _BACK + 2)
        ended = ~blanks[b]
        bare &= ended & (quotes == 0)
        quoted &= ended & (quotes == 1)
    # Forward: the automaton, over the candidates still unsure, one byte a step.
    table = _machine(delimiter)
    signed = (a[pos] == 45) | (a[pos] == 43)
    start = np.where(signed, _STATES.index("start"), _STATES.index("dash"))
    state = np.where(quoted, start + len(_STATES), np.where(bare, start, _REJECT))
    state = state.astype(np.uint16) * 256
    live = np.flatnonzero(state < _ACCEPT * 256)
    at, cur = pos[live] + 1, state[live]
    last = len(a) - 1
    for _ in range(_AHEAD):
        if not len(live):
            break
        np.minimum(at, last, out=at)
        cur = table[cur + a[at]]
        going = cur < _ACCEPT * 256
        if not going.all():
            state[live[~going]] = cur[~going]
            live, at, cur = live[going], at[going], cur[going]
        at += 1
    return inside | (state == _ACCEPT * 256)


def _cells(text: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error:  # a CR inside an unquoted cell: read each CR-separated piece
        return [
            c
            for piece in text.split("\r")
            for c in next(csv.reader([piece], delimiter=delimiter), [])
        ]


def _chunks(path: Path) -> Iterator[np.ndarray]:
    """The file's bytes in chunks of whole lines (the last line, if unended, is given a
    newline), each a numpy view of one reused buffer of about _CHUNK bytes, valid until the
    next: memory stays bounded whatever the file's size, and nothing is copied but the
    carried part line."""
    buf = bytearray(_CHUNK + 1)
    filled = 0  # the start of a line cut by the last read, carried to the buffer's front
    with Path(path).open("rb") as fh:
        while True:
            if len(buf) < filled + _CHUNK + 1:  # a line longer than a chunk: a bigger buffer
                bigger = bytearray(filled + _CHUNK + 1)
                bigger[:filled] = buf[:filled]
                buf = bigger
            with memoryview(buf) as view:
                got = fh.readinto(view[filled : filled + _CHUNK])
            end = filled + got
            if got:
                cut = buf.rfind(b"\n", 0, end) + 1
                if not cut:
                    filled = end
                    continue
            else:
                if not end:
                    return
                cut = end
                if buf[cut - 1] != 10:
                    buf[cut] = 10
                    cut += 1
            yield np.frombuffer(buf, np.uint8, count=cut)
            if not got:
                return
            buf[: end - cut] = buf[cut:end]
            filled = end - cut


def check_formulas(path: Path, rel: str, table_format: str) -> list[Finding]:
    """`formula` findings for formula-like cells of a CSV/TSV file, located by line."""
    delimiter = "\t" if table_format == "tsv" else ","
    delim = ord(delimiter)
    found: list[tuple[int, str, str]] = []  # (line, column, kind)
    header: list[str] | None = None
    lines_before = 0  # complete lines in the chunks already read
    scratch = (np.empty(_BLOCK, bool), np.empty(_BLOCK, bool))
    for a in _chunks(path):
        if header is None:
            first = a[: int(np.argmax(a == 10))].tobytes()
            header = _cells(first.decode("utf-8", errors="replace").rstrip("\r"), delimiter)
        pos, newline_count = _scan(a, delim, scratch)
        if len(pos):
            pos = pos[~_plain(a, pos, delim)]
        if len(pos):
            newlines = np.flatnonzero(a == 10)
            for before in np.unique(np.searchsorted(newlines, pos)).tolist():
                start = int(newlines[before - 1]) + 1 if before else 0
                text = a[start : int(newlines[before])].tobytes()
                cells = _cells(text.decode("utf-8", errors="replace").rstrip("\r"), delimiter)
                for index, cell in enumerate(cells):
                    kind = formula_kind(cell)
                    if kind is not None:
                        column = header[index] if index < len(header) else f"column {index + 1}"
                        found.append((lines_before + before + 1, column, kind))
        lines_before += newline_count
    return _findings(rel, found)


def _findings(rel: str, found: list[tuple[int, str, str]]) -> list[Finding]:
    out: list[Finding] = []
    for line, column, kind in found[:LISTED]:
        blocks = kind in ("command", "function")
        what = {
            "command": "runs a command (a DDE call) when the file is opened in Excel",
            "function": "calls a spreadsheet function when the file is opened in Excel",
            "expression": "is read by Excel as a formula, not as the text or number written",
        }[kind]
        out.append(
            Finding(
                rule="formula",
                kind=kind,
                severity=Severity.BLOCK if blocks else Severity.REVIEW,
                message=(
                    f"The cell at line {line}, column {column!r}, starts like a formula and {what}; "
                    + (
                        "remove it or write the value itself."
                        if blocks
                        else "an officer checks it; quote it as text (e.g. a leading apostrophe) "
                        "or write the value itself."
                    )
                ),
                location=Location(file=rel, line=line, row=line, column=column),
            )
        )
    rest = found[LISTED:]
    if rest:
        blocks = any(kind in ("command", "function") for _, _, kind in rest)
        out.append(
            Finding(
                rule="formula",
                kind="summary",
                severity=Severity.BLOCK if blocks else Severity.REVIEW,
                message=(
                    f"{len(rest):,} more formula-like cell{'s' if len(rest) != 1 else ''} "
                    f"({len(found):,} in all); only the first {LISTED} are listed: remove "
                    "formulas from the whole file"
                ),
                location=Location(file=rel, line=rest[0][0], row=rest[0][0]),
            )
        )
    return out
