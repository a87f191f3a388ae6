"""What a file is: detection by content (magic numbers, OOXML parts, text decoding) and by name.

Nothing here trusts an extension. The content is read through a bounded prefix (`PREFIX_BYTES`)
and, for zip containers, through the zip's central directory only, which is checked against
`ZipLimits` before any member is decompressed, so a zip bomb is refused before it is inflated.
"""

from __future__ import annotations

import csv
import os
import stat
import struct
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

import filetype as _filetype

from include.checks.structured_text import structured_kind

PREFIX_BYTES = 64 * 1024

# shared/RULES.md `banned_file_type`, exactly; families name the type shown in the report.
BANNED_EXTENSIONS: dict[str, str] = {
    **{
        e: "shapefile"
        for e in (
            ".shp",
            ".shx",
            ".dbf",
            ".prj",
            ".sbn",
            ".sbx",
            ".fbn",
            ".fbx",
            ".ain",
            ".aih",
            ".ixs",
            ".mxs",
            ".atx",
            ".shp.xml",
            ".cpg",
            ".qix",
        )
    },
    ".json": "json",
    **{e: "markdown" for e in (".html", ".markdown", ".md", ".markdn", ".mdown", ".rmd", ".rnw")},
    ".rproj": "r_project",
    ".rpres": "r_presentation",
    **{e: "r_data" for e in (".rdata", ".rda", ".rds")},
}

# shared/RULES.md `ml_model` ("etc." completed with the common model formats).
ML_EXTENSIONS = (
    ".pkl",
    ".pickle",
    ".joblib",
    ".onnx",
    ".h5",
    ".hdf5",
    ".pt",
    ".pth",
    ".ckpt",
    ".safetensors",
    ".sav",
    ".rds-model",
    ".keras",
    ".tflite",
    ".pb",
    ".mlmodel",
    ".gguf",
    ".ggml",
    ".npz",
    ".npy",
    ".model",
    ".mar",
    ".pmml",
    ".cbm",
    ".xgb",
    ".lgb",
)

# Language of a code file by extension (lower case); see code.py for comment markers.
CODE_EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyw": "python",
    ".r": "r",
    ".do": "stata",
    ".ado": "stata",
    ".sas": "sas",
    ".sps": "spss",
    ".sql": "sql",
    ".m": "matlab",
    ".jl": "julia",
    ".sh": "shell",
    ".bash": "shell",
    ".ps1": "powershell",
    ".bat": "batch",
    ".cmd": "batch",
    ".js": "c",
    ".java": "c",
    ".scala": "c",
    ".c": "c",
    ".cpp": "c",
    ".h": "c",
    ".cs": "c",
    ".go": "c",
    ".rs": "c",
    ".vb": "vb",
    ".bas": "vb",
    ".vbs": "vb",
    ".pl": "shell",
    ".rb": "shell",
    ".f90": "fortran",
    ".egp": "unknown",
}
NOTEBOOK_EXTENSIONS = (".ipynb",)
TABLE_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv"}
TEXT_EXTENSIONS = (".txt", ".log", ".lst", ".smcl", ".out", ".tex", ".bib", ".rtf", ".xml")
SPREADSHEET_EXTENSIONS = {".xlsx": "xlsx", ".xlsm": "xlsm", ".xltx": "xlsx", ".xltm": "xlsm"}
DOCUMENT_EXTENSIONS = {
    ".docx": "docx",
    ".docm": "docm",
    ".dotx": "docx",
    ".dotm": "docm",
    ".pptx": "pptx",
    ".pptm": "pptm",
    ".pdf": "pdf",
}
LEGACY_OFFICE_EXTENSIONS = (".xls", ".doc", ".ppt", ".xlsb", ".xlt", ".dot", ".pps")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".svg")
ARCHIVE_EXTENSIONS = (
    ".zip",
    ".7z",
    ".rar",
    ".gz",
    ".tgz",
    ".tar",
    ".bz2",
    ".xz",
    ".zst",
    ".lz",
    ".cab",
    ".iso",
    ".jar",
    ".whl",
    ".egg",
    ".ods",
    ".odt",
    ".odp",
)
EXECUTABLE_EXTENSIONS = (".exe", ".dll", ".so", ".dylib", ".msi", ".com", ".bin", ".app", ".class")

