"""Fault injection: the task process is killed (SIGKILL) while it copies a large folder.

Invariant: nothing partial is checked or visible, nothing lost, nothing duplicated — after the
kill the ticket records no snapshot and the snapshot place holds nothing; the retry leaves
exactly one complete snapshot, verified against its manifest, and no stray objects (no
staged leftovers, no incomplete multipart uploads). Asserted from the ticket store and the
bucket on moto's S3 server on loopback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from include import request_steps as out
from include.demo import DEMO_FOLDER, DEMO_PROJECT, write_demo_request
from include.pipeline import Pipeline
from include.storage import Place
from tests.fixtures.s3 import s3_client

REPO = Path(__file__).resolve().parents[2]
BIG = 20 * 1024 * 1024  # three of these: multipart uploads (8 MiB parts) are under way when killed


def _request(p: Pipeline):
    write_demo_request(p.storage)
    src = Place(DEMO_PROJECT, "Ready for Checking", DEMO_FOLDER)
    for i in range(3):
        p.storage.write_bytes(src, f"big_{i}.bin", os.urandom(1024) * (BIG // 1024))
    for i in range(10):
        p.storage.write_bytes(src, f"supporting/small_{i:02d}.txt", b"small file %d\n" % i)
    want = p.storage.manifest(src)
    stats_id = out.intake(
        p,
        started_by="ops",
        project=DEMO_PROJECT,
        folder=DEMO_FOLDER,
        requester="r_rahman",
        run_id="manual__kill",
    ).stats_id
    return want, stats_id


def _kill_when(stats_id: str, ready) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", STEP, stats_id],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if ready():
                break
            time.sleep(0.005)
        assert proc.poll() is None, (
            f"the copy ended before it could be killed: {proc.stdout.read()}"
        )
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _local_case(p: Pipeline) -> None:
    want, stats_id = _request(p)
    staging = Path(p.storage.root) / ".srs-staging"

    def staged() -> list[Path]:
        return [f for f in staging.rglob("*") if f.is_file()] if staging.exists() else []

    _kill_when(stats_id, lambda: any(f.name.startswith("big_1") for f in staged()))
    assert staged()  # the kill really was mid-copy
    t = p.store.get(stats_id)
    assert t.current_round.snapshot is None
    assert not p.storage.exists(out.snapshot_place(t))  # nothing visible at the destination

    out.take_snapshot(Pipeline(), stats_id)  # the retry
    t = p.store.get(stats_id)
    assert out.snapshot_manifest(t) == want
    snap = out.snapshot_place(t)
    assert p.storage.verify(snap, want) == []
    workspace = Place(DEMO_PROJECT, "Output", stats_id)
    assert {f.path for f in p.storage.list_files(workspace)} == {
        *(f"{DEMO_FOLDER}/{path}" for path in want.paths),
        f"{DEMO_FOLDER}.manifest.json",
    }
    assert list(staging.iterdir()) == []  # no stray staging folder of the killed writer
    summary = out.run_checks(p, stats_id)
    assert {f["path"] for f in summary["files"]} == set(want.paths)


STEP = """
import sys
from include.request_steps import take_snapshot
from include.pipeline import Pipeline
print("copying", flush=True)
take_snapshot(Pipeline(), sys.argv[1])
print("done", flush=True)
"""


@pytest.fixture(params=["s3", "local"])
def backend_pipeline(request, monkeypatch):
    if request.param == "s3":
        for name, value in request.getfixturevalue("s3_env").items():
            monkeypatch.setenv(name, value)
    return request.getfixturevalue("demo_pipeline")


def test_sigkill_mid_copy_then_retry_leaves_one_verified_snapshot(backend_pipeline):
    """Invariant: nothing lost, nothing duplicated, nothing partial ever recorded or visible.

    Fault: ``take_snapshot`` runs in its own process (as an Airflow task does) and is
    SIGKILLed once it is part-way through a 60 MiB folder (S3: some files staged and a
    multipart upload in progress; local: files in its staging folder). Then the step runs
    again, as the task's retry would. On both backends.
    """
    p = backend_pipeline
    if p.settings.storage_backend == "local":
        return _local_case(p)
    want, stats_id = _request(p)

    client = s3_client(p.settings.s3_endpoint_url)
    bucket = p.settings.s3_bucket
    staging = f".srs-staging/projects/{DEMO_PROJECT}/Output/{stats_id}/"

    def staged() -> list[str]:
        return [
            o["Key"]
            for o in client.list_objects_v2(Bucket=bucket, Prefix=staging).get("Contents", [])
        ]

    def uploads() -> list[str]:
        return [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]

    _kill_when(stats_id, lambda: bool(staged() and uploads()))  # a file staged, one half-way
    left_staged, left_uploads = staged(), uploads()
    assert left_staged or left_uploads  # the kill really was mid-copy

    t = p.store.get(stats_id)
    assert t.current_round.snapshot is None  # nothing partial recorded, so nothing checked
    workspace = f"projects/{DEMO_PROJECT}/Output/{stats_id}/"
    assert client.list_objects_v2(Bucket=bucket, Prefix=workspace).get("KeyCount", 0) == 0

    out.take_snapshot(Pipeline(), stats_id)  # the retry
    t = p.store.get(stats_id)
    assert out.snapshot_manifest(t) == want
    snap = out.snapshot_place(t)
    assert p.storage.verify(snap, want) == []
    listed = sorted(
        o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=workspace)["Contents"]
    )
    assert listed == sorted(
        [f"{snap.key}/{path}" for path in want.paths] + [f"{workspace}{DEMO_FOLDER}.manifest.json"]
    )
    assert staged() == [] and uploads() == []  # no stray objects
    summary = out.run_checks(p, stats_id)  # the checks see the whole snapshot, once
    assert {f["path"] for f in summary["files"]} == set(want.paths)
