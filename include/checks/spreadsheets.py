"""Spreadsheet hygiene (xlsx/xlsm) and delimited-text intake (csv/tsv); content goes to tabular.

The workbook is read as what it is, a zip of XML parts: the zip directory is bounded first
(`filetypes.open_zip_guarded`), every part is parsed with defusedxml (no DTDs, no entities) and
worksheets are streamed, so hidden rows, formulas and links are found without loading the
workbook into memory. Only then does `tabular.check_table_file` read the visible values.

Choices: cell comments and notes are `hidden_content` with kind `comment` (block: the guidance
asks for no hidden file content, and comments are invisible until hovered); their text is also
scanned for identifiers. Web (http/https/mailto) hyperlinks are not `external_link`; links to
files, drives, UNC servers, external workbooks and data connections are.
"""

from __future__ import annotations

import codecs
import contextlib
import importlib
import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from defusedxml import ElementTree as DET

from include.checks import filetypes as ft
from include.checks.findings import Finding, Location, Severity
from include.checks.policy import CheckPolicy

MAX_LISTED_CELLS = 10
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_WEB_LINK = re.compile(r"^(?:https?|mailto):", re.I)


def tabular_checker():
    """The tabular content checker (written separately; imported when first needed)."""
    return importlib.import_module("include.checks.tabular").check_table_file


def scan_text_fn():
    return importlib.import_module("include.checks.identifiers").scan_text


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def col_letter(n: int) -> str:
    s = ""
    while n > 0:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def is_external_target(target: str) -> bool:
    """A relationship target that points at another file or a server (not a web page)."""
    t = target.strip()
    return bool(t) and not _WEB_LINK.match(t)


def rels_of(zf: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str, str]]:
    """Relationships of a part: id -> (type suffix, target, target mode)."""
    d, base = posixpath.split(part)
    rels_name = posixpath.join(d, "_rels", base + ".rels")
    if rels_name not in zf.namelist():
        return {}
    root = DET.fromstring(ft.read_member(zf, rels_name, 8 * 1024 * 1024))
    out = {}
    for el in root:
        out[el.get("Id", "")] = (
            (el.get("Type") or "").rsplit("/", 1)[-1],
            el.get("Target") or "",
            el.get("TargetMode") or "",
        )
    return out


def resolve(part: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(part), target))


@dataclass
class _Sheet:
    name: str
    state: str
    part: str | None
    hidden_rows: list[int] = field(default_factory=list)
    hidden_cols: list[str] = field(default_factory=list)
    formulas: list[str] = field(default_factory=list)
    formula_count: int = 0


def ooxml_problem(exc: BaseException, rel: str) -> Finding:
    if isinstance(exc, ft.ZipRefused):
        if exc.too_large:
            return Finding(
                "too_large",
                Severity.BLOCK,
                f"The workbook would inflate beyond the safe limit and was not opened: {exc}.",
                Location(file=rel),
                kind="inflated",
            )
        return Finding(
            "unreadable",
            Severity.BLOCK,
            f"The file was not opened: {exc}.",
            Location(file=rel),
            kind="zip_bomb",
        )
    return Finding(
        "unreadable",
        Severity.BLOCK,
        f"The file cannot be parsed ({type(exc).__name__}: {exc}); it may be corrupt. "
        "Save it again from Office.",
        Location(file=rel),
        kind="corrupt",
    )


def check_workbook(path: Path, rel: str, policy: CheckPolicy, ooxml: str = "xlsx") -> list[Finding]:
    """Hygiene findings for a workbook, then the table content findings of its visible sheets."""
    try:
        findings = workbook_hygiene(path, rel, policy, ooxml)
    except (
        ft.ZipRefused,
        zipfile.BadZipFile,
        DET.ParseError,
        KeyError,
        ValueError,
        EOFError,
        OSError,
    ) as exc:
        return [ooxml_problem(exc, rel)]
    except Exception as exc:  # defusedxml refusals (DTDForbidden, EntitiesForbidden) and the like
        return [ooxml_problem(exc, rel)]
    return findings + list(tabular_checker()(path, rel, "xlsx", policy))


