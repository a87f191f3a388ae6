"""The storage interface every backend implements, and the SHA-256 manifest of a snapshot.

The pipeline never touches a project folder except through :class:`Storage`, so the local
folder tree and S3 behave the same and run the same tests (DESIGN.md, principle 4). The
logic that matters most — taking a snapshot without ever overwriting one, hashing what is
there, verifying it before release — lives here once; backends supply only the primitives.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from include.storage.paths import (
    StorageError,
    UnsafePath,
    check_project,
    check_relpath,
    join,
    split,
)

AREAS: tuple[str, ...] = ("Input", "Working", "Ready for Checking", "Output")
INGEST = "ingest"
# The SRS's permanent record of each ticket, outside every area a researcher can see.
ARCHIVE = "archive"
# Areas keyed ``<area>/<project>/...`` rather than ``projects/<project>/<area>/...``.
OUTSIDE_PROJECTS = (INGEST, ARCHIVE)
PROJECTS = "projects"

CHUNK_BYTES = 1024 * 1024  # streaming unit: no file is ever held whole in memory
_SHA256_RE = re.compile(r"[0-9a-f]{64}")

__all__ = [
    "AREAS",
    "ARCHIVE",
    "INGEST",
    "Manifest",
    "ManifestEntry",
    "Mismatch",
    "NotFound",
    "Place",
    "Storage",
    "StorageError",
    "StoredFile",
    "UnsafePath",
    "hash_stream",
]


class NotFound(StorageError):  # noqa: N818 - reads better at call sites than NotFoundError
    """The place or file asked for is not there."""


@dataclass(frozen=True)
class Place:
    """A folder inside one project's area, or in a project's ingest landing area or archive.

    Checked on construction, so holding a Place means its path cannot escape: the project is a
    plain number, the area is one of :data:`AREAS` or :data:`INGEST`, and ``folder`` is a safe
    relative posix path ("" is the area itself).
    """

    project: str
    area: str
    folder: str = ""

    def __post_init__(self) -> None:
        check_project(self.project)
        if self.area not in AREAS and self.area not in OUTSIDE_PROJECTS:
            raise UnsafePath(
                str(self.area),
                f"not a storage area (expected one of {(*AREAS, *OUTSIDE_PROJECTS)})",
            )
        check_relpath(self.folder, context=self._area_key)

    @property
    def _area_key(self) -> str:
        if self.area in OUTSIDE_PROJECTS:
            return f"{self.area}/{self.project}"
        return f"{PROJECTS}/{self.project}/{self.area}"

    @property
    def parts(self) -> tuple[str, ...]:
        """Segments from the storage root: ``projects/<p>/<area>/...`` or ``ingest/<p>/...``."""
        if self.area in OUTSIDE_PROJECTS:
            return (self.area, self.project, *split(self.folder))
        return (PROJECTS, self.project, self.area, *split(self.folder))

    @property
    def key(self) -> str:
        """The place as one posix path from the storage root (an S3 key prefix without '/')."""
        return "/".join(self.parts)

    @property
    def name(self) -> str:
        """The last segment of ``folder`` ("" for the area itself)."""
        return split(self.folder)[-1] if self.folder else ""

    def child(self, name: str) -> Place:
        """The place ``name`` (a safe relative path, not empty) inside this one."""
        check_relpath(name, context=self.key, allow_empty=False)
        return Place(self.project, self.area, join(self.folder, name))

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class StoredFile:
    """A regular file found in a place: its path relative to the place, and its size."""

    path: str
    size: int


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a snapshot: relative posix path, lowercase hex SHA-256 and size in bytes."""

    path: str
    sha256: str
    size: int

    def __post_init__(self) -> None:
        check_relpath(self.path, allow_empty=False)
        if not isinstance(self.sha256, str) or not _SHA256_RE.fullmatch(self.sha256):
            raise ValueError(f"manifest entry {self.path!r}: not a lowercase SHA-256 hex digest")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise ValueError(f"manifest entry {self.path!r}: size must be a whole number >= 0")


class Manifest:
    """What a snapshot holds: every file with its SHA-256, sorted by path.

    Officers check the snapshot taken at intake; only files whose hashes still match this
    record are ever released. It is stored as JSON with the ticket, so it round-trips exactly.
    """

    VERSION = 1

    def __init__(self, entries: Iterable[ManifestEntry] = ()) -> None:
        ordered = tuple(sorted(entries, key=lambda e: e.path))
        for before, after in zip(ordered, ordered[1:], strict=False):
            if before.path == after.path:
                raise ValueError(f"manifest lists {before.path!r} twice")
        self._entries = ordered
        self._by_path = {e.path: e for e in ordered}

    @property
    def entries(self) -> tuple[ManifestEntry, ...]:
        return self._entries

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(e.path for e in self._entries)

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self._entries)

    def get(self, path: str) -> ManifestEntry | None:
        return self._by_path.get(path)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[ManifestEntry]:
        return iter(self._entries)

    def __contains__(self, path: object) -> bool:
        return path in self._by_path

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Manifest):
            return NotImplemented
        return self._entries == other._entries

    def __hash__(self) -> int:
        return hash(self._entries)

    def __repr__(self) -> str:
        return f"Manifest({len(self)} files, {self.total_bytes} bytes)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.VERSION,
            "algorithm": "sha256",
            "total_bytes": self.total_bytes,
            "files": [{"path": e.path, "sha256": e.sha256, "size": e.size} for e in self],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        if data.get("version") != cls.VERSION or data.get("algorithm", "sha256") != "sha256":
            raise ValueError("not a version-1 SHA-256 manifest")
        return cls(ManifestEntry(f["path"], f["sha256"], f["size"]) for f in data["files"])

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class Mismatch:
    """One way a place differs from its manifest. ``problem`` is a stable word for machines."""

    path: str
    problem: Literal["missing", "changed", "unexpected", "unsafe"]
    detail: str = ""


