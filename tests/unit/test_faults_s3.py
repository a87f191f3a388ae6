"""Fault injection: the S3 server fails or hangs while a snapshot is taken or a request placed.

Invariants: nothing partial is checked, released or placed (a failed snapshot is never
recorded, so the checks refuse it; a failed placement leaves nothing in ``Input/``), nothing
lost (a retry completes the copy and verifies it against the manifest), nothing duplicated
(one copy of each file, no stray objects). Asserted from the ticket store and from the bucket
itself, read by a client that does not go through the fault.

Faults are real network faults at the S3 boundary: the pipeline's client talks to moto's
server through a TCP proxy (tests/fixtures/faultproxy.py) that, after a given number of
successful S3 calls, refuses and resets every connection (the server is down) or accepts
them and never answers (the server hangs; the client's read timeout fires).
"""

from __future__ import annotations

import pytest

from include import request_steps as out
from include.demo import DEMO_FOLDER, DEMO_PROJECT, write_demo_request
from include.pipeline import Pipeline
from include.placement import placement
from include.states import TicketState as S
from include.storage import INGEST, Place, StorageError
from include.storage.s3 import S3Storage
from tests.fixtures.faultproxy import FaultProxy
from tests.fixtures.s3 import TEST_KEY, TEST_REGION, s3_client

BIG = b"x" * (256 * 1024)  # enough files and bytes that the fault lands mid-copy


@pytest.fixture
def s3_pipeline(s3_env, monkeypatch, request):
    """The demo registry with the S3 backend on the loopback server (direct, no faults)."""
    for name, value in s3_env.items():
        monkeypatch.setenv(name, value)
    return request.getfixturevalue("demo_pipeline")


@pytest.fixture
def proxy(s3_server):
    host, port = s3_server.removeprefix("http://").split(":")
    fp = FaultProxy(host, int(port))
    yield fp
    fp.close()


