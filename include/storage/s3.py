"""Project folders in an S3 bucket (MinIO in compose, any S3 server via the endpoint setting).

Keys mirror the local tree: ``projects/<p>/<area>/<relpath>`` and ``ingest/<p>/<relpath>``.
S3 has no links, but keys are arbitrary strings, so every key read back from a listing is
checked with the same path rules as the local backend and refused if it could escape.
Objects are written whole or not at all (S3 semantics); a snapshot is staged outside every
place and published by server-side copy, so a failed copy leaves nothing at its destination. boto3 is imported only when this backend is used.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from include.storage.base import (
    AREAS,
    PROJECTS,
    Found,
    ManifestEntry,
    NotFound,
    Place,
    SnapshotWriter,
    Storage,
    StorageError,
    hash_stream,
)
from include.storage.paths import check_project, check_relpath, relpath_problem

if TYPE_CHECKING:
    from include.settings import Settings

_DELETE_BATCH = 1000  # the most keys one DeleteObjects call takes
_COPY_OBJECT_MAX = 5 * 1024**3  # the largest object one CopyObject call copies


class S3Storage(Storage):
    """Storage in one bucket. Folder markers (keys ending in '/') make empty folders visible."""

    page_size: int | None = None  # keys per listing page; None = the server's maximum (1000)

    def __init__(self, bucket: str, client: Any = None, **client_kwargs: Any) -> None:
        if not bucket:
            raise StorageError("no S3 bucket configured (SRS_S3_BUCKET)")
        self.bucket = bucket
        self.client = client if client is not None else make_client(**client_kwargs)

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        """The backend the settings describe (endpoint, region and credentials)."""
        return cls(settings.s3_bucket, **settings.s3_client_kwargs())

    def __repr__(self) -> str:
        return f"S3Storage({self.bucket!r})"

    # -- helpers -------------------------------------------------------------------------------

    def _objects(self, prefix: str, delimiter: str | None = None) -> Iterator[dict[str, Any]]:
        """Every page of a listing (S3 returns at most 1000 keys a page)."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        if self.page_size:
            kwargs["PaginationConfig"] = {"PageSize": self.page_size}
        try:
            yield from self.client.get_paginator("list_objects_v2").paginate(**kwargs)
        except self.client.exceptions.NoSuchBucket:
            raise StorageError(f"S3 bucket {self.bucket!r} does not exist") from None

    def _keys(self, prefix: str) -> Iterator[dict[str, Any]]:
        for page in self._objects(prefix):
            yield from page.get("Contents", [])

    def _any_key(self, prefix: str) -> bool:
        try:
            reply = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)
        except self.client.exceptions.NoSuchBucket:
            raise StorageError(f"S3 bucket {self.bucket!r} does not exist") from None
        return bool(reply.get("KeyCount") or reply.get("Contents"))

    def _key(self, place: Place, relpath: str) -> str:
        check_relpath(relpath, context=place.key, allow_empty=False)
        return f"{place.key}/{relpath}"

    def _delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            reply = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
            )
            if reply.get("Errors"):
                first = reply["Errors"][0]
                raise StorageError(f"could not delete {first.get('Key')!r}: {first.get('Message')}")

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (the compose stack and tests use this)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except self.client.exceptions.ClientError:
            pass
        region = self.client.meta.region_name
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        with contextlib.suppress(self.client.exceptions.BucketAlreadyOwnedByYou):
            self.client.create_bucket(**kwargs)

    # -- the interface -------------------------------------------------------------------------

    def ensure_project(self, project: str) -> None:
        check_project(project)
        for area in AREAS:
            self.client.put_object(
                Bucket=self.bucket, Key=f"{PROJECTS}/{project}/{area}/", Body=b""
            )

    def list_folders(self, place: Place) -> list[str]:
        prefix = place.key + "/"
        names = set()
        for page in self._objects(prefix, delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                name = common["Prefix"][len(prefix) : -1]
                if name:
                    names.add(name)
        return sorted(names)

    def exists(self, place: Place, relpath: str = "") -> bool:
        check_relpath(relpath, context=place.key)
        if not relpath:
            return self._any_key(place.key + "/")
        key = f"{place.key}/{relpath}"
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
        return self._any_key(key + "/")

    def open_read(self, place: Place, relpath: str) -> BinaryIO:
        key = self._key(place, relpath)
        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey:
            raise NotFound(f"{key} does not exist") from None
        return reply["Body"]

    def write_bytes(self, place: Place, relpath: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(place, relpath), Body=data)

    def delete_folder(self, place: Place) -> None:
        if not place.folder:
            raise StorageError(f"refusing to delete the whole area {place.key!r}")
        keys = [obj["Key"] for obj in self._keys(place.key + "/")]
        self._delete_keys(keys)

    def _scan(self, place: Place) -> list[Found] | None:
        prefix = place.key + "/"
        seen_any = False
        files: list[tuple[str, int]] = []
        for obj in self._keys(prefix):
            seen_any = True
            rel = obj["Key"][len(prefix) :]
            if rel == "" or rel.endswith("/"):
                continue  # a folder marker: holds no data
            files.append((rel, int(obj["Size"])))
        if not seen_any:
            return None
        # A key can be both a file and a folder in S3 ("a" and "a/b"); no filesystem allows it.
        folders = {rel.rsplit("/", i)[0] for rel, _ in files for i in range(1, rel.count("/") + 1)}
        found = []
        for rel, size in files:
            problem = relpath_problem(rel)
            if problem is None and rel in folders:
                problem = "is both a file and a folder"
            found.append(Found(rel, size, problem))
        return sorted(found, key=lambda f: f.path)

    def _snapshot_writer(self, dst: Place, *, fresh: bool) -> SnapshotWriter:
        return _S3Snapshot(self, dst, fresh=fresh)


STAGING = ".srs-staging"  # as on the local backend: beside projects/ and ingest/, in no place


class _S3Snapshot(SnapshotWriter):
    """Uploads into a staging prefix outside every place, then publishes by server-side copy.

    S3 has no atomic rename, and writing straight to the destination left every file copied
    before a failure visible there (in ``Input/``, a partial placement a researcher could
    take for the whole). Here each file is uploaded to ``.srs-staging/<dst key>/<path>`` and
    verified by reading it back; only when every file is staged are they copied into the
    destination (``CopyObject``, server-side, conditional on the staged object's ETag so a
    concurrent writer's object is never published under this writer's hashes). A failure
    before publishing leaves nothing at the destination; a failure while publishing removes
    what was published (abort). Staging leftovers of a writer that died (SIGKILL) — objects and
    incomplete multipart uploads — are removed by the next writer for the same destination,
    and by commit and abort.
    """

    def __init__(self, storage: S3Storage, dst: Place, *, fresh: bool) -> None:
        self.storage = storage
        self.dst = dst
        self.fresh = fresh
        self.staging = f"{STAGING}/{dst.key}/"
        self.staged: list[tuple[str, str, str, int]] = []  # (relpath, staged key, ETag, size)
        self.published: list[str] = []
        self._clear_staging()  # what a writer that died left behind

    def write(self, relpath: str, stream: BinaryIO) -> ManifestEntry:
        from boto3.s3.transfer import TransferConfig

        s3 = self.storage
        s3._key(self.dst, relpath)  # the path rules, before anything is written
        staged = self.staging + relpath
        reader = _HashingReader(stream)
        # Sequential parts, so the hash sees the bytes in order; at most one part in memory.
        s3.client.upload_fileobj(
            reader, s3.bucket, staged, Config=TransferConfig(use_threads=False)
        )
        sha, size = reader.digest.hexdigest(), reader.size
        reply = s3.client.get_object(Bucket=s3.bucket, Key=staged)
        with reply["Body"] as written:
            again, again_size = hash_stream(written)
        if (again, again_size) != (sha, size):
            raise StorageError(f"copy of {relpath!r} did not verify: stored {again}, read {sha}")
        self.staged.append((relpath, staged, reply["ETag"], size))
        return ManifestEntry(relpath, sha, size)

    def commit(self) -> None:
        s3 = self.storage
        for relpath, staged, etag, size in self.staged:
            key = s3._key(self.dst, relpath)
            self.published.append(key)
            source = {"Bucket": s3.bucket, "Key": staged}
            if size <= _COPY_OBJECT_MAX:
                s3.client.copy_object(
                    Bucket=s3.bucket, Key=key, CopySource=source, CopySourceIfMatch=etag
                )
            else:  # one CopyObject takes at most 5 GiB: a multipart copy, same condition
                from boto3.s3.transfer import TransferConfig

                s3.client.copy(
                    source,
                    s3.bucket,
                    key,
                    ExtraArgs={"CopySourceIfMatch": etag},
                    Config=TransferConfig(use_threads=False),
                )
        if self.fresh and not self.staged:
            # An empty snapshot still exists, as it does on the local backend.
            s3.client.put_object(Bucket=s3.bucket, Key=self.dst.key + "/", Body=b"")
        with contextlib.suppress(Exception):
            self._clear_staging()  # a leftover is removed by the next writer

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.storage._delete_keys(self.published)
        with contextlib.suppress(Exception):
            self._clear_staging()
        self.published = []
        self.staged = []

    def _clear_staging(self) -> None:
        s3 = self.storage
        s3._delete_keys([obj["Key"] for obj in s3._keys(self.staging)])
        pages = s3.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=s3.bucket, Prefix=self.staging
        )
        for page in pages:
            for upload in page.get("Uploads", []):
                s3.client.abort_multipart_upload(
                    Bucket=s3.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )


class _HashingReader:
    """A non-seekable reader that hashes what passes through it (so boto3 reads it in order)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.digest.update(chunk)
        self.size += len(chunk)
        return chunk

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


def make_client(**client_kwargs: Any) -> Any:
    """A boto3 S3 client; path-style addressing for a custom endpoint (MinIO, loopback)."""
    import boto3
    from botocore.config import Config

    config = Config(
        s3={"addressing_style": "path"} if client_kwargs.get("endpoint_url") else {},
        retries={"max_attempts": 5, "mode": "standard"},
    )
    return boto3.client("s3", config=config, **client_kwargs)