OS_METADATA_NAMES = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini", ".ds_store", "__macosx"})

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
PDF_MAGIC = b"%PDF-"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")

# Main-part content types of the OOXML formats we recognise.
OOXML_MAIN_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": "xlsx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml": "xlsx",
    "application/vnd.ms-excel.sheet.macroenabled.main+xml": "xlsm",
    "application/vnd.ms-excel.template.macroenabled.main+xml": "xlsm",
    "application/vnd.ms-excel.sheet.binary.macroenabled.main": "xlsb",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": "docx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml": "docx",
    "application/vnd.ms-word.document.macroenabled.main+xml": "docm",
    "application/vnd.ms-word.template.macroenabledtemplate.main+xml": "docm",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": "pptx",
    "application/vnd.ms-powerpoint.presentation.macroenabled.main+xml": "pptm",
}


@dataclass(frozen=True)
class ZipLimits:
    """Bounds checked in a zip's central directory before anything is decompressed."""

    max_members: int = 10_000
    max_total_uncompressed: int = 512 * 1024 * 1024
    max_member_uncompressed: int = 256 * 1024 * 1024
    max_ratio: float = 200.0  # for members larger than `ratio_floor` bytes once inflated
    ratio_floor: int = 4 * 1024 * 1024


ZIP_LIMITS = ZipLimits()


