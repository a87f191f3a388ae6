"""The embedded default: project folders as a plain folder tree under ``storage_root``.

Researchers can create symbolic links in their folders, and a link can point anywhere on the
machine. So nothing here resolves a path string: every folder is opened one segment at a time
relative to its parent's file descriptor with ``O_NOFOLLOW``, and every file is opened the same
way and checked to be a regular file. A link anywhere on the way is refused with UnsafePath.
So is a file with more than one name (a hard link): it may be the very file of another folder
or project, and what is snapshot or released must belong to the request folder alone.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import socket
import stat
import uuid
from pathlib import Path
from typing import BinaryIO

from include.storage.base import (
    AREAS,
    CHUNK_BYTES,
    PROJECTS,
    Found,
    ManifestEntry,
    NotFound,
    Occupied,
    Place,
    SnapshotWriter,
    Storage,
    StorageError,
    UnsafePath,
    hash_stream,
)
from include.storage.paths import check_project, check_relpath, segment_problem, split

STAGING = ".srs-staging"  # beside projects/ and ingest/, never inside a place
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
_LINK = "is a symbolic link; links are never followed"


def _hard_link(count: int) -> str:
    return (
        f"is a hard link (the file has {count} names, so it may also be a file outside this "
        "folder); hard-linked files are never copied: put a plain copy of the file here instead"
    )


class LocalStorage(Storage):
    """A local folder tree: ``<root>/projects/<p>/<area>/...`` and ``<root>/ingest/<p>/...``."""

    def __init__(self, root: Path | str) -> None:
        if not {os.open, os.mkdir, os.rename, os.stat}.issubset(os.supports_dir_fd):
            raise StorageError("the local storage backend needs a POSIX system with *at() calls")
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    # -- descriptor-relative walking -----------------------------------------------------------

    def _open_root(self, create: bool) -> int | None:
        # The root itself is chosen by the operator and may legitimately sit behind a link.
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        try:
            return os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
        except FileNotFoundError:
            return None

    def _open_dir(self, parts: tuple[str, ...], *, create: bool = False) -> int | None:
        """A descriptor for ``root/parts``, never following a link; None if absent."""
        fd = self._open_root(create)
        if fd is None:
            return None
        for i, name in enumerate(parts):
            try:
                child = _open_child_dir(fd, name, create=create)
            except FileNotFoundError:
                os.close(fd)
                return None
            except OSError as exc:
                shown = "/".join(parts[: i + 1])
                refusal = _refusal(fd, name, shown, exc)
                os.close(fd)
                raise refusal from None
            os.close(fd)
            fd = child
        self._check_inside(fd, "/".join(parts))
        return fd

    def _check_inside(self, fd: int, shown: str) -> None:
        # Belt and braces: where the kernel can say, confirm the folder really lies under root.
        proc = f"/proc/self/fd/{fd}"
        if not os.path.exists(proc):
            return
        where = os.readlink(proc)
        root = os.path.realpath(self.root)
        if where != root and not where.startswith(root.rstrip(os.sep) + os.sep):
            os.close(fd)
            raise UnsafePath(shown, "resolves outside the storage root")

    def _parent_fd(self, place: Place, relpath: str, *, create: bool = False) -> tuple[int, str]:
        check_relpath(relpath, context=place.key, allow_empty=False)
        *dirs, name = (*place.parts, *split(relpath))
        fd = self._open_dir(tuple(dirs), create=create)
        if fd is None:
            raise NotFound(f"{place.key}/{relpath} does not exist")
        return fd, name

    # -- the interface -------------------------------------------------------------------------

    def ensure_project(self, project: str) -> None:
        check_project(project)
        for area in AREAS:
            fd = self._open_dir((PROJECTS, project, area), create=True)
            if fd is not None:
                os.close(fd)

    def list_folders(self, place: Place) -> list[str]:
        fd = self._open_dir(place.parts)
        if fd is None:
            return []
        try:
            with os.scandir(fd) as entries:
                return sorted(
                    e.name for e in entries if e.is_symlink() or e.is_dir(follow_symlinks=False)
                )
        finally:
            os.close(fd)

    def exists(self, place: Place, relpath: str = "") -> bool:
        check_relpath(relpath, context=place.key)
        if not relpath:
            fd = self._open_dir(place.parts)
            if fd is None:
                return False
            os.close(fd)
            return True
        try:
            fd, name = self._parent_fd(place, relpath)
        except NotFound:
            return False
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        finally:
            os.close(fd)
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePath(f"{place.key}/{relpath}", _LINK)
        return True

    def open_read(self, place: Place, relpath: str) -> BinaryIO:
        fd, name = self._parent_fd(place, relpath)
        try:
            return _open_regular(fd, name, f"{place.key}/{relpath}")
        finally:
            os.close(fd)

    def write_bytes(self, place: Place, relpath: str, data: bytes) -> None:
        dfd, name = self._parent_fd(place, relpath, create=True)
        sfd = self._open_dir((STAGING,), create=True)
        assert sfd is not None
        tmp = uuid.uuid4().hex
        try:
            _refuse_existing_non_file(dfd, name, f"{place.key}/{relpath}")
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666, dir_fd=sfd
            )
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.rename(tmp, name, src_dir_fd=sfd, dst_dir_fd=dfd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=sfd)
            raise
        finally:
            os.close(sfd)
            os.close(dfd)

    def delete_folder(self, place: Place) -> None:
        if not place.folder:
            raise StorageError(f"refusing to delete the whole area {place.key!r}")
        *dirs, name = place.parts
        fd = self._open_dir(tuple(dirs))
        if fd is None:
            return
        try:
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePath(place.key, _LINK)
            if not stat.S_ISDIR(st.st_mode):
                raise StorageError(f"{place.key!r} is not a folder")
            # rmtree with dir_fd works through descriptors and never follows links inside.
            shutil.rmtree(name, dir_fd=fd)
        finally:
            os.close(fd)

    def _scan(self, place: Place) -> list[Found] | None:
        fd = self._open_dir(place.parts)
        if fd is None:
            return None
        found: list[Found] = []
        try:
            _walk(fd, "", found)
        finally:
            os.close(fd)
        return sorted(found, key=lambda f: f.path)

    def _snapshot_writer(self, dst: Place, *, fresh: bool) -> SnapshotWriter:
        return _LocalSnapshot(self, dst, fresh=fresh)


class _LocalSnapshot(SnapshotWriter):
    """Builds the snapshot in a private staging folder, then renames it into place.

    A fresh snapshot appears in one rename, so a crash leaves nothing at the destination.
    Completing an interrupted one hard-links each file in, which never replaces a file.
    """

    def __init__(self, storage: LocalStorage, dst: Place, *, fresh: bool) -> None:
        self.storage = storage
        self.dst = dst
        self.fresh = fresh
        # <destination>-<host>-<pid>-<random>: a writer that died (SIGKILL) is recognisable by
        # the next writer for the same destination on this host, which removes its leftovers.
        mine = hashlib.sha256(dst.key.encode()).hexdigest()[:16]
        host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
        self.token = f"{mine}-{host}-{os.getpid()}-{uuid.uuid4().hex}"
        self.paths: list[str] = []
        sfd = storage._open_dir((STAGING,), create=True)
        assert sfd is not None
        self.sfd = sfd
        _remove_dead_writers(sfd, f"{mine}-{host}-")
        os.mkdir(self.token, 0o777, dir_fd=sfd)
        self.tfd = os.open(self.token, _DIR_FLAGS, dir_fd=sfd)
        self.closed = False

    def write(self, relpath: str, stream: BinaryIO) -> ManifestEntry:
        *dirs, name = split(relpath)
        dfd = _makedirs(self.tfd, dirs)
        try:
            fd = os.open(
                name,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC,
                0o666,
                dir_fd=dfd,
            )
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK_BYTES):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            with _open_regular(dfd, name, relpath) as written:
                again, again_size = hash_stream(written)
        finally:
            os.close(dfd)
        sha = digest.hexdigest()
        if (again, again_size) != (sha, size):
            raise StorageError(f"copy of {relpath!r} did not verify: wrote {again}, read {sha}")
        self.paths.append(relpath)
        return ManifestEntry(relpath, sha, size)

    def commit(self) -> None:
        *dirs, name = self.dst.parts
        parent = self.storage._open_dir(tuple(dirs), create=True)
        assert parent is not None
        try:
            if self.fresh:
                try:
                    # Replaces at most an empty folder; a non-empty one makes rename fail.
                    os.rename(self.token, name, src_dir_fd=self.sfd, dst_dir_fd=parent)
                except OSError as exc:
                    if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                        raise Occupied() from None
                    if exc.errno == errno.ENOTDIR:
                        raise _refusal(parent, name, self.dst.key, exc) from None
                    raise
                self.closed = True
                os.fsync(parent)
            else:
                self._link_into_place()
        finally:
            os.close(parent)
        self.abort()

    def _link_into_place(self) -> None:
        # Hard links never replace an existing name, so a concurrent writer cannot be clobbered.
        dfd = self.storage._open_dir(self.dst.parts)
        if dfd is None:
            raise Occupied()
        try:
            for relpath in self.paths:
                *sub, leaf = split(relpath)
                src_dir = _makedirs(self.tfd, sub)
                try:
                    dst_dir = _makedirs(dfd, sub)
                except BaseException:
                    os.close(src_dir)
                    raise
                try:
                    os.link(
                        leaf, leaf, src_dir_fd=src_dir, dst_dir_fd=dst_dir, follow_symlinks=False
                    )
                except FileExistsError:
                    raise Occupied() from None
                except OSError as exc:
                    if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
                        raise
                    # No hard links here (some network filesystems): check, then rename.
                    try:
                        os.stat(leaf, dir_fd=dst_dir, follow_symlinks=False)
                    except FileNotFoundError:
                        os.rename(leaf, leaf, src_dir_fd=src_dir, dst_dir_fd=dst_dir)
                    else:
                        raise Occupied() from None
                else:
                    # At once back to one name: a reader seeing two would refuse it as a hard link.
                    os.unlink(leaf, dir_fd=src_dir)
                finally:
                    os.close(src_dir)
                    os.close(dst_dir)
        finally:
            os.close(dfd)

    def abort(self) -> None:
        if not self.closed:
            with contextlib.suppress(OSError):
                shutil.rmtree(self.token, dir_fd=self.sfd)
        for fd in (self.tfd, self.sfd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.closed = True


def _remove_dead_writers(sfd: int, prefix: str) -> None:
    """Remove staging folders under ``prefix`` whose writer process is no longer alive."""
    with os.scandir(sfd) as entries:
        names = [e.name for e in entries if e.name.startswith(prefix)]
    for name in names:
        try:
            pid = int(name[len(prefix) :].split("-", 1)[0])
        except ValueError:
            continue
        if _alive(pid):
            continue
        with contextlib.suppress(OSError):
            shutil.rmtree(name, dir_fd=sfd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _open_child_dir(fd: int, name: str, *, create: bool) -> int:
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o777, dir_fd=fd)
    return os.open(name, _DIR_FLAGS, dir_fd=fd)


def _makedirs(fd: int, parts: list[str] | tuple[str, ...]) -> int:
    """Descend (creating) below ``fd`` without following links; returns a new descriptor."""
    current = os.dup(fd)
    for name in parts:
        try:
            child = _open_child_dir(current, name, create=True)
        except OSError as exc:
            refusal = _refusal(current, name, name, exc)
            os.close(current)
            raise refusal from None
        os.close(current)
        current = child
    return current


def _refusal(fd: int, name: str, shown: str, exc: OSError) -> StorageError:
    """Turn a failed no-follow open into the error a caller should see."""
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError:
        return StorageError(f"cannot open {shown!r}: {exc.strerror}")
    if stat.S_ISLNK(st.st_mode):
        return UnsafePath(shown, _LINK)
    if not stat.S_ISDIR(st.st_mode):
        return StorageError(f"{shown!r} is not a folder")
    return StorageError(f"cannot open {shown!r}: {exc.strerror}")


def _open_regular(dir_fd: int, name: str, shown: str) -> BinaryIO:
    # O_NONBLOCK: opening a FIFO a researcher left behind must not hang the worker.
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        raise NotFound(f"{shown} does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(shown, _LINK) from None
        raise StorageError(f"cannot open {shown!r}: {exc.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        what = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise StorageError(f"{shown!r} is {what}")
    if st.st_nlink > 1:  # hard-linked since the folder was scanned
        os.close(fd)
        raise UnsafePath(shown, _hard_link(st.st_nlink))
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _refuse_existing_non_file(dir_fd: int, name: str, shown: str) -> None:
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath(shown, _LINK)
    if not stat.S_ISREG(st.st_mode):
        raise StorageError(f"{shown!r} exists and is not a regular file")


def _walk(fd: int, rel: str, found: list[Found]) -> None:
    """Record every entry below ``fd``; links and bad names are recorded, never entered."""
    with os.scandir(fd) as it:
        entries = list(it)
    for entry in entries:
        path = f"{rel}/{entry.name}" if rel else entry.name
        problem = segment_problem(entry.name)
        if problem:
            found.append(Found(path, 0, problem))
        elif entry.is_symlink():
            found.append(Found(path, 0, _LINK))
        elif entry.is_dir(follow_symlinks=False):
            try:
                child = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:  # swapped for a link since scandir saw it
                found.append(Found(path, 0, f"cannot be opened safely ({exc.strerror})"))
                continue
            try:
                _walk(child, path, found)
            finally:
                os.close(child)
        elif entry.is_file(follow_symlinks=False):
            st = entry.stat(follow_symlinks=False)
            if st.st_nlink > 1:
                found.append(Found(path, 0, _hard_link(st.st_nlink)))
            else:
                found.append(Found(path, st.st_size))
        else:
            found.append(Found(path, 0, "is not a regular file or folder"))