def workbook_hygiene(
    path: Path, rel: str, policy: CheckPolicy, ooxml: str = "xlsx"
) -> list[Finding]:  # noqa: C901
    out: list[Finding] = []
    with ft.open_zip_guarded(path) as zf:
        names = zf.namelist()
        lower = {n.lower(): n for n in names}

        vba = [n for n in names if n.lower().endswith("vbaproject.bin")]
        if vba or ooxml == "xlsm":
            out.append(
                Finding(
                    "macro",
                    Severity.BLOCK,
                    "The workbook is macro-enabled"
                    + (f" and holds a VBA project ({vba[0]})" if vba else "")
                    + ". Save it as a plain .xlsx workbook without macros.",
                    Location(file=rel),
                    kind="vba",
                )
            )

        wb_part = lower.get("xl/workbook.xml")
        if wb_part is None:
            raise ValueError("the workbook part xl/workbook.xml is missing")
        wb_rels = rels_of(zf, wb_part)
        root = DET.fromstring(ft.read_member(zf, wb_part, 32 * 1024 * 1024))
        sheets: list[_Sheet] = []
        for el in root.iter():
            tag = local(el.tag)
            if tag == "sheet":
                rid = el.get(f"{{{REL_NS}}}id") or ""
                target = wb_rels.get(rid, ("", "", ""))[1]
                part = resolve(wb_part, target) if target else None
                sheets.append(_Sheet(el.get("name") or "?", el.get("state") or "visible", part))

        for sh in sheets:
            if sh.state in ("hidden", "veryHidden"):
                very = sh.state == "veryHidden"
                out.append(
                    Finding(
                        "hidden_content",
                        Severity.BLOCK,
                        f"Sheet {sh.name!r} is {'very hidden (only visible through VBA)' if very else 'hidden'}. "
                        "Delete it, or unhide it if it is part of the output.",
                        Location(file=rel, sheet=sh.name),
                        kind="very_hidden_sheet" if very else "hidden_sheet",
                    )
                )

        # External workbook links and data connections.
        for n in names:
            nl = n.lower()
            if nl.startswith("xl/externallinks/") and nl.endswith(".xml"):
                targets = [t for (_typ, t, _m) in rels_of(zf, n).values() if t]
                out.append(
                    Finding(
                        "external_link",
                        Severity.BLOCK,
                        "The workbook links to another workbook"
                        + (f" ({', '.join(repr(t) for t in targets[:3])})" if targets else "")
                        + ". Break the links (Data > Edit Links > Break Link) and keep values only.",
                        Location(file=rel),
                        kind="external_workbook",
                    )
                )
            elif nl == "xl/connections.xml":
                out.append(
                    Finding(
                        "external_link",
                        Severity.BLOCK,
                        "The workbook holds external data connections (queries to files, databases or "
                        "servers). Remove them and keep values only.",
                        Location(file=rel),
                        kind="data_connection",
                    )
                )
            elif nl.startswith("xl/pivotcache/pivotcacherecords"):
                out.append(
                    Finding(
                        "hidden_content",
                        Severity.BLOCK,
                        "The workbook stores a pivot cache: a hidden copy of the pivot table's source "
                        "records. Paste the pivot table as values, or delete the pivot table.",
                        Location(file=rel),
                        kind="pivot_cache",
                    )
                )
            elif nl.startswith("xl/embeddings/"):
                out.append(
                    Finding(
                        "unchecked_file_type",
                        Severity.BLOCK,
                        f"The workbook embeds another file ({posixpath.basename(n)!r}), which cannot be "
                        "checked. Remove the embedded object.",
                        Location(file=rel),
                        kind="embedded_object",
                    )
                )

        scan = None
        for sh in sheets:
            if not sh.part or sh.part not in names:
                continue
            sheet_rels = rels_of(zf, sh.part)
            _stream_sheet(zf, sh, sheet_rels, rel, out)
            if sh.hidden_rows:
                rows = sh.hidden_rows
                listed = ", ".join(str(r) for r in rows[:MAX_LISTED_CELLS])
                more = (
                    f" and {len(rows) - MAX_LISTED_CELLS} more"
                    if len(rows) > MAX_LISTED_CELLS
                    else ""
                )
                out.append(
                    Finding(
                        "hidden_content",
                        Severity.BLOCK,
                        f"Sheet {sh.name!r} has {len(rows)} hidden row(s): {listed}{more}. Delete or unhide them.",
                        Location(file=rel, sheet=sh.name, row=rows[0]),
                        kind="hidden_row",
                    )
                )
            if sh.hidden_cols:
                cols = sh.hidden_cols
                listed = ", ".join(cols[:MAX_LISTED_CELLS])
                more = (
                    f" and {len(cols) - MAX_LISTED_CELLS} more"
                    if len(cols) > MAX_LISTED_CELLS
                    else ""
                )
                out.append(
                    Finding(
                        "hidden_content",
                        Severity.BLOCK,
                        f"Sheet {sh.name!r} has {len(cols)} hidden column(s): {listed}{more}. Delete or unhide them.",
                        Location(file=rel, sheet=sh.name, column=cols[0]),
                        kind="hidden_column",
                    )
                )
            if sh.formula_count:
                listed = ", ".join(sh.formulas)
                more = (
                    f" and {sh.formula_count - len(sh.formulas)} more"
                    if sh.formula_count > len(sh.formulas)
                    else ""
                )
                out.append(
                    Finding(
                        "formula",
                        Severity.REVIEW,
                        f"Sheet {sh.name!r} has {sh.formula_count} cell(s) holding formulas rather than "
                        f"values: {listed}{more}. Paste them as values unless the officer needs them.",
                        Location(file=rel, sheet=sh.name, cell=sh.formulas[0]),
                    )
                )
            for _rid, (typ, target, mode) in sheet_rels.items():
                if typ == "comments" or typ.endswith("threadedComment"):
                    part = resolve(sh.part, target)
                    if part in names:
                        scan = scan or scan_text_fn()
                        out.extend(_comments(zf, part, sh.name, rel, policy, scan))
                elif mode == "External" and typ != "hyperlink" and is_external_target(target):
                    out.append(
                        Finding(
                            "external_link",
                            Severity.BLOCK,
                            f"Sheet {sh.name!r} links to an external {typ or 'object'} ({target!r}).",
                            Location(file=rel, sheet=sh.name),
                            kind=typ or "external",
                        )
                    )
    return out


