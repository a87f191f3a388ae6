"""File-level rules: what a file is by name and by content, before anyone reads its contents.

`classify` decides a file's reported `type`, the file-level findings (banned_file_type,
file_type_mismatch, unchecked_file_type, ml_model, hidden_file, empty_file, too_large,
unreadable) and the `route`: which content checker, if any, may read it next.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from include.checks import filetypes as ft
from include.checks.findings import Finding, Location, Severity
from include.checks.policy import CheckPolicy

# Routes: the content checker that reads a file after classification.
ROUTE_SPREADSHEET = "spreadsheet"
ROUTE_TABLE = "table"
ROUTE_DOCUMENT = "document"
ROUTE_TEXT = "text"
ROUTE_CODE = "code"
ROUTE_NOTEBOOK = "notebook"

_OOXML_FOR_EXT = {
    **ft.SPREADSHEET_EXTENSIONS,
    **{k: v for k, v in ft.DOCUMENT_EXTENSIONS.items() if v != "pdf"},
}


def csv_formula_findings(
    path: str | os.PathLike[str], rel: str, table_format: str
) -> list[Finding]:
    """File-level `formula` rule over a CSV/TSV's raw text (csv_formulas.py): run beside the
    table rules, since a formula cell is a problem however the table reads."""
    from include.checks.csv_formulas import check_formulas

    return check_formulas(Path(path), rel, table_format)


@dataclass
class FileClass:
    type: str
    findings: list[Finding] = field(default_factory=list)
    route: str | None = None
    table_format: str | None = None  # "csv" | "tsv" | "xlsx" for tables
    language: str | None = None  # for code
    ooxml: str | None = None  # xlsx, xlsm, docx, docm, pptx, pptm


def finding(
    rule: str, severity: Severity, message: str, rel: str, kind: str | None = None, **where: object
) -> Finding:
    return Finding(
        rule=rule,
        severity=severity,
        message=message,
        kind=kind,
        location=Location(file=rel, **where),
    )  # type: ignore[arg-type]


def _mismatch(rel: str, ext: str, what: str, fix: str) -> Finding:
    return finding(
        "file_type_mismatch",
        Severity.BLOCK,
        f"The file is named {ext or '(no extension)'} but its content is {what}; {fix}.",
        rel,
    )


def _unchecked(
    rel: str,
    what: str,
    kind: str | None = None,
    severity: Severity = Severity.BLOCK,
    extra: str = "",
) -> Finding:
    return finding(
        "unchecked_file_type",
        severity,
        f"{what} cannot be fully checked here, so it cannot be released{extra}. "
        "Submit the results in a checkable format (CSV, XLSX, DOCX, PDF or plain text).",
        rel,
        kind=kind,
    )


def classify(
    path: str | os.PathLike[str],
    rel: str,
    size: int,
    policy: CheckPolicy,
    st: os.stat_result | None = None,
) -> FileClass:
    ext = ft.extension(rel)
    out: list[Finding] = []

    hidden = ft.hidden_reason(rel, st)
    if hidden:
        out.append(
            finding(
                "hidden_file",
                Severity.BLOCK,
                f"Hidden or system file: {hidden}. Remove it from the request folder.",
                rel,
            )
        )
        return FileClass("hidden", out)

    banned = ft.banned_family(rel)
    if banned:
        bext, family = banned
        out.append(
            finding(
                "banned_file_type",
                Severity.BLOCK,
                f"{bext} files ({family.replace('_', ' ')}) cannot be requested: the SRS cannot fully "
                "check them. Export the content to a permitted format (e.g. CSV, XLSX, PDF, TXT).",
                rel,
                kind=family,
            )
        )
        return FileClass(family, out)

    mlext = ft.ml_extension(rel)
    if mlext:
        out.append(
            finding(
                "ml_model",
                Severity.BLOCK,
                f"{mlext} files are AI/ML models or model outputs (or serialised data), which cannot "
                "leave or enter the SRS.",
                rel,
                kind=mlext.lstrip("."),
            )
        )
        return FileClass("ml_model", out)

    if size > policy.max_file_bytes:
        out.append(
            finding(
                "too_large",
                Severity.BLOCK,
                f"The file is {size:,} bytes, over the limit of {policy.max_file_bytes:,} bytes; "
                "it was not read. Split it or reduce it to what the output needs.",
                rel,
                kind="file",
            )
        )
        return FileClass(_type_from_extension(ext), out)

    if size == 0:
        out.append(finding("empty_file", Severity.INFO, "The file is empty (0 bytes).", rel))
        return FileClass("empty", out)

    head = ft.read_prefix(path)
    content = ft.detect_content(path, size, head)
    routed = _route(rel, ext, content, out)
    if content.kind == "image" and content.detail != "image/svg+xml":
        # GPS and authorship hide in metadata an officer viewing the picture never sees.
        from include.checks.image_metadata import image_metadata_findings

        routed.findings.extend(image_metadata_findings(Path(path), rel, policy))
    return routed


def _type_from_extension(ext: str) -> str:
    if ext in ft.TABLE_EXTENSIONS:
        return ft.TABLE_EXTENSIONS[ext]
    if ext in _OOXML_FOR_EXT:
        return _OOXML_FOR_EXT[ext]
    if ext == ".pdf":
        return "pdf"
    if ext in ft.CODE_EXTENSIONS:
        return "code"
    if ext in ft.NOTEBOOK_EXTENSIONS:
        return "notebook"
    if ext in ft.TEXT_EXTENSIONS:
        return "text"
    if ext in ft.IMAGE_EXTENSIONS:
        return "image"
    return "unknown"


def _route(rel: str, ext: str, c: ft.Content, out: list[Finding]) -> FileClass:  # noqa: C901
    # Machine-learning content whatever the name.
    if c.kind in ("pickle", "safetensors", "torch"):
        out.append(
            finding(
                "ml_model",
                Severity.BLOCK,
                f"The content is {c.detail}: AI/ML models and serialised objects cannot "
                "leave or enter the SRS.",
                rel,
                kind=c.kind,
            )
        )
        return FileClass("ml_model", out)

    # Office Open XML containers.
    if c.kind == "ooxml":
        kind = c.ooxml or "zip"
        expected = _OOXML_FOR_EXT.get(ext)
        family = kind[:3] + "x"  # xlsm -> xlsx family, docm -> docx, pptm -> pptx
        if kind == "xlsb":
            out.append(_unchecked(rel, "A binary Excel workbook (.xlsb)", kind="xlsb"))
            return FileClass("xlsb", out)
        if expected is None or expected[:3] != kind[:3]:
            out.append(
                _mismatch(
                    rel,
                    ext,
                    f"an Office {family} file",
                    f"name it .{family} (or export it to the format the name claims)",
                )
            )
            return FileClass(kind, out)
        route = ROUTE_SPREADSHEET if kind.startswith("xls") else ROUTE_DOCUMENT
        return FileClass(
            kind,
            out,
            route=route,
            ooxml=kind,
            table_format="xlsx" if route == ROUTE_SPREADSHEET else None,
        )

    if c.kind == "ole":
        if ext in _OOXML_FOR_EXT:
            out.append(
                finding(
                    "unreadable",
                    Severity.BLOCK,
                    "The file is password-protected (encrypted): it is an OLE2 container, not an "
                    "Office Open XML file. Remove the password and save it again.",
                    rel,
                    kind="encrypted",
                )
            )
            return FileClass(_OOXML_FOR_EXT[ext], out)
        if ext in ft.LEGACY_OFFICE_EXTENSIONS:
            out.append(
                _unchecked(
                    rel,
                    f"A legacy binary Office file ({ext})",
                    kind="legacy_office",
                    extra="; save it as .xlsx or .docx",
                )
            )
            return FileClass("ole", out)
        out.append(
            _mismatch(rel, ext, c.detail, "save it in a checkable format")
            if ext
            else _unchecked(rel, "An OLE2 compound file", kind="ole")
        )
        return FileClass("ole", out)

    if c.kind == "pdf":
        if ext != ".pdf":
            out.append(_mismatch(rel, ext, "a PDF document", "name it .pdf"))
            return FileClass("pdf", out)
        return FileClass("pdf", out, route=ROUTE_DOCUMENT)

    if c.kind in ("zip", "archive"):
        if c.detail.startswith(("refused", "corrupt")) and ext in _OOXML_FOR_EXT:
            refused = c.detail.startswith("refused")
            out.append(
                finding(
                    "unreadable",
                    Severity.BLOCK,
                    f"The {ext} file cannot be opened safely: {c.detail}.",
                    rel,
                    kind="zip_bomb" if refused else "corrupt",
                )
            )
            return FileClass(_OOXML_FOR_EXT[ext], out)
        if ext in _OOXML_FOR_EXT:
            out.append(
                finding(
                    "unreadable",
                    Severity.BLOCK,
                    f"The file is named {ext} but is not a valid Office file (a zip without the Office "
                    "parts); it may be corrupt. Save it again from Office.",
                    rel,
                    kind="corrupt",
                )
            )
            return FileClass(_OOXML_FOR_EXT[ext], out)
        if ext in ft.ARCHIVE_EXTENSIONS or not ext:
            out.append(
                _unchecked(
                    rel,
                    f"An archive ({c.detail or 'compressed file'})",
                    kind="archive",
                    extra="; archives are never opened for release",
                )
            )
            return FileClass("archive", out)
        out.append(
            _mismatch(
                rel,
                ext,
                f"{c.detail or 'an archive'}",
                "archives are not accepted: submit the files themselves",
            )
        )
        return FileClass("archive", out)

    if c.kind == "hdf5":
        out.append(
            finding(
                "ml_model",
                Severity.BLOCK,
                "The content is an HDF5 file (a model or array store), which cannot "
                "leave or enter the SRS.",
                rel,
                kind="hdf5",
            )
        )
        return FileClass("ml_model", out)

    if c.kind == "image":
        if ext and ext not in ft.IMAGE_EXTENSIONS:
            out.append(
                _mismatch(rel, ext, f"an image ({c.detail})", "name it with its image extension")
            )
            return FileClass("image", out)
        # No rule in RULES.md covers images: officers can view them but nothing here can read
        # them, so the officer is told to look (review), rather than blocking.
        out.append(
            Finding(
                rule="unchecked_file_type",
                severity=Severity.REVIEW,
                kind="image",
                message=f"An image ({c.detail}) cannot be checked automatically: an officer must view "
                "it for disclosive content (small counts, labels, identifiers).",
                location=Location(file=rel),
            )
        )
        return FileClass("image", out)

    if c.kind == "executable":
        if ext and ext not in ft.EXECUTABLE_EXTENSIONS:
            out.append(_mismatch(rel, ext, f"an executable program ({c.detail})", "remove it"))
        else:
            out.append(_unchecked(rel, f"An executable program ({c.detail})", kind="executable"))
        return FileClass("executable", out)

    if c.kind == "utf16":
        if _text_expected(ext) or not ext:
            out.append(
                finding(
                    "unreadable",
                    Severity.BLOCK,
                    "The text is encoded as UTF-16; save it as UTF-8 so it can be checked.",
                    rel,
                    kind="encoding",
                )
            )
            return FileClass(_type_from_extension(ext) if ext else "text", out)
        out.append(_unchecked(rel, "A UTF-16 file of unknown type", kind="unknown"))
        return FileClass("unknown", out)

    if c.kind == "text":
        return _route_text(rel, ext, c, out)

    # Unrecognised binary.
    if _text_expected(ext) or ext in _OOXML_FOR_EXT or ext == ".pdf" or ext in ft.IMAGE_EXTENSIONS:
        what = "binary data, not text" if _text_expected(ext) else f"not a {ext} file ({c.detail})"
        out.append(_mismatch(rel, ext, what, "submit the file in the format its name claims"))
        return FileClass("binary", out)
    if ext in ft.ARCHIVE_EXTENSIONS:
        out.append(
            _unchecked(rel, "An archive", kind="archive", extra="; archives are never opened")
        )
        return FileClass("archive", out)
    if ext in ft.EXECUTABLE_EXTENSIONS:
        out.append(_unchecked(rel, "An executable or binary", kind="executable"))
        return FileClass("executable", out)
    out.append(_unchecked(rel, f"A binary file of unknown type ({c.detail})", kind="unknown"))
    return FileClass("binary", out)


def _text_expected(ext: str) -> bool:
    return (
        ext in ft.TABLE_EXTENSIONS
        or ext in ft.CODE_EXTENSIONS
        or ext in ft.TEXT_EXTENSIONS
        or ext in ft.NOTEBOOK_EXTENSIONS
    )


_STRUCTURED_NAME = {"json": "JSON", "html": "HTML", "xml": "XML", "yaml": "YAML"}


def _route_structured(rel: str, ext: str, kind: str, out: list[Finding]) -> FileClass | None:
    """JSON, HTML, XML and YAML by content, whatever the name: JSON and HTML are banned types
    (RULES.md), XML and YAML are text that no table reader may read as rows."""
    name = _STRUCTURED_NAME[kind]
    claims_other = _text_expected(ext) and ext not in (".txt", ".log")
    if kind in ("json", "html"):
        if ext in ft.NOTEBOOK_EXTENSIONS and kind == "json":
            return None  # a Jupyter notebook is JSON by definition
        family = "json" if kind == "json" else "markdown"
        if claims_other or ext in (".txt", ".log"):
            out.append(_mismatch(rel, ext, name, f"{name} files cannot be requested"))
        out.append(
            finding(
                "banned_file_type",
                Severity.BLOCK,
                f"The content is {name} ({'.json' if kind == 'json' else '.html'} files, banned "
                "whatever the name, cannot be requested: the SRS cannot fully check them). "
                "Export the content to a permitted format (e.g. CSV, XLSX, PDF, TXT).",
                rel,
                kind=family,
            )
        )
        return FileClass(kind, out)
    if kind == "xml" and ext == ".xml":
        return FileClass("xml", out, route=ROUTE_TEXT)
    if kind == "yaml" and ext not in ft.TABLE_EXTENSIONS:
        return None  # key: value notes are ordinary text unless a name claims a table
    if claims_other or ext in ft.NOTEBOOK_EXTENSIONS:
        fix = "name it .xml" if kind == "xml" else "name it .txt"
        out.append(_mismatch(rel, ext, name, fix))
        return FileClass(kind, out)
    return FileClass(kind, out, route=ROUTE_TEXT)


def _route_text(rel: str, ext: str, c: ft.Content, out: list[Finding]) -> FileClass:
    if c.structured is not None:
        routed = _route_structured(rel, ext, c.structured, out)
        if routed is not None:
            return routed
    if ext in ft.TABLE_EXTENSIONS:
        fmt = ft.TABLE_EXTENSIONS[ext]
        if c.delimiter == "\t":
            fmt = "tsv"
        elif c.delimiter == "," and fmt == "tsv":
            fmt = "csv"
        return FileClass(fmt, out, route=ROUTE_TABLE, table_format=fmt)
    if ext in ft.NOTEBOOK_EXTENSIONS:
        return FileClass("notebook", out, route=ROUTE_NOTEBOOK, language="python")
    if ext in ft.CODE_EXTENSIONS:
        return FileClass("code", out, route=ROUTE_CODE, language=ft.CODE_EXTENSIONS[ext])
    if ext in _OOXML_FOR_EXT or ext == ".pdf":
        out.append(
            _mismatch(rel, ext, "plain text", f"save it as a real {ext} file or name it .txt")
        )
        return FileClass("text", out)
    if (
        ext in ft.IMAGE_EXTENSIONS
        or ext in ft.ARCHIVE_EXTENSIONS
        or ext in ft.EXECUTABLE_EXTENSIONS
    ):
        out.append(_mismatch(rel, ext, "plain text", "name it .txt"))
        return FileClass("text", out)
    # .txt, .log and unknown extensions holding text. A consistent comma/tab table is checked as
    # a table (threshold, identifiers in values); other text is scanned for identifiers.
    if c.delimiter in (",", "\t") and ext in ("", ".txt"):
        fmt = "tsv" if c.delimiter == "\t" else "csv"
        return FileClass(fmt, out, route=ROUTE_TABLE, table_format=fmt)
    return FileClass("text", out, route=ROUTE_TEXT)