def faulty(
    p: Pipeline, proxy: FaultProxy, *, after: int, op: str, mode: str, heal_on: str = ""
) -> Pipeline:
    """A pipeline whose S3 client goes through ``proxy``; after ``after`` successful ``op``
    calls the proxy switches to ``mode`` and cuts every open connection; if ``heal_on`` names
    an S3 operation, the server is back (``pass``) when the client next makes that call."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=f"http://{proxy.host}:{proxy.port}",
        region_name=TEST_REGION,
        aws_access_key_id=TEST_KEY,
        aws_secret_access_key=TEST_KEY,
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=1,
            read_timeout=1,
            retries={"max_attempts": 2, "mode": "standard"},
        ),
    )
    seen = {"n": 0}

    def count(**_kw):
        seen["n"] += 1
        if seen["n"] == after:
            proxy.mode = mode
            proxy.cut()

    client.meta.events.register(f"after-call.s3.{op}", count)
    if heal_on:

        def heal(**_kw):
            if seen["n"] >= after:
                proxy.mode = "pass"

        client.meta.events.register(f"before-call.s3.{heal_on}", heal)
    return Pipeline(storage=S3Storage(p.settings.s3_bucket, client=client))


def keys(p: Pipeline, prefix: str) -> list[str]:
    reply = s3_client(p.settings.s3_endpoint_url).list_objects_v2(
        Bucket=p.settings.s3_bucket, Prefix=prefix
    )
    return sorted(o["Key"] for o in reply.get("Contents", []))


def uploads(p: Pipeline) -> list[str]:
    reply = s3_client(p.settings.s3_endpoint_url).list_multipart_uploads(
        Bucket=p.settings.s3_bucket
    )
    return [u["Key"] for u in reply.get("Uploads", [])]


def _big_request(p: Pipeline) -> None:
    write_demo_request(p.storage)
    src = Place(DEMO_PROJECT, "Ready for Checking", DEMO_FOLDER)
    for i in range(12):
        p.storage.write_bytes(src, f"supporting/part_{i:02d}.txt", BIG + bytes([i]))


@pytest.mark.parametrize(
    ("mode", "op", "after"),
    [
        ("refuse", "PutObject", 4),  # down while writing the 5th file
        ("blackhole", "PutObject", 6),  # hangs while writing
        ("refuse", "GetObject", 9),  # down while reading source / verifying a copy
    ],
)
def test_snapshot_interrupted_by_s3_is_never_checked_and_retry_completes(
    s3_pipeline, proxy, mode, op, after
):
    """Invariant: no partial snapshot is ever checked or released; nothing lost or duplicated.

    The snapshot step fails with the S3 fault; the ticket records no snapshot and the checks
    step refuses to run on what is there. With the server back, the retry completes the
    snapshot: exactly the source's files, verified against the recorded manifest, no other
    objects under ``Output/<STATS-ID>/``; then the checks pass.
    """
    p = s3_pipeline
    _big_request(p)
    src = Place(DEMO_PROJECT, "Ready for Checking", DEMO_FOLDER)
    want = p.storage.manifest(src)
    stats_id = out.intake(
        p,
        started_by="ops",
        project=DEMO_PROJECT,
        folder=DEMO_FOLDER,
        requester="r_rahman",
        run_id="manual__s3",
    ).stats_id
    bad = faulty(p, proxy, after=after, op=op, mode=mode)
    with pytest.raises(Exception) as failed:  # noqa: PT011 - botocore's or ours, by fault
        out.take_snapshot(bad, stats_id)
    assert not isinstance(failed.value, AssertionError)
    t = p.store.get(stats_id)
    assert t.current_round.snapshot is None and t.state == S.RECEIVED
    with pytest.raises(StorageError, match="no verified snapshot"):
        out.run_checks(p, stats_id)  # never checks what the failed copy left
    assert p.store.get(stats_id).state == S.RECEIVED
    assert p.store.get(stats_id).current_round.checks is None

    proxy.mode = "pass"
    out.take_snapshot(bad, stats_id)  # the retry, through the same (now healthy) path
    t = p.store.get(stats_id)
    assert out.snapshot_manifest(t) == want
    snap = out.snapshot_place(t)
    assert p.storage.verify(snap, want) == []
    workspace = f"projects/{DEMO_PROJECT}/Output/{stats_id}/"
    assert keys(p, workspace) == sorted(
        [f"{snap.key}/{path}" for path in want.paths] + [f"{workspace}{DEMO_FOLDER}.manifest.json"]
    )
    assert keys(p, ".srs-staging/") == [] and uploads(p) == []
    assert out.run_checks(p, stats_id)["verdict"] == "pass"


def _ingest_awaiting_placement(p: Pipeline) -> str:
    from tests.unit.core.test_ingest_transfer import FOLDER, lay_out, passes

    landing = Place(DEMO_PROJECT, INGEST, FOLDER)
    rows = b"".join(
        b"E1200000%d,%d,%d\n" % (r % 9 + 1, 2000 + r % 24, 3000 + r) for r in range(8000)
    )
    files = {f"lookup_{i:02d}.csv": b"region,year,energy_use_kwh\n" + rows for i in range(10)}
    lay_out(p, landing, files, listed=[(name, ["region", "year"]) for name in files])
    stats_id = out.intake(
        p,
        kind="ingest",
        started_by="ops",
        project=DEMO_PROJECT,
        folder=FOLDER,
        requester="r_rahman",
        run_id="manual__place",
    ).stats_id
    out.take_snapshot(p, stats_id)
    assert out.run_checks(p, stats_id)["verdict"] == "pass"
    t = p.store.get(stats_id)
    assert out.officers_decision(p, stats_id, passes(t)) == "place"
    return stats_id


@pytest.mark.parametrize(
    ("mode", "op", "after", "heal_on"),
    [
        ("refuse", "PutObject", 3, ""),  # down while staging the 4th file, for the whole try
        ("blackhole", "PutObject", 5, ""),  # hangs while staging
        # a brief outage while publishing: the abort that follows reaches the server again
        ("refuse", "CopyObject", 4, "DeleteObjects"),
    ],
)
def test_placement_interrupted_by_s3_leaves_nothing_in_input_and_retry_verifies(
    s3_pipeline, proxy, mode, op, after, heal_on
):
    """Invariant: no partial placement is ever visible in ``Input/``; nothing lost or duplicated.

    The place step fails with the S3 fault part-way through copying the quarantined snapshot
    into ``Input/<STATS-ID>/``. Read from the server directly (the fault gone), ``Input/`` holds
    nothing of the request, the ticket is not ``placed`` and the landing folder is kept. The
    retry places every file once, verified against the manifest, with the manifest beside it.
    """
    p = s3_pipeline
    stats_id = _ingest_awaiting_placement(p)
    manifest = out.snapshot_manifest(p.store.get(stats_id))
    bad = faulty(p, proxy, after=after, op=op, mode=mode, heal_on=heal_on)
    with pytest.raises(Exception):  # noqa: B017, PT011 - botocore's or ours, by fault
        out.place(bad, stats_id)
    input_prefix = f"projects/{DEMO_PROJECT}/Input/{stats_id}/"
    proxy.mode = "pass"
    assert keys(p, input_prefix) == [], "a partial placement is visible in Input/"
    t = p.store.get(stats_id)
    assert t.state == S.PLACING and t.current_round.placement is None
    assert p.storage.exists(Place(DEMO_PROJECT, INGEST, t.folder))  # landing kept

    out.place(bad, stats_id)
    t = p.store.get(stats_id)
    assert (
        t.state == S.PLACED and t.current_round.placement.place == placement(t).child(t.folder).key
    )
    target = placement(t)
    assert p.storage.verify(target.child(t.folder), manifest) == []
    assert keys(p, input_prefix) == sorted(
        [f"{input_prefix}{t.folder}/{path}" for path in manifest.paths]
        + [f"{input_prefix}manifest.json"]
    )
    assert keys(p, ".srs-staging/") == [] and uploads(p) == []