_CELL_RE = re.compile(r"^([A-Z]+)(\d+)$")

SHEET_CHUNK_BYTES = 4 << 20
# The few sheet elements hygiene needs, found in the raw XML with the prefix the root element
# uses: a regex pass is ~20x ElementTree's iterparse, which built an element per cell.
_ROOT = re.compile(rb"<([\w.-]+:)?worksheet[\s>]")
_TAGS = rb"(sheetData|f|row|col|hyperlink)(?=[\s/>])([^>]*)>"
_ATTR = re.compile(rb"([\w.:-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_CELL_START = re.compile(rb"<(?:[\w.-]+:)?c\s[^>]*?\br\s*=\s*[\"']([A-Za-z]+\d+)[\"']")
_CONTEXT_BYTES = 4096  # kept from the previous chunk, to name the cell a formula starts in


def _attrs(raw: bytes) -> dict[str, str]:
    """A start tag's attributes by local name (``r:id`` -> ``id``)."""
    out: dict[str, str] = {}
    for m in _ATTR.finditer(raw):
        name = m.group(1).decode("ascii", "replace").rsplit(":", 1)[-1]
        value = m.group(2) if m.group(2) is not None else m.group(3)
        out[name] = value.decode("utf-8", "replace")
    return out


def _stream_sheet(
    zf: zipfile.ZipFile, sh: _Sheet, sheet_rels: dict, rel: str, out: list[Finding]
) -> None:
    """Formulas (in sheetData), hidden or zero-size rows and columns, and external hyperlinks
    of one worksheet, read chunk by chunk. A DTD is refused, as defusedxml did (no entity can
    be defined, so none expands); XML too broken to read is calamine's to refuse (unreadable)."""
    from defusedxml.common import DTDForbidden

    carry = context = b""
    in_data = False
    tags: re.Pattern[bytes] | None = None
    with zf.open(sh.part) as fh:  # type: ignore[arg-type]
        while chunk := fh.read(SHEET_CHUNK_BYTES):
            data = carry + chunk
            cut = data.rfind(b">") + 1  # a tag split across chunks waits for the next one
            data, carry = data[:cut], data[cut:]
            if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
                raise DTDForbidden(None, None, None)
            if tags is None:
                root = _ROOT.search(data)
                if root is None:
                    if len(carry) + len(data) > 1 << 20:  # the root opens any real sheet
                        raise ValueError(f"{sh.part} has no worksheet element")
                    carry, data = data + carry, b""
                    continue
                prefix = re.escape(root.group(1) or b"")
                tags = re.compile(rb"<(/?)" + prefix + _TAGS)
            for m in tags.finditer(data):
                closing, tag, raw = m.group(1), m.group(2), m.group(3)
                if tag == b"sheetData":
                    in_data = not closing and not raw.endswith(b"/")
                elif closing:
                    continue
                elif tag == b"f":
                    if not in_data:
                        continue  # x14 data validations and the like hold xm:f too
                    sh.formula_count += 1
                    if len(sh.formulas) < MAX_LISTED_CELLS:
                        before = (context + data[: m.start()])[-_CONTEXT_BYTES:]
                        refs = _CELL_START.findall(before)
                        sh.formulas.append(refs[-1].decode() if refs else "?")
                elif tag == b"row":
                    if b"hidden" not in raw and b"customHeight" not in raw:
                        continue  # most rows: nothing to parse
                    el = _attrs(raw)
                    hidden = el.get("hidden") in ("1", "true")
                    zero = el.get("customHeight") in ("1", "true") and _is_zero(el.get("ht"))
                    if (hidden or zero) and el.get("r"):
                        with contextlib.suppress(ValueError):
                            sh.hidden_rows.append(int(el.get("r") or 0))
                elif tag == b"col":
                    el = _attrs(raw)
                    hidden = el.get("hidden") in ("1", "true")
                    zero = el.get("width") is not None and _is_zero(el.get("width"))
                    if hidden or zero:
                        try:
                            lo, hi = int(el.get("min") or 0), int(el.get("max") or 0)
                        except ValueError:
                            lo = hi = 0
                        # A "hidden" style run to the sheet's last column (XFD) is common in
                        # real files for empty columns; list at most a few hundred.
                        for c in range(max(lo, 1), min(hi, lo + 300) + 1):
                            sh.hidden_cols.append(col_letter(c))
                elif tag == b"hyperlink":
                    el = _attrs(raw)
                    rid = el.get("id")
                    typ, target, mode = sheet_rels.get(rid or "", ("", "", ""))
                    if rid and mode == "External" and is_external_target(target):
                        out.append(
                            Finding(
                                "external_link",
                                Severity.BLOCK,
                                f"Cell {el.get('ref') or '?'} on sheet {sh.name!r} links to "
                                f"{target!r} (a file or server). Remove the hyperlink.",
                                Location(file=rel, sheet=sh.name, cell=el.get("ref")),
                                kind="hyperlink",
                            )
                        )
            context = data[-_CONTEXT_BYTES:]


def _is_zero(value: str | None) -> bool:
    try:
        return float(value or "1") == 0.0
    except ValueError:
        return False


def _comments(
    zf: zipfile.ZipFile, part: str, sheet: str, rel: str, policy: CheckPolicy, scan
) -> list[Finding]:
    out: list[Finding] = []
    refs: list[str] = []
    texts: list[tuple[str, str]] = []
    root = DET.fromstring(ft.read_member(zf, part, 32 * 1024 * 1024))
    for el in root.iter():
        if local(el.tag) in ("comment", "threadedComment"):
            ref = el.get("ref") or "?"
            refs.append(ref)
            text = "".join(
                t.text or "" for t in el.iter() if local(t.tag) in ("t", "text") and t.text
            )
            texts.append((ref, text))
    if refs:
        listed = ", ".join(refs[:MAX_LISTED_CELLS])
        more = f" and {len(refs) - MAX_LISTED_CELLS} more" if len(refs) > MAX_LISTED_CELLS else ""
        out.append(
            Finding(
                "hidden_content",
                Severity.BLOCK,
                f"Sheet {sheet!r} has {len(refs)} cell comment(s)/note(s), hidden until hovered: "
                f"{listed}{more}. Delete them (their text is checked for identifiers too).",
                Location(file=rel, sheet=sheet, cell=refs[0]),
                kind="comment",
            )
        )
    for ref, text in texts:
        if text.strip():
            out.extend(scan(text, policy, Location(file=rel, sheet=sheet, cell=ref)))
    return out


# -- delimited text ---------------------------------------------------------------------------


def utf8_problem(path: Path, chunk: int = 1024 * 1024) -> tuple[int, int] | None:
    """(byte offset, line) of the first invalid UTF-8 sequence, or None if the file is UTF-8."""
    dec = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    line = 1
    with open(path, "rb") as fh:
        while True:
            data = fh.read(chunk)
            final = not data
            buffered = len(dec.getstate()[0])
            try:
                dec.decode(data, final)
            except UnicodeDecodeError as exc:
                pos = offset - buffered + exc.start
                fh.seek(0)
                before = fh.read(pos) if pos < 64 * 1024 * 1024 else b""
                line = before.count(b"\n") + 1 if before or pos == 0 else 0
                return pos, line
            if final:
                return None
            offset += len(data)


def check_delimited(path: Path, rel: str, table_format: str, policy: CheckPolicy) -> list[Finding]:
    bad = utf8_problem(path)
    if bad is not None:
        pos, line = bad
        where = f" (line {line})" if line else ""
        return [
            Finding(
                "unreadable",
                Severity.BLOCK,
                f"The file is not valid UTF-8: the byte at offset {pos:,}{where} cannot be decoded. "
                "Save it as 'CSV UTF-8' so it can be checked.",
                Location(file=rel, line=line or None),
                kind="encoding",
            )
        ]
    return list(tabular_checker()(path, rel, table_format, policy))