class ZipRefused(Exception):  # noqa: N818 - a refusal, not a programming error
    """The zip directory declares something we will not inflate (a bomb, or too big)."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


def open_zip_guarded(
    path: str | os.PathLike[str], limits: ZipLimits = ZIP_LIMITS
) -> zipfile.ZipFile:
    """Open a zip after checking its directory: member count, declared sizes and ratios.

    Python's zipfile never returns more than a member's declared size, so declared sizes that
    pass here bound what any later reader (openpyxl included) can inflate."""
    zf = zipfile.ZipFile(path)
    try:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise ZipRefused(
                f"the zip container has {len(infos):,} parts (limit {limits.max_members:,})"
            )
        total = 0
        for info in infos:
            total += info.file_size
            if info.file_size > limits.max_member_uncompressed:
                raise ZipRefused(
                    f"part {info.filename!r} would inflate to {info.file_size:,} bytes "
                    f"(limit {limits.max_member_uncompressed:,})",
                    too_large=True,
                )
            if info.file_size > limits.ratio_floor:
                ratio = info.file_size / max(info.compress_size, 1)
                if ratio > limits.max_ratio:
                    raise ZipRefused(
                        f"part {info.filename!r} is compressed {ratio:,.0f}:1 "
                        f"({info.compress_size:,} bytes inflating to {info.file_size:,}): "
                        "this looks like a zip bomb"
                    )
        if total > limits.max_total_uncompressed:
            raise ZipRefused(
                f"the container would inflate to {total:,} bytes "
                f"(limit {limits.max_total_uncompressed:,})",
                too_large=True,
            )
    except BaseException:
        zf.close()
        raise
    return zf


def read_member(
    zf: zipfile.ZipFile, name: str, limit: int = ZIP_LIMITS.max_member_uncompressed
) -> bytes:
    """One zip member, never more than `limit` bytes."""
    with zf.open(name) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ZipRefused(f"part {name!r} is larger than {limit:,} bytes", too_large=True)
    return data


def ooxml_kind(zf: zipfile.ZipFile) -> str | None:
    """'xlsx', 'xlsm', 'docx', 'docm', 'pptx', 'pptm', 'xlsb' or None, from [Content_Types].xml."""
    from defusedxml import ElementTree as DET

    names = set(zf.namelist())
    if "[Content_Types].xml" not in names:
        return None
    root = DET.fromstring(read_member(zf, "[Content_Types].xml", 4 * 1024 * 1024))
    kind = None
    for el in root:
        ctype = (el.get("ContentType") or "").lower()
        if ctype in OOXML_MAIN_TYPES:
            kind = OOXML_MAIN_TYPES[ctype]
            break
    if kind is None:  # fall back on the main part's location
        if "xl/workbook.xml" in names:
            kind = "xlsx"
        elif "word/document.xml" in names:
            kind = "docx"
        elif "ppt/presentation.xml" in names:
            kind = "pptx"
    if kind in ("xlsx", "docx", "pptx") and any(
        n.lower().endswith("vbaproject.bin") for n in names
    ):
        kind = {"xlsx": "xlsm", "docx": "docm", "pptx": "pptm"}[kind]
    return kind


# -- names ----------------------------------------------------------------------------------


def lower_name(name: str) -> str:
    return name.rsplit("/", 1)[-1].lower()


def extension(name: str) -> str:
    """The last suffix, lower case ('' if none); '.shp.xml' style compounds via `banned_family`."""
    suffix = PurePosixPath(lower_name(name)).suffix
    return suffix


def banned_family(name: str) -> tuple[str, str] | None:
    """(extension, family) if the name ends with a banned extension (case-insensitive)."""
    low = lower_name(name)
    for ext in sorted(BANNED_EXTENSIONS, key=len, reverse=True):
        if low.endswith(ext) and len(low) > len(ext) - 1:
            return ext, BANNED_EXTENSIONS[ext]
    return None


def ml_extension(name: str) -> str | None:
    low = lower_name(name)
    for ext in ML_EXTENSIONS:
        if low.endswith(ext):
            return ext
    return None


def hidden_reason(rel: str, st: os.stat_result | None = None) -> str | None:
    """Why a path counts as hidden (dot-file, OS metadata, Office lock file, hidden attribute)."""
    for part in rel.split("/"):
        low = part.lower()
        if low in OS_METADATA_NAMES:
            return f"{part!r} is operating-system metadata"
        if part.startswith("."):
            return f"{part!r} is a hidden (dot) name"
        if part.startswith("~$"):
            return f"{part!r} is an Office lock/temporary file"
    attrs = getattr(st, "st_file_attributes", 0) if st is not None else 0
    if attrs & getattr(stat, "FILE_ATTRIBUTE_HIDDEN", 2) and hasattr(st, "st_file_attributes"):
        return "the file has the hidden attribute"
    return None


# -- content --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Content:
    """What the bytes are. `kind` is one of: ooxml (with `ooxml` set), zip, ole, pdf, image,
    archive, executable, pickle, safetensors, hdf5, torch, text, utf16, binary."""

    kind: str
    detail: str = ""
    ooxml: str | None = None
    delimiter: str | None = None  # for text that sniffs as a delimited table
    structured: str | None = None  # json, xml, html or yaml, by content (structured_text.py)


def read_prefix(path: str | os.PathLike[str], n: int = PREFIX_BYTES) -> bytes:
    """First `n` bytes, opened without following a symlink."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as fh:
        return fh.read(n)


def _looks_like_pickle(head: bytes) -> bool:
    return len(head) > 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 10:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= size - 8 and head[8:9] == b"{" and b'"dtype"' in head[8 : 8 + min(n, 4096)]


