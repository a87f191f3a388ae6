"""Documents: docx/pptx (zip + defusedxml), pdf (pypdf) and plain text, scanned for identifiers.

Everything read is bounded: at most `MAX_TEXT_CHARS` characters of text per file are scanned,
in chunks of `CHUNK_CHARS` (a file of one enormous line is cut into overlapping windows), and at
most `MAX_PDF_PAGES` pages. What could not be scanned is reported (`too_large`), never ignored.

Choices: comments, tracked deletions and hidden (vanished) text in Word files are
`hidden_content` (kinds `comment`, `tracked_change`, `hidden_text`); hidden slides are
`hidden_content` kind `hidden_slide`. Web hyperlinks are allowed; links to files, drives and
servers, linked templates, linked OLE objects and INCLUDE/LINK fields are `external_link`.
Embedded objects (a workbook inside a document) are `unchecked_file_type` kind `embedded_object`.
PDF JavaScript is `macro` kind `javascript`.
"""

from __future__ import annotations

import logging
import posixpath
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from defusedxml import ElementTree as DET

from include.checks import filetypes as ft
from include.checks.findings import Finding, Location, Severity
from include.checks.policy import CheckPolicy
from include.checks.spreadsheets import (
    is_external_target,
    local,
    ooxml_problem,
    scan_text_fn,
)

MAX_TEXT_CHARS = 8 * 1024 * 1024
CHUNK_CHARS = 1024 * 1024
OVERLAP_CHARS = 256
MAX_PDF_PAGES = 500
_FIELD_LINK = re.compile(r"^\s*(INCLUDETEXT|INCLUDEPICTURE|LINK|DDE|DDEAUTO|IMPORT)\b", re.I)


# -- bounded scanning -------------------------------------------------------------------------


def _windows(text: str) -> Iterator[tuple[str, int]]:
    """(chunk, lines before it): chunks end on a newline when there is one; a single enormous
    line is cut with a small overlap so an identifier across a cut is still seen."""
    pos = 0
    lines_before = 0
    n = len(text)
    while pos < n:
        end = min(pos + CHUNK_CHARS, n)
        if end < n:
            nl = text.rfind("\n", pos, end)
            if nl > pos:
                end = nl + 1
                yield text[pos:end], lines_before
                lines_before += text.count("\n", pos, end)
                pos = end
                continue
            chunk = text[pos:end]
            yield chunk, lines_before
            pos = end - OVERLAP_CHARS
            continue
        yield text[pos:end], lines_before
        break


def scan_bounded(text: str, policy: CheckPolicy, location: Location, scan=None) -> list[Finding]:
    """scan_text over `text` in bounded windows, line numbers kept, duplicates dropped."""
    scan = scan or scan_text_fn()
    seen: set[tuple] = set()
    out: list[Finding] = []
    base = location.line or 0
    loc = replace(location, line=None)
    for chunk, lines_before in _windows(text):
        offset = base + lines_before
        for f in scan(chunk, policy, loc):
            # scan_text numbers lines within the chunk; make them lines of the whole text.
            if offset and f.location.line is not None:
                f = replace(f, location=replace(f.location, line=f.location.line + offset))
            key = (f.rule, f.kind, f.message, f.location)
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out


def _truncated(rel: str, what: str) -> Finding:
    return Finding(
        "too_large",
        Severity.BLOCK,
        f"Only the first {MAX_TEXT_CHARS:,} characters of {what} could be checked; the rest was "
        "not. Split the file into smaller parts.",
        Location(file=rel),
        kind="text",
    )


def read_text_bounded(path: Path, limit: int = MAX_TEXT_CHARS) -> tuple[str, bool]:
    """Up to `limit` characters of a text file (UTF-8, else cp1252), and whether it was cut."""
    with open(path, "rb") as fh:
        data = fh.read(limit * 1 + 1)
    cut = len(data) > limit
    data = data[:limit]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if cut and exc.start >= len(data) - 4:
            text = data[: exc.start].decode("utf-8-sig")
        else:
            text = data.decode("cp1252", errors="replace")
    return text, cut


def check_text(path: Path, rel: str, policy: CheckPolicy) -> list[Finding]:
    text, cut = read_text_bounded(path)
    out = scan_bounded(text, policy, Location(file=rel))
    if cut:
        out.append(_truncated(rel, "the text"))
    return out


