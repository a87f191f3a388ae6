"""The operator view on a real Airflow: the plugin's pages behind Airflow's login, in a browser.

The harness loads the repo's ``plugins/``, so ``/srs`` is served by Airflow's own API server.
The browser test drives headless Chromium over the DevTools protocol: it sets the ``_token``
cookie Airflow's login would set (no login backdoor), opens the pages, checks what they say and
saves screenshots to ``test-artifacts/ui/``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from include.checks.findings import Finding, Location, Severity
from include.checks.report import CheckReport, FileResult, render_html
from include.rounds import CheckSummary
from include.states import TicketState as S
from include.storage import Manifest, Place

LONG_AGO = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "ui"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
SHA = "3f" * 32


# --- seeding -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded(srs) -> dict[str, Any]:
    """An output request awaiting officers (with a stored check report and one decision) and
    a blocked one, written straight to the ticket store and storage the Airflow processes use."""
    store = srs.store
    folder = "2026_11_25_UiE2E_v1"
    # Received long ago, so both stand on the first page of their lists (the queue is paged,
    # and this session's Airflow holds every other test's tickets too).
    t = store.create(
        kind="output",
        project="1234567",
        requester="r_rahman",
        folder=folder,
        actor="r_rahman",
        received_at=LONG_AGO,
    )
    store.set_fields(
        t.stats_id,
        actor="intake",
        action="officers_assigned",
        assigned_officers=["officer_alice", "officer_bob"],
    )
    store.record_run(t.stats_id, 1, f"{t.stats_id}-r1")
    store.transition(t.stats_id, S.CHECKING, actor="pipeline")
    files = [
        ("energy_by_tenure_region.csv", "output", "csv", 2048),
        ("energy_model.py", "output", "code", 911),
        ("notes_for_officers_SUPPORTING.txt", "supporting", "text", 300),
        ("output_request_form.xlsx", "request_form", "xlsx", 7000),
    ]
    table = files[0][0]
    report = CheckReport(
        files=[
            FileResult(
                table,
                "output",
                "csv",
                2048,
                SHA,
                [
                    Finding(
                        "low_count",
                        Severity.BLOCK,
                        "Cell value 4 is below the threshold of 10: suppress or combine categories.",
                        Location(file=table, row=7, column="n"),
                        kind="threshold",
                    ),
                    Finding(
                        "dominance",
                        Severity.REVIEW,
                        "One contributor supplies 61% of this cell's total.",
                        Location(file=table, row=12, column="energy_use_kwh"),
                    ),
                ],
            ),
            *[FileResult(p, role, typ, size, SHA, []) for p, role, typ, size in files[1:]],
        ],
        findings=[Finding("request_note", Severity.INFO, "Four files in the request.")],
    )
    manifest = {
        "version": 1,
        "algorithm": "sha256",
        "total_bytes": sum(f[3] for f in files),
        "files": [{"path": p, "sha256": SHA, "size": size} for p, _, _, size in files],
    }
    out = Place("1234567", "Output", t.stats_id)
    store.record_snapshot(t.stats_id, 1, "x", Manifest.from_dict(manifest))
    described = tuple({"path": p, "role": r, "type": ty} for p, r, ty, _ in files)
    store.record_checks(t.stats_id, 1, CheckSummary("fail", {}, files=described), out.key)
    srs.storage.write_bytes(out, f"{folder}.check.json", json.dumps(report.to_dict()).encode())
    srs.storage.write_bytes(
        out, f"{folder}.check.html", render_html(report, title=f"{t.stats_id} — {folder}").encode()
    )
    store.transition(t.stats_id, S.AWAITING_OFFICERS, actor="pipeline")
    store.record_decision(
        t.stats_id,
        round=1,
        step="officer_1",
        role="officer",
        actor="officer_alice",
        outcome="Request revisions",
        guidance="Suppress the cell in row 7 (n = 4).",
    )
    blocked = store.create(
        kind="output",
        project="4567890",
        requester="r_jones",
        folder="2026_11_24_Blocked_v1",
        actor="r_jones",
        received_at=LONG_AGO,
    )
    store.transition(blocked.stats_id, S.CHECKING, actor="pipeline")
    store.transition(blocked.stats_id, S.REVISIONS_REQUESTED, actor="officer_bob")
    return {"ticket": store.get(t.stats_id), "blocked": store.get(blocked.stats_id)}


# --- auth over HTTP ----------------------------------------------------------------------------


def test_pages_need_an_airflow_login(airflow_server, seeded):
    stats_id = seeded["ticket"].stats_id
    base = airflow_server.base_url
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.get("/srs/requests").status_code == 401
        assert http.get(f"/srs/requests/{stats_id}").status_code == 401
        assert http.get("/srs/requests", cookies={"_token": "not-a-jwt"}).status_code in (401, 403)
        for user in ("ops", "officer_alice"):
            headers = {"Authorization": f"Bearer {airflow_server.token(user)}"}
            queue = http.get("/srs/requests", headers=headers)
            assert queue.status_code == 200, (user, queue.text[:500])
            assert stats_id in queue.text and seeded["blocked"].stats_id in queue.text
        # Need-to-know: an Airflow login that is neither operations, an officer nor a data
        # owner (the harness's `viewer`, not in the registry) sees no request at all.
        nobody = {"Authorization": f"Bearer {airflow_server.token('viewer')}"}
        for path in ("/srs/requests", f"/srs/requests/{stats_id}", "/srs/api/requests"):
            refused = http.get(path, headers=nobody)
            assert refused.status_code == 403, (path, refused.text[:300])
            assert stats_id not in refused.text
        ops = {"Authorization": f"Bearer {airflow_server.token('ops')}"}
        page = http.get(f"/srs/requests/{stats_id}", headers=ops)
        assert page.status_code == 200 and "low_count" in page.text
        # The browser way: Airflow's login cookie, no header.
        cookie = http.get(
            f"/srs/requests/{stats_id}", cookies={"_token": airflow_server.token("ops")}
        )
        assert cookie.status_code == 200 and stats_id in cookie.text
        report = http.get(f"/srs/requests/{stats_id}/report", headers=ops)
        assert report.status_code == 200 and "low_count" in report.text
        missing = http.get("/srs/requests/STATS99999", headers=ops)
        assert missing.status_code == 404 and "there is no request STATS99999" in missing.text


def test_plugin_is_registered_with_a_nav_entry(airflow_server):
    plugins = airflow_server._ok(airflow_server.request("GET", "/plugins"))["plugins"]
    ours = [p for p in plugins if p["name"] == "srs_ui"]
    assert ours, [p["name"] for p in plugins]
    assert {"name": "SRS requests", "url_prefix": "/srs"}.items() <= ours[0]["fastapi_apps"][
        0
    ].items()
    nav = [v for v in ours[0]["external_views"] if v.get("destination") == "nav"]
    assert nav and nav[0]["href"] == "/srs/requests" and nav[0]["url_route"] == "srs-requests"
    errors = airflow_server._ok(airflow_server.request("GET", "/plugins/importErrors"))
    assert not [e for e in errors.get("import_errors", []) if "srs_ui" in json.dumps(e)], errors


# --- in a browser ------------------------------------------------------------------------------


def _browser() -> str | None:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


class DevTools:
    """Just enough of the Chrome DevTools protocol: commands on one page, waiting for events."""

    def __init__(self, ws_url: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(ws_url, max_size=64 * 1024 * 1024, open_timeout=30)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        self.ws.close()

    def send(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == my_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for i, message in enumerate(self.events):
                if message.get("method") == event:
                    return self.events.pop(i)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {event} within {timeout}s")
            self.events.append(json.loads(self.ws.recv(timeout=remaining)))

    def open(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def screenshot(self, path: Path, max_height: int = 6000) -> None:
        import base64

        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        clip = {
            "x": 0,
            "y": 0,
            "width": 1400,
            "height": min(max(size["height"], 1000), max_height),
            "scale": 1,
        }
        data = self.send(
            "Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))


@pytest.fixture(scope="module")
def browser(airflow_server) -> Iterator[DevTools]:
    binary = _browser()
    if binary is None:
        pytest.skip(
            "no Chromium binary (chromium, chromium-browser or google-chrome) on PATH; "
            "scripts/test.sh installs Debian's chromium where apt is available"
        )
    profile = Path(tempfile.mkdtemp(prefix="srs-ui-chromium-"))
    process = subprocess.Popen(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=1400,1000",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    tools = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Chromium did not start (exit code {process.poll()})")
            time.sleep(0.2)
        port = int(port_file.read_text().splitlines()[0])
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = next(t for t in targets if t.get("type") == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        tools.send("Page.enable")
        tools.send("Network.enable")
        tools.send(
            "Emulation.setDeviceMetricsOverride",
            width=1400,
            height=1000,
            deviceScaleFactor=1,
            mobile=False,
        )
        # What Airflow's login leaves in a browser: the JWT in the `_token` cookie.
        tools.send(
            "Network.setCookie",
            name="_token",
            value=airflow_server.token("ops"),
            url=f"{airflow_server.base_url}/",
            path="/",
        )
        yield tools
    finally:
        if tools is not None:
            with contextlib.suppress(Exception):
                tools.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


def _check_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    assert len(data) > 10_000, f"{path} is only {len(data)} bytes: a blank page?"


def test_pages_render_in_a_browser(airflow_server, seeded, browser):
    base = airflow_server.base_url
    stats_id, blocked = seeded["ticket"].stats_id, seeded["blocked"].stats_id

    browser.open(f"{base}/srs/requests")
    text = browser.evaluate("document.body.innerText")
    assert stats_id in text and blocked in text and "Request queue" in text, text[:2000]
    assert "Signed in as ops" in text
    browser.screenshot(ARTIFACTS / "requests.png")
    _check_png(ARTIFACTS / "requests.png")

    browser.open(f"{base}/srs/requests/{stats_id}")
    text = browser.evaluate("document.body.innerText")
    assert stats_id in text, text[:2000]
    for expected in (
        "low_count",
        "energy_by_tenure_region.csv",
        SHA,
        "officer_alice",
        "Audit trail",
    ):
        assert expected in text, expected
    assert text.index("low_count") < text.index("dominance") < text.index("request_note")
    browser.screenshot(ARTIFACTS / "request.png")
    _check_png(ARTIFACTS / "request.png")


def test_nav_entry_frames_the_queue_in_airflow(airflow_server, seeded, browser):
    """The Airflow UI's own page for the nav entry frames the queue (same origin, same cookie)."""
    stats_id = seeded["ticket"].stats_id
    browser.open(f"{airflow_server.base_url}/plugin/srs-requests")
    framed = "(() => { const f = document.querySelector('iframe'); try { return f && f.contentDocument && f.contentDocument.body ? f.contentDocument.body.innerText : ''; } catch (e) { return ''; } })()"
    deadline = time.monotonic() + 60
    text = ""
    while time.monotonic() < deadline and stats_id not in text:
        time.sleep(0.5)
        text = browser.evaluate(framed) or ""
    assert stats_id in text, f"the framed queue never showed {stats_id}: {text[:500]!r}"
    outer = browser.evaluate("document.body.innerText") or ""
    if "Requests" not in outer:
        # With two entries ("Requests", "Sign-offs") Airflow files them under its Plugins menu.
        browser.evaluate(
            "[...document.querySelectorAll('button, a')].find(e => e.innerText.trim() === 'Plugins')?.click()"
        )
        time.sleep(1)
        outer = browser.evaluate("document.body.innerText") or ""
    assert "Requests" in outer and "Sign-offs" in outer, outer[:1000]  # the nav entries
    time.sleep(1)
    browser.screenshot(ARTIFACTS / "airflow-nav.png", max_height=1000)
    _check_png(ARTIFACTS / "airflow-nav.png")

    # A link to an Airflow page inside the frame opens in the UI itself, not a UI in the frame.
    browser.evaluate(
        "document.querySelector('iframe').contentDocument"
        ".querySelector('header a[data-airflow]').click()"
    )
    deadline = time.monotonic() + 20
    while (
        time.monotonic() < deadline and browser.evaluate("location.pathname") != "/required_actions"
    ):
        time.sleep(0.25)
    assert browser.evaluate("location.pathname") == "/required_actions"
    gone = "document.querySelector('iframe[title=\"Requests\"]') === null"
    while time.monotonic() < deadline and not browser.evaluate(gone):
        time.sleep(0.25)
    time.sleep(1)
    browser.screenshot(ARTIFACTS / "airflow-required-actions.png", max_height=1000)
    assert browser.evaluate(gone), browser.evaluate("document.body.innerText")[:1000]

    # The request page deep-linked inside the UI (the standalone page's "Open in Airflow").
    browser.open(f"{airflow_server.base_url}/plugin/srs-requests/srs/requests/{stats_id}")
    deadline = time.monotonic() + 60
    text = ""
    while time.monotonic() < deadline and "Check report" not in text:
        time.sleep(0.5)
        text = browser.evaluate(framed) or ""
    assert "Check report" in text and stats_id in text, text[:500]
    assert "Open in Airflow" not in text  # already in Airflow