def decode_text_prefix(head: bytes) -> str | None:
    """The prefix as text if it is UTF-8 text (a truncated final character is allowed)."""
    if b"\x00" in head:
        return None
    for cut in range(4):
        chunk = head[: len(head) - cut] if cut else head
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(chunk) - 4:
                break
            continue
        bad = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n\f\v\x1b")
        return text if bad <= max(2, len(text) // 1000) else None
    # Not UTF-8: still text if it is mostly printable single-byte text (cp1252 and similar).
    printable = sum(1 for b in head if b >= 32 or b in (9, 10, 13))
    if head and printable / len(head) > 0.97:
        return head.decode("cp1252", errors="replace")
    return None


def sniff_delimiter(text: str) -> str | None:
    """',' or '\\t' (or ';' / '|') when the first lines are a consistent delimited table."""
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line of a prefix may be cut short
    if len(lines) < 2:
        return None
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=",\t;|")
    except csv.Error:
        return None
    counts = [len(row) for row in csv.reader(lines[:20], delimiter=dialect.delimiter)]
    if counts and counts[0] >= 2 and all(c == counts[0] for c in counts):
        return dialect.delimiter
    return None


def detect_content(path: str | os.PathLike[str], size: int, head: bytes | None = None) -> Content:
    head = read_prefix(path) if head is None else head
    if head.startswith(ZIP_MAGICS):
        try:
            with open_zip_guarded(path) as zf:
                kind = ooxml_kind(zf)
                names = zf.namelist()
        except ZipRefused as exc:
            return Content("zip", detail=f"refused: {exc}")
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            return Content("zip", detail=f"corrupt: {exc}")
        except Exception as exc:  # malformed [Content_Types].xml and the like
            return Content("zip", detail=f"corrupt: {type(exc).__name__}: {exc}")
        if kind:
            return Content("ooxml", ooxml=kind)
        if any(n.endswith("data.pkl") for n in names):
            return Content("torch", detail="a PyTorch model archive (data.pkl)")
        if any(n.endswith((".pkl", ".joblib")) for n in names):
            return Content("torch", detail="an archive holding pickled objects")
        if "mimetype" in names:
            return Content("archive", detail="an OpenDocument file")
        return Content("zip", detail="a zip archive")
    if head.startswith(OLE_MAGIC):
        return Content(
            "ole", detail="an OLE2 compound file (legacy Office or an encrypted Office file)"
        )
    if head.startswith(PDF_MAGIC) or (PDF_MAGIC in head[:1024] and head[:1] != b"\x00"):
        return Content("pdf")
    if head.startswith(HDF5_MAGIC):
        return Content("hdf5", detail="an HDF5 file")
    if _looks_like_pickle(head):
        return Content("pickle", detail=f"a Python pickle (protocol {head[1]})")
    if _looks_like_safetensors(head, size):
        return Content("safetensors", detail="a safetensors model")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Content("utf16", detail="UTF-16 text")
    guess = _filetype.guess(head) if head else None
    if guess is not None:
        mime = guess.mime
        if mime.startswith("image/"):
            return Content("image", detail=mime)
        if guess.extension in ("exe", "elf", "dex", "wasm", "class", "dylib", "so") or mime in (
            "application/x-executable",
            "application/x-msdownload",
            "application/x-mach-binary",
        ):
            return Content("executable", detail=mime)
        if mime.startswith(("audio/", "video/")):
            return Content("binary", detail=mime)
        if guess.extension in ("pdf",):
            return Content("pdf")
        text = decode_text_prefix(head)
        if text is None:
            return (
                Content("archive", detail=mime)
                if _is_archive_mime(mime)
                else Content("binary", detail=mime)
            )
    if head.lstrip().startswith(b"<svg") or (
        b"<svg" in head[:512] and head.lstrip().startswith(b"<?xml")
    ):
        return Content("image", detail="image/svg+xml")
    text = decode_text_prefix(head)
    if text is None:
        return Content("binary", detail="unrecognised binary content")
    structured = structured_kind(text, complete=size <= len(head))
    if structured is not None:
        return Content("text", detail=structured, structured=structured)
    return Content("text", delimiter=sniff_delimiter(text))


def _is_archive_mime(mime: str) -> bool:
    return any(
        token in mime
        for token in (
            "zip",
            "tar",
            "rar",
            "7z",
            "gzip",
            "bzip2",
            "xz",
            "zstd",
            "compress",
            "lz",
            "cab",
            "iso",
        )
    )