@dataclass(frozen=True)
class Found:
    """A backend's raw view of one entry under a place; ``problem`` set means it is refused."""

    path: str
    size: int
    problem: str | None = None


class Occupied(Exception):  # noqa: N818 - internal signal, never escapes copy_folder
    """Raised by a snapshot writer whose destination filled up while it was copying."""


class SnapshotWriter(ABC):
    """Writes one snapshot so that a failure leaves nothing that looks like a valid copy."""

    @abstractmethod
    def write(self, relpath: str, stream: BinaryIO) -> ManifestEntry:
        """Stream one file in, hashing as it goes, and verify what was written."""

    @abstractmethod
    def commit(self) -> None:
        """Make the written files appear at the destination (raise Occupied on a clash)."""

    @abstractmethod
    def abort(self) -> None:
        """Remove everything this writer wrote. Must not raise."""


def hash_stream(stream: BinaryIO) -> tuple[str, int]:
    """SHA-256 hex digest and byte count of a stream, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK_BYTES):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def raise_unsafe(place: Place, found: Iterable[Found]) -> None:
    """Refuse a folder holding anything unsafe, naming the first offender."""
    for f in found:
        if f.problem:
            raise UnsafePath(f"{place.key}/{f.path}", f.problem)


class Storage(ABC):
    """Project folders and the ingest landing area, whatever holds them.

    Every method takes a :class:`Place` (already checked) plus, where a file is meant, a
    relative path that is checked again here; links are never followed.
    """

    # -- primitives each backend supplies ------------------------------------------------------

    @abstractmethod
    def ensure_project(self, project: str) -> None:
        """Create the four areas of a project, so researchers and listings find them."""

    @abstractmethod
    def list_folders(self, place: Place) -> list[str]:
        """Immediate sub-folder names, sorted; [] when the place does not exist.

        Names are returned as stored, even ones the path rules refuse, so a caller such as the
        intake sweep sees every submission and gets UnsafePath (with the reason) when it uses a
        bad one via ``place.child(name)``. On the local backend a symbolic link standing in
        the place is listed too (never followed); using it raises UnsafePath.
        """

    @abstractmethod
    def exists(self, place: Place, relpath: str = "") -> bool:
        """Whether the place (or a file or folder inside it) is there."""

    @abstractmethod
    def open_read(self, place: Place, relpath: str) -> BinaryIO:
        """A binary stream of one file; close it (use ``with``). NotFound if absent."""

    @abstractmethod
    def write_bytes(self, place: Place, relpath: str, data: bytes) -> None:
        """Write (or atomically replace) one small file, creating folders on the way."""

    @abstractmethod
    def delete_folder(self, place: Place) -> None:
        """Remove a folder and everything in it; nothing there is fine (idempotent).

        An area itself (``folder == ""``) is never deleted: that is a StorageError.
        """

    @abstractmethod
    def _scan(self, place: Place) -> list[Found] | None:
        """Every entry under the place, recursively, sorted; None when the place is absent."""

    @abstractmethod
    def _snapshot_writer(self, dst: Place, *, fresh: bool) -> SnapshotWriter:
        """A writer for a snapshot at ``dst`` (``fresh``: dst holds no files yet)."""

    # -- behaviour shared by every backend -----------------------------------------------------

    def list_files(self, place: Place) -> list[StoredFile]:
        """Every regular file under the place, recursively, sorted by path; [] if absent.

        Raises UnsafePath if anything there is a link or has an unsafe name: a folder whose
        contents cannot all be accounted for is not listed partially.
        """
        found = self._scan(place) or []
        raise_unsafe(place, found)
        return [StoredFile(f.path, f.size) for f in found]

    def read_bytes(self, place: Place, relpath: str) -> bytes:
        """The whole content of one (small) file."""
        with self.open_read(place, relpath) as stream:
            return stream.read()

    def manifest(self, place: Place) -> Manifest:
        """Hash what is in the place now (empty manifest if the place is absent)."""
        found = self._scan(place) or []
        raise_unsafe(place, found)
        entries = []
        for f in found:
            with self.open_read(place, f.path) as stream:
                sha, size = hash_stream(stream)
            entries.append(ManifestEntry(f.path, sha, size))
        return Manifest(entries)

    def verify(self, place: Place, manifest: Manifest) -> list[Mismatch]:
        """Every difference between the place and its manifest, sorted by path; [] = intact."""
        problems: list[Mismatch] = []
        current: dict[str, Found] = {}
        for f in self._scan(place) or []:
            if f.problem:
                problems.append(Mismatch(f.path, "unsafe", f.problem))
            else:
                current[f.path] = f
        unsafe = {m.path for m in problems}
        for entry in manifest:
            f = current.pop(entry.path, None)
            if f is None:
                if entry.path not in unsafe:
                    problems.append(Mismatch(entry.path, "missing", "in the manifest, not found"))
                continue
            if f.size != entry.size:
                problems.append(
                    Mismatch(entry.path, "changed", f"size {f.size} bytes, expected {entry.size}")
                )
                continue
            try:
                with self.open_read(place, entry.path) as stream:
                    sha, _ = hash_stream(stream)
            except UnsafePath as exc:  # replaced by a link since the scan
                problems.append(Mismatch(entry.path, "unsafe", exc.reason))
                continue
            except NotFound:
                problems.append(Mismatch(entry.path, "missing", "disappeared while verifying"))
                continue
            if sha != entry.sha256:
                problems.append(
                    Mismatch(entry.path, "changed", f"sha256 {sha}, expected {entry.sha256}")
                )
        for path in current:
            problems.append(Mismatch(path, "unexpected", "not in the manifest"))
        return sorted(problems, key=lambda m: (m.path, m.problem))

    def copy_folder(self, src: Place, dst: Place) -> Manifest:
        """Snapshot ``src`` into ``dst`` and return the verified manifest of ``dst``.

        Every file is streamed, hashed on the way and re-read at the destination to verify it.
        Idempotent for retries: if ``dst`` already holds exactly these files the manifest is
        returned; if it holds a consistent subset (an interrupted earlier copy) the rest is
        copied; if it holds anything different a StorageError is raised — a snapshot is never
        silently overwritten. A source holding a link or an unsafe name raises UnsafePath
        naming it, before anything is written; on any failure what this call wrote is removed.
        """
        if src.parts[: len(dst.parts)] == dst.parts or dst.parts[: len(src.parts)] == src.parts:
            raise StorageError(f"cannot copy {src.key!r} into {dst.key!r}: one contains the other")
        found = self._scan(src)
        if found is None:
            raise NotFound(f"nothing to copy: {src.key!r} does not exist")
        raise_unsafe(src, found)

        existing = self._scan(dst)
        have = Manifest()
        todo = [f.path for f in found]
        if existing:
            raise_unsafe(dst, existing)
            have = self.manifest(dst)
            want = self.manifest(src)
            if have == want:
                return have
            _refuse_conflicts(src, dst, have, want)
            todo = [p for p in want.paths if p not in have]

        writer = self._snapshot_writer(dst, fresh=not existing)
        written: list[ManifestEntry] = []
        try:
            for path in todo:
                with self.open_read(src, path) as stream:
                    written.append(writer.write(path, stream))
            writer.commit()
        except Occupied:
            # Another run finished the same snapshot first: fine if it is the same one.
            writer.abort()
            result = Manifest([*have, *written])
            now = self.manifest(dst)
            if now != result:
                raise StorageError(
                    f"{dst.key!r} was filled by someone else while copying, with different files"
                ) from None
            return now
        except BaseException:
            writer.abort()
            raise
        return Manifest([*have, *written])

    def download_folder(self, place: Place, dest: Path) -> Path:
        """Materialise a place as a local folder (for the checks engine); returns ``dest``.

        ``dest`` must be absent or empty, so stale files never mix into a check. Only safe
        names are written, with O_EXCL|O_NOFOLLOW, so nothing outside ``dest`` is touched.
        """
        found = self._scan(place)
        if found is None:
            raise NotFound(f"nothing to download: {place.key!r} does not exist")
        raise_unsafe(place, found)
        dest = Path(dest)
        if dest.is_symlink():
            raise UnsafePath(str(dest), "the download destination is a symbolic link")
        if dest.exists() and any(dest.iterdir()):
            raise StorageError(f"download destination {str(dest)!r} is not empty")
        dest.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        for f in found:
            target = dest.joinpath(*split(f.path))
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, flags, 0o666)
            with os.fdopen(fd, "wb") as out, self.open_read(place, f.path) as stream:
                shutil.copyfileobj(stream, out, CHUNK_BYTES)
        return dest


def _refuse_conflicts(src: Place, dst: Place, have: Manifest, want: Manifest) -> None:
    extra = [p for p in have.paths if p not in want]
    differ = [e.path for e in have if (w := want.get(e.path)) is not None and w != e]
    if extra or differ:
        detail = "; ".join(
            part
            for part in (
                f"not in the source: {', '.join(map(repr, extra[:5]))}" if extra else "",
                f"different content: {', '.join(map(repr, differ[:5]))}" if differ else "",
            )
            if part
        )
        raise StorageError(
            f"{dst.key!r} already holds a different snapshot than {src.key!r} "
            f"and is never overwritten ({detail})"
        )