# -- Office Open XML documents ----------------------------------------------------------------


def _paragraphs(zf: zipfile.ZipFile, part: str, stats: dict[str, int]) -> Iterator[str]:
    """Paragraph texts of a WordprocessingML/DrawingML part, streamed; counts hidden things."""
    buf: list[str] = []
    with zf.open(part) as fh:
        for event, el in DET.iterparse(fh, events=("start", "end")):
            tag = local(el.tag)
            if event == "start":
                continue
            if tag == "t" and el.text:
                buf.append(el.text)
            elif tag == "delText" and el.text:
                stats["tracked_change"] = stats.get("tracked_change", 0) + 1
                buf.append(el.text)
            elif tag == "vanish" and el.get(
                "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}val", "1"
            ) not in ("0", "false"):
                stats["hidden_text"] = stats.get("hidden_text", 0) + 1
            elif tag == "instrText" and el.text:
                if _FIELD_LINK.match(el.text):
                    stats.setdefault("fields", 0)
                    stats["fields"] += 1
                    stats.setdefault("field_text", el.text.strip())  # type: ignore[arg-type]
            elif tag == "fldSimple":
                instr = (
                    el.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}instr")
                    or ""
                )
                if _FIELD_LINK.match(instr):
                    stats["fields"] = stats.get("fields", 0) + 1
            elif tag == "tab":
                buf.append("\t")
            elif tag in ("br", "cr"):
                buf.append("\n")
            elif tag == "p":
                yield "".join(buf)
                buf = []
                el.clear()
            elif tag in ("tc",):
                buf.append(" | ")
    if buf:
        yield "".join(buf)


def _part_sort_key(name: str) -> tuple[str, int]:
    m = re.search(r"(\d+)\.xml$", name)
    return (re.sub(r"\d+\.xml$", "", name), int(m.group(1)) if m else 0)


def check_ooxml_document(
    path: Path, rel: str, policy: CheckPolicy, ooxml: str = "docx"
) -> list[Finding]:
    try:
        return _check_ooxml_document(path, rel, policy, ooxml)
    except Exception as exc:  # corrupt zip, malformed or hostile XML
        if isinstance(exc, ImportError):
            raise
        return [ooxml_problem(exc, rel)]


