"""Path safety: every name the storage layer touches is checked here first.

Researchers choose the names of their folders and files, so a name is untrusted input. A name
that could climb out of its project, area or request folder (``..``, an absolute path, a
backslash that Windows tools treat as a separator), hide from a reader (control characters,
newlines that forge log lines, direction overrides that disguise an extension) or break on
another platform (``<>:"|?*``, overlong names) is refused with :class:`UnsafePath`, before any
backend sees it. Both backends apply the same rules, so a folder that is safe locally is safe
in S3 and the other way round.
"""

from __future__ import annotations

import re
import unicodedata

MAX_SEGMENT_BYTES = 255  # the common filesystem limit (ext4, APFS, NTFS) for one name

# Windows refuses these in names; a file that cannot be opened on an officer's desktop is no use.
_WINDOWS_RESERVED = frozenset('<>:"|?*')
# Invisible characters that reorder text: "report\u202etxt.exe" reads as "reportexe.txt".
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_PROJECT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", re.ASCII)


class StorageError(Exception):
    """Something in storage is not as the pipeline needs it (missing, conflicting, unreadable)."""


class UnsafePath(StorageError):  # noqa: N818 - the name is part of the agreed interface
    """A path that could escape its place, or a link, was refused. Names the path and why."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"unsafe path {path!r}: {reason}")


def segment_problem(name: str) -> str | None:
    """Why one path segment (a folder or file name) is unsafe, or None when it is fine."""
    if name == "":
        return "empty path segment (leading, trailing or doubled '/')"
    if name in (".", ".."):
        return f"'{name}' segments are not allowed"
    if "\\" in name:
        return "backslashes are not allowed (Windows treats them as separators)"
    if "/" in name:
        return "a name cannot contain '/'"
    for ch in name:
        if ch == "\x00":
            return "NUL characters are not allowed"
        if unicodedata.category(ch) == "Cc":
            return f"control characters are not allowed (found {ch!r})"
        if ch in _BIDI_CONTROLS:
            return f"text-direction control characters are not allowed (found U+{ord(ch):04X})"
        if ch in _WINDOWS_RESERVED:
            return f"the character {ch!r} is not allowed (reserved on Windows)"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "the name is not valid UTF-8"
    if size > MAX_SEGMENT_BYTES:
        return f"name is {size} bytes long; at most {MAX_SEGMENT_BYTES} are allowed"
    return None


def check_segment(name: str, *, context: str = "") -> str:
    """Return ``name`` if it is one safe path segment, else raise UnsafePath."""
    if not isinstance(name, str):
        raise UnsafePath(repr(name), "a name must be text")
    problem = segment_problem(name)
    if problem:
        raise UnsafePath(_join(context, name), problem)
    return name


def relpath_problem(relpath: str) -> str | None:
    """Why a relative posix path is unsafe, or None. The empty path (the place itself) is fine."""
    if relpath == "":
        return None
    if relpath.startswith("/"):
        return "absolute paths are not allowed"
    for part in relpath.split("/"):
        problem = segment_problem(part)
        if problem:
            return problem if part == relpath else f"{problem} (in segment {part!r})"
    return None


def check_relpath(relpath: str, *, context: str = "", allow_empty: bool = True) -> str:
    """Return ``relpath`` if it is a safe relative posix path, else raise UnsafePath.

    Paths are never normalised: ``a/./b`` or ``a//b`` is refused rather than quietly rewritten,
    so what the researcher named is exactly what is stored and hashed.
    """
    if not isinstance(relpath, str):
        raise UnsafePath(repr(relpath), "a path must be text")
    if relpath == "" and not allow_empty:
        raise UnsafePath(_join(context, relpath), "a file path is needed here, not ''")
    problem = relpath_problem(relpath)
    if problem:
        raise UnsafePath(_join(context, relpath), problem)
    return relpath


def split(relpath: str) -> tuple[str, ...]:
    """The segments of an already checked relative path (``""`` has none)."""
    return tuple(relpath.split("/")) if relpath else ()


def join(*parts: str) -> str:
    """Join relative posix paths, skipping empty ones (no checking: check the result)."""
    return "/".join(p for p in parts if p)


def check_project(project: str) -> str:
    """Return ``project`` if it is a plain project number (letters, digits, '-', '_')."""
    if not isinstance(project, str) or not _PROJECT_RE.fullmatch(project):
        raise UnsafePath(
            repr(project) if not isinstance(project, str) else project,
            "a project number may only hold letters, digits, '-' and '_' "
            "(starting with a letter or digit, at most 64 characters)",
        )
    return project


def _join(context: str, name: str) -> str:
    return f"{context}/{name}" if context else name
