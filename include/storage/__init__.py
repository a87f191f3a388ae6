"""Project storage: one interface (:class:`Storage`), a local folder tree or an S3 bucket behind it.

Everything the pipeline does with researchers' files goes through here, so path safety, snapshot
manifests and never-overwrite rules are enforced in one place (DESIGN.md, principle 4)::

    storage = get_storage()
    src = Place("P123", "Ready for Checking", "results_v1")
    manifest = storage.copy_folder(src, Place("P123", "Output", "STATS-0001"))
    assert not storage.verify(Place("P123", "Output", "STATS-0001"), manifest)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.storage.base import (
    ARCHIVE,
    AREAS,
    INGEST,
    Manifest,
    ManifestEntry,
    Mismatch,
    NotFound,
    Place,
    Storage,
    StorageError,
    StoredFile,
    UnsafePath,
    hash_stream,
)
from include.storage.local import LocalStorage

if TYPE_CHECKING:
    from include.settings import Settings

__all__ = [
    "ARCHIVE",
    "AREAS",
    "INGEST",
    "LocalStorage",
    "Manifest",
    "ManifestEntry",
    "Mismatch",
    "NotFound",
    "Place",
    "Storage",
    "StorageError",
    "StoredFile",
    "UnsafePath",
    "get_storage",
    "hash_stream",
]


def get_storage(settings: Settings | None = None) -> Storage:
    """The backend the settings name (``SRS_STORAGE_BACKEND``): ``local`` or ``s3``.

    boto3 is imported only for ``s3``, so DAG files that import this module parse fast.
    """
    if settings is None:
        from include.settings import get_settings

        settings = get_settings()
    if settings.storage_backend == "s3":
        from include.storage.s3 import S3Storage

        return S3Storage.from_settings(settings)
    if settings.storage_backend == "local":
        return LocalStorage(settings.storage_root)
    raise StorageError(f"unknown storage backend {settings.storage_backend!r}")