def _check_ooxml_document(path: Path, rel: str, policy: CheckPolicy, ooxml: str) -> list[Finding]:  # noqa: C901
    out: list[Finding] = []
    scan = scan_text_fn()
    word = ooxml.startswith("doc")
    with ft.open_zip_guarded(path) as zf:
        names = zf.namelist()
        vba = [n for n in names if n.lower().endswith("vbaproject.bin")]
        if vba or ooxml in ("docm", "pptm"):
            out.append(
                Finding(
                    "macro",
                    Severity.BLOCK,
                    "The document is macro-enabled. Save it as a plain "
                    f"{'.docx' if word else '.pptx'} without macros.",
                    Location(file=rel),
                    kind="vba",
                )
            )
        for n in names:
            nl = n.lower()
            if "/embeddings/" in nl:
                out.append(
                    Finding(
                        "unchecked_file_type",
                        Severity.BLOCK,
                        f"The document embeds another file ({posixpath.basename(n)!r}), which cannot be "
                        "checked. Remove the embedded object (paste a picture or the values instead).",
                        Location(file=rel),
                        kind="embedded_object",
                    )
                )
            if nl.endswith(".rels"):
                root = DET.fromstring(ft.read_member(zf, n, 8 * 1024 * 1024))
                for el in root:
                    typ = (el.get("Type") or "").rsplit("/", 1)[-1]
                    target = el.get("Target") or ""
                    if el.get("TargetMode") == "External" and is_external_target(target):
                        out.append(
                            Finding(
                                "external_link",
                                Severity.BLOCK,
                                f"The document links to {target!r} ({typ or 'link'}), another file or "
                                "server. Remove the link or embed the content as text.",
                                Location(file=rel),
                                kind=typ or "external",
                            )
                        )

        if word:
            groups = [
                ("body", ["word/document.xml"]),
                (
                    "header/footer",
                    sorted(
                        (n for n in names if re.match(r"word/(header|footer)\d*\.xml$", n)),
                        key=_part_sort_key,
                    ),
                ),
                (
                    "footnotes",
                    [n for n in ("word/footnotes.xml", "word/endnotes.xml") if n in names],
                ),
            ]
            comment_parts = [n for n in names if re.match(r"word/comments\w*\.xml$", n)]
        else:
            slides = sorted(
                (n for n in names if re.match(r"ppt/slides/slide\d+\.xml$", n)), key=_part_sort_key
            )
            notes = sorted(
                (n for n in names if re.match(r"ppt/notesSlides/notesSlide\d+\.xml$", n)),
                key=_part_sort_key,
            )
            groups = [(f"slide {i}", [s]) for i, s in enumerate(slides, 1)] + [("notes", notes)]
            comment_parts = [
                n for n in names if re.match(r"ppt/(comments|comments/.*)\.xml$|ppt/comments/", n)
            ]
            for i, s in enumerate(slides, 1):
                head = zf.open(s).read(4096)
                if re.search(rb"<p:sld\b[^>]*\bshow=\"(0|false)\"", head):
                    out.append(
                        Finding(
                            "hidden_content",
                            Severity.BLOCK,
                            f"Slide {i} is hidden. Delete it or unhide it.",
                            Location(file=rel, page=i),
                            kind="hidden_slide",
                        )
                    )

        stats: dict[str, int] = {}
        budget = MAX_TEXT_CHARS
        cut = False
        for label, parts in groups:
            paras: list[str] = []
            for part in parts:
                if part not in names:
                    continue
                for p in _paragraphs(zf, part, stats):
                    budget -= len(p) + 1
                    if budget < 0:
                        cut = True
                        break
                    paras.append(p)
            if paras:
                page = int(label.split()[1]) if label.startswith("slide ") else None
                out.extend(
                    scan_bounded("\n".join(paras), policy, Location(file=rel, page=page), scan)
                )
            if cut:
                break
        if cut:
            out.append(_truncated(rel, "the document's text"))

        comment_texts: list[str] = []
        for part in comment_parts:
            if part in names:
                comment_texts.extend(p for p in _paragraphs(zf, part, {}) if p.strip())
        if comment_texts:
            out.append(
                Finding(
                    "hidden_content",
                    Severity.BLOCK,
                    f"The document has {len(comment_texts)} comment paragraph(s). Delete the comments "
                    "(their text is checked for identifiers too).",
                    Location(file=rel),
                    kind="comment",
                )
            )
            out.extend(
                scan_bounded(
                    "\n".join(comment_texts)[:MAX_TEXT_CHARS], policy, Location(file=rel), scan
                )
            )
        if stats.get("tracked_change"):
            out.append(
                Finding(
                    "hidden_content",
                    Severity.BLOCK,
                    f"The document keeps {stats['tracked_change']} tracked deletion(s): deleted text is "
                    "still in the file. Accept or reject all changes and save again.",
                    Location(file=rel),
                    kind="tracked_change",
                )
            )
        if stats.get("hidden_text"):
            out.append(
                Finding(
                    "hidden_content",
                    Severity.BLOCK,
                    "The document contains text formatted as hidden. Delete it or make it visible.",
                    Location(file=rel),
                    kind="hidden_text",
                )
            )
        if stats.get("fields"):
            out.append(
                Finding(
                    "external_link",
                    Severity.BLOCK,
                    "The document has field codes that pull content from other files "
                    "(INCLUDETEXT / INCLUDEPICTURE / LINK). Replace them with their content.",
                    Location(file=rel),
                    kind="field",
                )
            )
    return out


# -- PDF ---------------------------------------------------------------------------------------


