"""The storage layer: one suite, run against the local folder tree and against S3 on loopback.

Both backends must behave the same (DESIGN.md principle 4), so every behavioural test takes the
parametrized ``storage`` fixture. Tests of symbolic links exist only for the local backend
(S3 has none); tests of raw keys that no filesystem allows exist only for S3.
"""

from __future__ import annotations

import hashlib
import json
import os
import tracemalloc
from pathlib import Path

import pytest

from include.settings import Settings
from include.storage import (
    AREAS,
    INGEST,
    LocalStorage,
    Manifest,
    ManifestEntry,
    Mismatch,
    NotFound,
    Place,
    Storage,
    StorageError,
    StoredFile,
    UnsafePath,
    get_storage,
)
from include.storage.local import STAGING
from include.storage.paths import MAX_SEGMENT_BYTES
from include.storage.s3 import S3Storage

P = "P123"
OTHER = "P-456_b"
RFC = "Ready for Checking"


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path) -> Storage:
    """A fresh, empty backend with project P set up."""
    if request.param == "local":
        env = {"AIRFLOW_HOME": str(tmp_path / "home"), "SRS_STORAGE_ROOT": str(tmp_path / "root")}
    else:
        env = request.getfixturevalue("s3_env")
    store = get_storage(Settings.from_env(env))
    store.ensure_project(P)
    return store


@pytest.fixture
def s3(s3_env) -> S3Storage:
    store = get_storage(Settings.from_env(s3_env))
    assert isinstance(store, S3Storage)
    store.ensure_project(P)
    return store


@pytest.fixture
def local(tmp_path) -> LocalStorage:
    store = get_storage(
        Settings.from_env({"AIRFLOW_HOME": str(tmp_path / "home"), "SRS_DATA_DIR": str(tmp_path)})
    )
    assert isinstance(store, LocalStorage)
    store.ensure_project(P)
    return store


