"""Formula-like cells in CSV/TSV files (`formula`, shared/RULES.md).

A CSV cell such as ``=HYPERLINK(...)``, ``+cmd|' /C calc'!A0`` or ``@SUM(...)`` is a formula the
moment the file opens in Excel (CSV injection), so the raw text is read here, before and apart
from the table rules. Cells that call a function or a command (DDE ``cmd|...``) block; other
formula-like cells (``=A1+B2``, ``-2+3``) are for an officer to judge. Numbers (``-2``,
``+3.5``, ``-1,234``) and bare dashes (the usual "nil" marker) are not formulas.

Speed: the whole file is searched with ``bytes.find`` for a delimiter or line start followed by
``= + - @``; only the lines holding such a byte pair are parsed as CSV.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

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


# A signed cell that is not a number: the rest of the cell is not digits, a decimal point,
# thousands commas, an exponent or a per cent sign, and not only more dashes (a rule line).
_SIGN_TAIL = (
    rb"(?![\d.,]*(?:[eE][+-]?\d+)?%?\"?[ \t]*(?:[,\t\r\n]|$))"
    rb"(?![-+ ]*\"?[ \t]*(?:[,\t\r\n]|$))"
)


def _searchers(delimiter: bytes) -> list[re.Pattern[bytes]]:
    # Each pattern starts with a literal (a cell start, then the sign), which re finds at
    # memchr speed; one pattern with a character class for the cell start is 3x slower.
    leads = (delimiter, b'"', b"\n")
    out = [
        re.compile(re.escape(lead + sign) + _SIGN_TAIL) for lead in leads for sign in (b"-", b"+")
    ]
    out += [re.compile(re.escape(lead + sign)) for lead in leads for sign in (b"=", b"@")]
    return out


def _candidate_line_starts(buf: bytes, searchers: list[re.Pattern[bytes]]) -> set[int]:
    """Offsets in ``buf`` (which starts with a newline) of the lines holding a cell that may
    begin with = + - @ and is not a signed number."""
    starts: set[int] = set()
    for pattern in searchers:
        for m in pattern.finditer(buf):
            pos = m.start()
            starts.add(pos + 1 if buf[pos] == 10 else buf.rfind(b"\n", 0, pos) + 1)
    return starts


def check_formulas(path: Path, rel: str, table_format: str) -> list[Finding]:
    """`formula` findings for formula-like cells of a CSV/TSV file, located by line. Read in
    chunks cut at line ends, so memory stays bounded whatever the file's size."""
    delimiter = "\t" if table_format == "tsv" else ","
    searchers = _searchers(delimiter.encode())
    found: list[tuple[int, str, str]] = []  # (line, column, kind)
    header: list[str] | None = None
    lines_before = 0  # complete lines in the chunks already read
    carry = b""
    with Path(path).open("rb") as fh:
        while True:
            block = fh.read(_CHUNK)
            data = carry + block
            if not data:
                break
            cut = data.rfind(b"\n") + 1 if block else len(data)
            if cut == 0:
                carry = data
                continue
            chunk, carry = data[:cut], data[cut:]
            if header is None:
                first = chunk.split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r")
                header = next(csv.reader([first], delimiter=delimiter), [])
            buf = b"\n" + chunk
            line, counted = lines_before, 0
            for start in sorted(_candidate_line_starts(buf, searchers)):
                end = buf.find(b"\n", start)
                text = buf[start : end if end != -1 else len(buf)]
                line += buf.count(b"\n", counted, start)  # newlines before: the line number
                counted = start
                cells = next(
                    csv.reader([text.decode("utf-8", errors="replace").rstrip("\r")],
                               delimiter=delimiter),
                    [],
                )  # fmt: skip
                for index, cell in enumerate(cells):
                    kind = formula_kind(cell)
                    if kind is not None:
                        column = header[index] if index < len(header) else f"column {index + 1}"
                        found.append((line, column, kind))
            lines_before += chunk.count(b"\n")
            if not block:
                break
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