def check_pdf(path: Path, rel: str, policy: CheckPolicy) -> list[Finding]:
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception:
                ok = 0
            if not ok:
                return [
                    Finding(
                        "unreadable",
                        Severity.BLOCK,
                        "The PDF is password-protected (encrypted). Remove the password.",
                        Location(file=rel),
                        kind="encrypted",
                    )
                ]
        n_pages = len(reader.pages)
    except Exception as exc:
        if isinstance(exc, ImportError):
            raise
        return [
            Finding(
                "unreadable",
                Severity.BLOCK,
                f"The PDF cannot be parsed ({type(exc).__name__}: {exc}); it may be corrupt.",
                Location(file=rel),
                kind="corrupt",
            )
        ]

    out: list[Finding] = []
    scan = scan_text_fn()
    out.extend(_pdf_structure(reader, rel))
    budget = MAX_TEXT_CHARS
    for i in range(min(n_pages, MAX_PDF_PAGES)):
        page = reader.pages[i]
        out.extend(_pdf_annotations(page, rel, i + 1))
        try:
            text = page.extract_text() or ""
        except Exception as exc:
            out.append(
                Finding(
                    "unreadable",
                    Severity.BLOCK,
                    f"Page {i + 1} cannot be read ({type(exc).__name__}).",
                    Location(file=rel, page=i + 1),
                    kind="corrupt",
                )
            )
            continue
        text = text[: max(budget, 0)]
        budget -= len(text)
        if text.strip():
            out.extend(scan_bounded(text, policy, Location(file=rel, page=i + 1), scan))
        if budget <= 0:
            out.append(_truncated(rel, "the PDF's text"))
            break
    if n_pages > MAX_PDF_PAGES:
        out.append(
            Finding(
                "too_large",
                Severity.BLOCK,
                f"The PDF has {n_pages:,} pages; only the first {MAX_PDF_PAGES} could be checked. "
                "Split it into smaller documents.",
                Location(file=rel),
                kind="pages",
            )
        )
    if n_pages and not any(f.location.page for f in out) and _no_text(reader, min(n_pages, 5)):
        out.append(
            Finding(
                "unchecked_file_type",
                Severity.REVIEW,
                "The PDF has no extractable text (scanned pages or images): an officer must read it.",
                Location(file=rel),
                kind="image_pdf",
            )
        )
    return out


def _no_text(reader, pages: int) -> bool:
    try:
        return all(not (reader.pages[i].extract_text() or "").strip() for i in range(pages))
    except Exception:
        return False


def _resolve(obj):
    try:
        return obj.get_object() if obj is not None else None
    except Exception:
        return None


def _pdf_structure(reader, rel: str) -> Iterable[Finding]:
    try:
        root = _resolve(reader.trailer.get("/Root")) or {}
        names = _resolve(root.get("/Names")) or {}
        if "/EmbeddedFiles" in names:
            yield Finding(
                "unchecked_file_type",
                Severity.BLOCK,
                "The PDF has embedded file attachments, which cannot be checked. Remove them.",
                Location(file=rel),
                kind="embedded_object",
            )
        open_action = _resolve(root.get("/OpenAction"))
        has_js = "/JavaScript" in names or (
            isinstance(open_action, dict) and open_action.get("/S") == "/JavaScript"
        )
        if has_js:
            yield Finding(
                "macro",
                Severity.BLOCK,
                "The PDF contains JavaScript. Print it to a plain PDF without scripts.",
                Location(file=rel),
                kind="javascript",
            )
    except Exception:  # a malformed catalogue is not worth failing the file for
        return


def _pdf_annotations(page, rel: str, number: int) -> Iterable[Finding]:
    try:
        annots = _resolve(page.get("/Annots")) or []
        for a in annots:
            annot = _resolve(a) or {}
            subtype = annot.get("/Subtype")
            if subtype == "/FileAttachment":
                yield Finding(
                    "unchecked_file_type",
                    Severity.BLOCK,
                    f"Page {number} has a file attachment, which cannot be checked.",
                    Location(file=rel, page=number),
                    kind="embedded_object",
                )
                continue
            action = _resolve(annot.get("/A")) or {}
            s = action.get("/S")
            if s in ("/Launch", "/GoToR", "/ImportData", "/GoToE"):
                yield Finding(
                    "external_link",
                    Severity.BLOCK,
                    f"Page {number} has a link that opens another file ({s[1:]}).",
                    Location(file=rel, page=number),
                    kind=s[1:].lower(),
                )
            elif s == "/URI":
                uri = str(action.get("/URI") or "")
                if is_external_target(uri):
                    yield Finding(
                        "external_link",
                        Severity.BLOCK,
                        f"Page {number} links to {uri!r}, a file or server.",
                        Location(file=rel, page=number),
                        kind="hyperlink",
                    )
            elif s == "/JavaScript":
                yield Finding(
                    "macro",
                    Severity.BLOCK,
                    f"Page {number} has a JavaScript action.",
                    Location(file=rel, page=number),
                    kind="javascript",
                )
    except Exception:
        return