def fill(storage: Storage, place: Place, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        storage.write_bytes(place, path, data)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def plant(storage: Storage, key: str, data: bytes = b"x") -> None:
    """Put a file straight into the backend, as a researcher's own tools could, bypassing rules."""
    if isinstance(storage, LocalStorage):
        path = storage.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    else:
        if "\n" in key:
            pytest.skip("moto's server cannot store a key holding a newline")
        storage.client.put_object(Bucket=storage.bucket, Key=key, Body=data)


def replace_raw(storage: Storage, key: str, data: bytes) -> None:
    plant(storage, key, data)


def remove_raw(storage: Storage, key: str) -> None:
    if isinstance(storage, LocalStorage):
        (storage.root / key).unlink()
    else:
        storage.client.delete_object(Bucket=storage.bucket, Key=key)


SUBMISSION = {
    "tables/table1.csv": b"a,b\n1,2\n",
    "tables/deep/table2.csv": b"x,y\n3,4\n",
    "readme.txt": b"hello",
    "r\u00e9sum\u00e9 \u6570\u636e.txt": b"non-ASCII names are allowed",
}


# -- settings and places -------------------------------------------------------------------------


def test_get_storage_picks_the_configured_backend(tmp_path, s3_env):
    local_store = get_storage(Settings.from_env({"AIRFLOW_HOME": str(tmp_path)}))
    assert isinstance(local_store, LocalStorage)
    assert local_store.root == tmp_path / "srs" / "storage"
    s3_store = get_storage(Settings.from_env(s3_env))
    assert isinstance(s3_store, S3Storage)
    assert s3_store.bucket == s3_env["SRS_S3_BUCKET"]


def test_place_keys_and_children():
    place = Place(P, RFC, "req_v1")
    assert place.key == f"projects/{P}/{RFC}/req_v1"
    assert place.child("sub/dir") == Place(P, RFC, "req_v1/sub/dir")
    assert place.child("x").name == "x"
    assert Place(P, INGEST, "drop").key == f"ingest/{P}/drop"
    assert Place(P, "Input").parts == ("projects", P, "Input")


@pytest.mark.parametrize("area", ["input", "Outputs", "../Output", "", "projects"])
def test_unknown_area_is_refused(area):
    with pytest.raises(UnsafePath):
        Place(P, area)


@pytest.mark.parametrize(
    "project", ["", "..", "P/1", "P 1", "P.1", "P\n", "-P", "P\u0661", "x" * 65, "P:1"]
)
def test_project_numbers_must_be_plain(project, storage):
    with pytest.raises(UnsafePath, match="project number"):
        Place(project, "Input")
    with pytest.raises(UnsafePath):
        storage.ensure_project(project)


# -- round trips and listing ---------------------------------------------------------------------


def test_ensure_project_creates_the_four_areas_idempotently(storage):
    storage.ensure_project(P)
    storage.ensure_project(OTHER)
    for project in (P, OTHER):
        for area in AREAS:
            assert storage.exists(Place(project, area))
            assert storage.list_files(Place(project, area)) == []
            assert storage.list_folders(Place(project, area)) == []


def test_write_read_round_trip(storage):
    place = Place(P, "Working", "analysis")
    fill(storage, place, SUBMISSION)
    for path, data in SUBMISSION.items():
        assert storage.read_bytes(place, path) == data
        with storage.open_read(place, path) as stream:
            assert stream.read() == data
        assert storage.exists(place, path)
    assert storage.exists(place, "tables")  # a folder inside
    assert storage.exists(place, "tables/deep")
    assert not storage.exists(place, "nope.txt")
    assert not storage.exists(Place(P, "Working", "elsewhere"))
    storage.write_bytes(place, "readme.txt", b"replaced")
    assert storage.read_bytes(place, "readme.txt") == b"replaced"


def test_reading_a_missing_file_is_not_found(storage):
    with pytest.raises(NotFound):
        storage.read_bytes(Place(P, "Input"), "missing.csv")
    with pytest.raises(NotFound):
        storage.read_bytes(Place(P, "Input", "no/such/folder"), "missing.csv")


def test_listing(storage):
    rfc = Place(P, RFC)
    fill(storage, rfc.child("req_b"), {"a.txt": b"1"})
    fill(storage, rfc.child("req_a"), {"x/y.txt": b"22", "b.txt": b"333"})
    fill(storage, rfc, {"loose.txt": b"4444"})
    assert storage.list_folders(rfc) == ["req_a", "req_b"]
    assert storage.list_folders(rfc.child("req_a")) == ["x"]
    assert storage.list_files(rfc.child("req_a")) == [
        StoredFile("b.txt", 3),
        StoredFile("x/y.txt", 2),
    ]
    assert [f.path for f in storage.list_files(rfc)] == [
        "loose.txt",
        "req_a/b.txt",
        "req_a/x/y.txt",
        "req_b/a.txt",
    ]
    assert storage.list_files(Place(P, RFC, "absent")) == []
    assert storage.list_folders(Place(P, RFC, "absent")) == []


def test_ingest_area_is_outside_every_project(storage):
    drop = Place(P, INGEST, "req_1")
    fill(storage, drop, {"data.csv": b"1,2"})
    assert storage.list_folders(Place(P, INGEST)) == ["req_1"]
    assert storage.list_files(Place(P, "Input")) == []
    assert storage.list_files(Place(OTHER, INGEST)) == []


def test_s3_listing_paginates(s3):
    storage = s3
    storage.page_size = 2
    pages = []
    storage.client.meta.events.register(
        "before-call.s3.ListObjectsV2", lambda **kw: pages.append(kw["params"])
    )
    place = Place(P, "Input", "many")
    names = {f"f{i:02d}.txt": b"x" for i in range(7)}
    fill(storage, place, names)
    fill(storage, Place(P, "Input"), {f"d{i}/x.txt": b"y" for i in range(5)})
    assert [f.path for f in storage.list_files(place)] == sorted(names)
    assert storage.list_folders(Place(P, "Input")) == [f"d{i}" for i in range(5)] + ["many"]
    assert len(pages) >= 4 + 3  # 7 files in pages of 2, then 6 folders in pages of 2


def test_five_megabyte_file_streams(storage):
    data = os.urandom(5 * 1024 * 1024 + 17)
    src = Place(P, RFC, "big")
    storage.write_bytes(src, "big.bin", data)
    with storage.open_read(src, "big.bin") as stream:
        first = stream.read(1024 * 1024)
        assert len(first) == 1024 * 1024
        rest = stream.read()
    assert first + rest == data
    manifest = storage.copy_folder(src, Place(P, "Output", "big"))
    assert manifest.entries == (ManifestEntry("big.bin", sha(data), len(data)),)
    assert storage.verify(Place(P, "Output", "big"), manifest) == []


def test_copy_holds_no_whole_file_in_memory(local):
    data = os.urandom(5 * 1024 * 1024)
    local.write_bytes(Place(P, RFC, "big"), "big.bin", data)
    del data
    tracemalloc.start()
    try:
        local.copy_folder(Place(P, RFC, "big"), Place(P, "Output", "big"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * 1024 * 1024


# -- snapshots -----------------------------------------------------------------------------------


def test_copy_folder_returns_a_verified_manifest(storage):
    src, dst = Place(P, RFC, "req_v1"), Place(P, "Output", "STATS-1")
    fill(storage, src, SUBMISSION)
    manifest = storage.copy_folder(src, dst)
    assert manifest.paths == tuple(sorted(SUBMISSION))
    for path, data in SUBMISSION.items():
        assert manifest.get(path) == ManifestEntry(path, sha(data), len(data))
        assert storage.read_bytes(dst, path) == data
    assert manifest.total_bytes == sum(len(d) for d in SUBMISSION.values())
    assert storage.manifest(dst) == manifest == storage.manifest(src)
    assert storage.verify(dst, manifest) == []
    assert storage.list_files(src) == storage.list_files(dst)


def test_copy_between_projects(storage):
    storage.ensure_project(OTHER)
    src, dst = Place(P, "Output", "transfer"), Place(OTHER, "Input", "from_P123")
    fill(storage, src, {"a.csv": b"1", "sub/b.csv": b"2"})
    manifest = storage.copy_folder(src, dst)
    assert storage.verify(dst, manifest) == []
    assert storage.list_folders(Place(OTHER, "Input")) == ["from_P123"]


def test_copy_an_empty_folder(storage):
    manifest = storage.copy_folder(Place(P, "Input"), Place(P, "Output", "empty"))
    assert len(manifest) == 0
    assert storage.exists(Place(P, "Output", "empty"))
    assert storage.copy_folder(Place(P, "Input"), Place(P, "Output", "empty")) == manifest


def test_copy_from_a_missing_folder_is_not_found(storage):
    with pytest.raises(NotFound):
        storage.copy_folder(Place(P, RFC, "absent"), Place(P, "Output", "x"))
    assert not storage.exists(Place(P, "Output", "x"))


def test_copy_into_itself_is_refused(storage):
    fill(storage, Place(P, "Working", "a"), {"f": b"1"})
    for src, dst in [("a", "a"), ("a", "a/inner"), ("a/inner", "a")]:
        with pytest.raises(StorageError, match="contains"):
            storage.copy_folder(Place(P, "Working", src), Place(P, "Working", dst))


def test_copy_is_idempotent(storage):
    src, dst = Place(P, RFC, "req"), Place(P, "Output", "snap")
    fill(storage, src, SUBMISSION)
    first = storage.copy_folder(src, dst)
    again = storage.copy_folder(src, dst)
    assert again == first
    assert storage.list_files(dst) == storage.list_files(src)


def test_a_differing_recopy_is_refused(storage):
    src, dst = Place(P, RFC, "req"), Place(P, "Output", "snap")
    fill(storage, src, SUBMISSION)
    manifest = storage.copy_folder(src, dst)
    storage.write_bytes(src, "readme.txt", b"changed after the snapshot")
    with pytest.raises(StorageError, match="never overwritten") as info:
        storage.copy_folder(src, dst)
    assert "readme.txt" in str(info.value)
    assert storage.verify(dst, manifest) == []  # the snapshot is untouched

    storage.write_bytes(src, "readme.txt", SUBMISSION["readme.txt"])
    storage.write_bytes(dst, "extra.txt", b"someone put this here")
    with pytest.raises(StorageError, match="extra.txt"):
        storage.copy_folder(src, dst)


def test_an_interrupted_copy_is_completed(storage):
    src, dst = Place(P, RFC, "req"), Place(P, "Output", "snap")
    fill(storage, src, SUBMISSION)
    fill(storage, dst, {"readme.txt": SUBMISSION["readme.txt"]})
    manifest = storage.copy_folder(src, dst)
    assert manifest == storage.manifest(src)
    assert storage.verify(dst, manifest) == []


def test_a_failed_copy_leaves_nothing_behind(storage, monkeypatch):
    src, dst = Place(P, RFC, "req"), Place(P, "Output", "snap")
    fill(storage, src, SUBMISSION)
    real_open = storage.open_read
    opened: list[str] = []

    def flaky(place, relpath):
        if place == src:
            opened.append(relpath)
            if len(opened) == 3:
                raise OSError("disk on fire")
        return real_open(place, relpath)

    monkeypatch.setattr(storage, "open_read", flaky)
    with pytest.raises(OSError, match="disk on fire"):
        storage.copy_folder(src, dst)
    assert not storage.exists(dst)
    assert storage.list_files(Place(P, "Output")) == []
    if isinstance(storage, LocalStorage):
        assert list((storage.root / STAGING).iterdir()) == []


def test_manifest_json_round_trip(storage):
    fill(storage, Place(P, "Working", "w"), SUBMISSION)
    manifest = storage.manifest(Place(P, "Working", "w"))
    text = manifest.to_json()
    assert Manifest.from_json(text) == manifest
    data = json.loads(text)
    assert data["version"] == 1
    assert data["total_bytes"] == manifest.total_bytes
    assert [f["path"] for f in data["files"]] == sorted(SUBMISSION)
    assert storage.manifest(Place(P, "Working", "absent")) == Manifest()


def test_manifest_is_sorted_and_strict():
    a, b = ManifestEntry("b", sha(b"b"), 1), ManifestEntry("a", sha(b"a"), 1)
    manifest = Manifest([a, b])
    assert manifest.paths == ("a", "b")
    assert manifest.get("b") == a and manifest.get("c") is None
    assert "a" in manifest and len(manifest) == 2
    with pytest.raises(ValueError, match="twice"):
        Manifest([a, a])
    with pytest.raises(ValueError, match="SHA-256"):
        ManifestEntry("a", "ABC", 1)
    with pytest.raises(ValueError, match="size"):
        ManifestEntry("a", sha(b""), -1)
    forged = json.dumps(
        {"version": 1, "files": [{"path": "../../etc/passwd", "sha256": sha(b""), "size": 0}]}
    )
    with pytest.raises(UnsafePath):
        Manifest.from_json(forged)


# -- verification --------------------------------------------------------------------------------


def test_verify_detects_changed_missing_and_unexpected(storage):
    src, dst = Place(P, RFC, "req"), Place(P, "Output", "snap")
    fill(storage, src, SUBMISSION)
    manifest = storage.copy_folder(src, dst)
    base = f"{dst.key}/"
    replace_raw(storage, base + "readme.txt", b"HELLO")  # same size, other bytes
    replace_raw(storage, base + "tables/table1.csv", b"longer than before")
    remove_raw(storage, base + "tables/deep/table2.csv")
    plant(storage, base + "sneaked_in.csv", b"1")
    problems = storage.verify(dst, manifest)
    assert [(m.path, m.problem) for m in problems] == [
        ("readme.txt", "changed"),
        ("sneaked_in.csv", "unexpected"),
        ("tables/deep/table2.csv", "missing"),
        ("tables/table1.csv", "changed"),
    ]
    assert "sha256" in problems[0].detail
    assert "size" in problems[3].detail


def test_verify_of_a_vanished_folder_reports_every_file_missing(storage):
    fill(storage, Place(P, "Output", "snap"), {"a": b"1", "b": b"2"})
    manifest = storage.manifest(Place(P, "Output", "snap"))
    storage.delete_folder(Place(P, "Output", "snap"))
    assert storage.verify(Place(P, "Output", "snap"), manifest) == [
        Mismatch("a", "missing", "in the manifest, not found"),
        Mismatch("b", "missing", "in the manifest, not found"),
    ]


# -- unsafe paths --------------------------------------------------------------------------------

UNSAFE = [
    ("..", "'..'"),
    ("../escape.txt", "'..'"),
    ("a/../../escape.txt", "'..'"),
    (".", "'.'"),
    ("a/./b", "'.'"),
    ("/etc/passwd", "absolute"),
    ("a//b", "empty"),
    ("a/", "empty"),
    ("a\\b", "backslash"),
    ("..\\..\\escape", "backslash"),
    ("a\x00b", "NUL"),
    ("line\nbreak", "control"),
    ("carriage\rreturn", "control"),
    ("tab\there", "control"),
    ("del\x7f", "control"),
    ("c1\x85", "control"),
    ("a<b", "reserved"),
    ("a>b", "reserved"),
    ("a:b", "reserved"),
    ("C:evil", "reserved"),  # a drive letter
    ('a"b', "reserved"),
    ("a|b", "reserved"),
    ("a?b", "reserved"),
    ("a*b", "reserved"),
    ("report\u202etxt.exe", "direction"),
    ("x" * (MAX_SEGMENT_BYTES + 1), "bytes long"),
    ("\u00e9" * 128, "bytes long"),  # 128 characters but 256 bytes
    ("ok/" + "y" * 300 + "/ok", "bytes long"),
]
SAFE = ["x" * MAX_SEGMENT_BYTES, ".hidden", "a..b", "spaces are fine.txt", "数据/表 1.csv", "ü-ß_é"]


@pytest.mark.parametrize(("bad", "why"), UNSAFE, ids=[repr(b)[:30] for b, _ in UNSAFE])
def test_unsafe_paths_are_refused_everywhere(storage, bad, why):
    place = Place(P, "Working", "w")
    attempts = [
        lambda: storage.write_bytes(place, bad, b"x"),
        lambda: storage.read_bytes(place, bad),
        lambda: storage.open_read(place, bad),
        lambda: storage.exists(place, bad),
        lambda: place.child(bad),
        lambda: Place(P, "Working", bad),
        lambda: Place(P, INGEST, bad),
    ]
    for attempt in attempts:
        with pytest.raises(UnsafePath, match=why) as info:
            attempt()
        assert repr(bad)[1:-1][:20] in str(info.value)  # names the path
    assert storage.list_files(Place(P, "Working")) == []
    if isinstance(storage, LocalStorage):
        assert sorted(p.name for p in storage.root.iterdir()) == ["projects"]


@pytest.mark.parametrize("name", SAFE)
def test_safe_names_are_allowed(storage, name):
    place = Place(P, "Working", "w")
    storage.write_bytes(place, name, b"ok")
    assert storage.read_bytes(place, name) == b"ok"
    assert storage.list_files(place) == [StoredFile(name, 2)]
    assert storage.copy_folder(place, Place(P, "Output", "w")).paths == (name,)


def test_an_empty_file_path_is_refused(storage):
    with pytest.raises(UnsafePath):
        storage.write_bytes(Place(P, "Working"), "", b"x")
    with pytest.raises(UnsafePath):
        Place(P, "Working").child("")


@pytest.mark.parametrize(
    "name", ["back\\slash.csv", "new\nline.csv", "tab\tname.csv", "col:on.csv", "q?.csv"]
)
def test_unsafe_names_already_in_a_folder_are_refused(storage, name):
    src = Place(P, RFC, "req")
    fill(storage, src, {"good.csv": b"1"})
    plant(storage, f"{src.key}/{name}")
    with pytest.raises(UnsafePath) as info:
        storage.list_files(src)
    assert repr(name)[1:-1] in str(info.value)
    with pytest.raises(UnsafePath):
        storage.copy_folder(src, Place(P, "Output", "snap"))
    assert not storage.exists(Place(P, "Output", "snap"))
    with pytest.raises(UnsafePath):
        storage.manifest(src)
    problems = storage.verify(src, Manifest([ManifestEntry("good.csv", sha(b"1"), 1)]))
    assert [(m.path, m.problem) for m in problems] == [(name, "unsafe")]


@pytest.mark.parametrize(
    "keys", [("a//b.csv",), ("a/../b.csv",), ("./c.csv",), ("/lead.csv",), ("clash", "clash/x")]
)
def test_s3_keys_no_filesystem_allows_are_refused(s3, keys):
    storage = s3
    src = Place(P, RFC, "req")
    plant(storage, f"{src.key}/ok.csv")
    for key in keys:
        plant(storage, f"{src.key}/{key}")
    with pytest.raises(UnsafePath):
        storage.list_files(src)
    with pytest.raises(UnsafePath):
        storage.copy_folder(src, Place(P, "Output", "snap"))
    assert not storage.exists(Place(P, "Output", "snap"))
    assert any(m.problem == "unsafe" for m in storage.verify(src, Manifest()))


def test_s3_folder_markers_are_not_files(s3):
    storage = s3
    src = Place(P, RFC, "req")
    plant(storage, f"{src.key}/ok.csv")
    plant(storage, f"{src.key}/", b"")
    plant(storage, f"{src.key}/empty/", b"")
    assert storage.list_files(src) == [StoredFile("ok.csv", 1)]
    assert storage.list_folders(src) == ["empty"]


def test_list_folders_shows_bad_names_so_they_can_be_refused(storage):
    plant(storage, f"projects/{P}/{RFC}/bad:name/file.csv")
    plant(storage, f"projects/{P}/{RFC}/good/file.csv")
    names = storage.list_folders(Place(P, RFC))
    assert names == ["bad:name", "good"]
    with pytest.raises(UnsafePath, match="reserved"):
        Place(P, RFC).child(names[0])


# -- deleting and downloading --------------------------------------------------------------------


def test_delete_folder_is_idempotent(storage):
    keep, gone = Place(P, "Output", "keep"), Place(P, "Output", "gone")
    fill(storage, keep, {"a": b"1"})
    fill(storage, gone, {"a": b"1", "b/c": b"2"})
    storage.delete_folder(gone)
    assert not storage.exists(gone)
    storage.delete_folder(gone)
    storage.delete_folder(Place(OTHER, "Output", "never"))
    assert storage.list_folders(Place(P, "Output")) == ["keep"]
    assert storage.read_bytes(keep, "a") == b"1"


def test_an_area_is_never_deleted(storage):
    with pytest.raises(StorageError, match="whole area"):
        storage.delete_folder(Place(P, "Input"))
    assert storage.exists(Place(P, "Input"))


def test_download_folder(storage, tmp_path):
    fill(storage, Place(P, "Output", "snap"), SUBMISSION)
    dest = storage.download_folder(Place(P, "Output", "snap"), tmp_path / "dl" / "snap")
    assert dest == tmp_path / "dl" / "snap"
    got = {
        str(p.relative_to(dest).as_posix()): p.read_bytes() for p in dest.rglob("*") if p.is_file()
    }
    assert got == SUBMISSION
    with pytest.raises(StorageError, match="not empty"):
        storage.download_folder(Place(P, "Output", "snap"), dest)
    with pytest.raises(NotFound):
        storage.download_folder(Place(P, "Output", "absent"), tmp_path / "other")


def test_download_refuses_a_folder_with_unsafe_names(storage, tmp_path):
    plant(storage, f"projects/{P}/Output/snap/ok.csv")
    plant(storage, f"projects/{P}/Output/snap/bad|name.csv")
    with pytest.raises(UnsafePath):
        storage.download_folder(Place(P, "Output", "snap"), tmp_path / "dl")
    assert not (tmp_path / "dl").exists()


# -- symbolic links (local backend) --------------------------------------------------------------


@pytest.fixture
def outside(tmp_path) -> Path:
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "secret.txt").write_bytes(b"not yours")
    return secret


def test_a_symlinked_file_in_the_source_stops_the_copy(local, outside):
    src, dst = Place(P, RFC, "req"), Place(P, "Output", "snap")
    fill(local, src, {"a.csv": b"1", "z.csv": b"2"})
    os.symlink(outside / "secret.txt", local.root / src.key / "m_link.csv")
    with pytest.raises(UnsafePath, match="symbolic link") as info:
        local.copy_folder(src, dst)
    assert "m_link.csv" in str(info.value)
    assert not local.exists(dst)
    assert list((local.root / STAGING).iterdir()) == []
    with pytest.raises(UnsafePath):
        local.list_files(src)
    with pytest.raises(UnsafePath):
        local.read_bytes(src, "m_link.csv")
    with pytest.raises(UnsafePath):
        local.exists(src, "m_link.csv")
    with pytest.raises(UnsafePath):
        local.write_bytes(src, "m_link.csv", b"overwrite the target?")
    assert (outside / "secret.txt").read_bytes() == b"not yours"


def test_a_link_pointing_inside_the_place_is_refused_too(local):
    src = Place(P, RFC, "req")
    fill(local, src, {"a.csv": b"1"})
    os.symlink("a.csv", local.root / src.key / "b.csv")
    with pytest.raises(UnsafePath, match="b.csv"):
        local.copy_folder(src, Place(P, "Output", "snap"))


def test_a_symlinked_folder_is_refused(local, outside):
    rfc = local.root / "projects" / P / RFC
    os.symlink(outside, rfc / "req_link", target_is_directory=True)
    assert local.list_folders(Place(P, RFC)) == ["req_link"]  # listed, never followed
    place = Place(P, RFC, "req_link")
    for attempt in (
        lambda: local.list_files(place),
        lambda: local.list_folders(place),
        lambda: local.read_bytes(place, "secret.txt"),
        lambda: local.exists(place),
        lambda: local.copy_folder(place, Place(P, "Output", "snap")),
        lambda: local.write_bytes(place, "new.txt", b"x"),
        lambda: local.delete_folder(place),
        lambda: local.manifest(place),
    ):
        with pytest.raises(UnsafePath, match="req_link"):
            attempt()
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert not local.exists(Place(P, "Output", "snap"))


def test_a_symlinked_folder_inside_the_source_is_refused(local, outside):
    src = Place(P, RFC, "req")
    fill(local, src, {"a.csv": b"1"})
    os.symlink(outside, local.root / src.key / "sub", target_is_directory=True)
    with pytest.raises(UnsafePath, match="req/sub"):
        local.copy_folder(src, Place(P, "Output", "snap"))
    problems = local.verify(src, Manifest([ManifestEntry("a.csv", sha(b"1"), 1)]))
    assert problems == [Mismatch("sub", "unsafe", "is a symbolic link; links are never followed")]


def test_a_symlinked_intermediate_folder_is_refused(local, outside):
    area = local.root / "projects" / P / "Working"
    area.rmdir()
    os.symlink(outside, area, target_is_directory=True)
    for attempt in (
        lambda: local.read_bytes(Place(P, "Working"), "secret.txt"),
        lambda: local.read_bytes(Place(P, "Working", "deeper"), "secret.txt"),
        lambda: local.write_bytes(Place(P, "Working", "new"), "x.txt", b"x"),
        lambda: local.list_files(Place(P, "Working")),
        lambda: local.ensure_project(P),
    ):
        with pytest.raises(UnsafePath, match="Working"):
            attempt()
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_a_symlinked_snapshot_destination_is_refused(local, outside):
    fill(local, Place(P, RFC, "req"), {"a.csv": b"1"})
    os.symlink(outside, local.root / "projects" / P / "Output" / "snap", target_is_directory=True)
    with pytest.raises(UnsafePath, match="snap"):
        local.copy_folder(Place(P, RFC, "req"), Place(P, "Output", "snap"))
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_a_file_replaced_by_a_link_after_the_snapshot_fails_verification(local, outside):
    src, dst = Place(P, RFC, "req"), Place(P, "Output", "snap")
    fill(local, src, {"a.csv": b"1"})
    manifest = local.copy_folder(src, dst)
    target = local.root / dst.key / "a.csv"
    target.unlink()
    os.symlink(outside / "secret.txt", target)
    assert [(m.path, m.problem) for m in local.verify(dst, manifest)] == [("a.csv", "unsafe")]


# -- hard links (local backend) ------------------------------------------------------------------


def test_a_hard_link_to_a_file_outside_stops_the_copy(local, outside):
    src, dst = Place(P, RFC, "req"), Place(P, "Output", "snap")
    fill(local, src, {"a.csv": b"1", "z.csv": b"2"})
    os.link(outside / "secret.txt", local.root / src.key / "m_hard.csv")
    with pytest.raises(UnsafePath, match="hard link") as info:
        local.copy_folder(src, dst)
    assert "m_hard.csv" in str(info.value) and "2 names" in str(info.value)
    assert not local.exists(dst)
    assert list((local.root / STAGING).iterdir()) == []
    for attempt in (
        lambda: local.list_files(src),
        lambda: local.manifest(src),
        lambda: local.read_bytes(src, "m_hard.csv"),  # also when opened without a scan first
        lambda: local.download_folder(src, local.root.parent / "dl"),
    ):
        with pytest.raises(UnsafePath, match="m_hard.csv.*hard link"):
            attempt()
    assert (outside / "secret.txt").read_bytes() == b"not yours"
    assert os.stat(outside / "secret.txt").st_nlink == 2  # refused, never touched


def test_a_file_hard_linked_after_the_snapshot_fails_verification(local, outside):
    src, dst = Place(P, RFC, "req"), Place(P, "Output", "snap")
    fill(local, src, {"a.csv": b"1", "b.csv": b"2"})
    manifest = local.copy_folder(src, dst)
    os.link(local.root / dst.key / "a.csv", outside / "a_copy.csv")
    [problem] = local.verify(dst, manifest)
    assert (problem.path, problem.problem) == ("a.csv", "unsafe")
    assert "hard link" in problem.detail


def test_a_completed_snapshot_never_shows_a_file_with_two_names(local, monkeypatch):
    # Completing an interrupted snapshot hard-links files in from staging. A reader verifying
    # the destination meanwhile (another run) would refuse a file with two names, so each is
    # back to one name at once, not only when staging is removed.
    from include.storage import local as local_module

    src, dst = Place(P, RFC, "req"), Place(P, "Output", "snap")
    fill(local, src, SUBMISSION)
    fill(local, dst, {"readme.txt": SUBMISSION["readme.txt"]})
    seen: dict[str, int] = {}
    abort = local_module._LocalSnapshot.abort

    def looking_before_cleanup(self):
        for path in SUBMISSION:
            seen[path] = os.stat(local.root / dst.key / path).st_nlink
        abort(self)

    monkeypatch.setattr(local_module._LocalSnapshot, "abort", looking_before_cleanup)
    manifest = local.copy_folder(src, dst)
    assert set(seen) == set(SUBMISSION) and set(seen.values()) == {1}, seen
    assert local.verify(dst, manifest) == []


def test_special_files_are_refused(local):
    src = Place(P, RFC, "req")
    fill(local, src, {"a.csv": b"1"})
    os.mkfifo(local.root / src.key / "pipe")
    with pytest.raises(UnsafePath, match="regular file"):
        local.list_files(src)
    with pytest.raises(StorageError, match="regular file"):
        local.read_bytes(src, "pipe")  # must not hang on the FIFO


def test_download_never_writes_through_a_link(local, tmp_path, outside):
    fill(local, Place(P, "Output", "snap"), {"secret.txt": b"overwritten?"})
    dest = tmp_path / "dl"
    os.symlink(outside, dest, target_is_directory=True)
    with pytest.raises(UnsafePath):
        local.download_folder(Place(P, "Output", "snap"), dest)
    assert (outside / "secret.txt").read_bytes() == b"not yours"
