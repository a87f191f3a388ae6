"""Real headless Chromium through Airflow's own UI, as people use it (Playwright for Python).

Playwright drives the machine's Chromium (Debian's ``chromium``, which ``scripts/test.sh``
installs on CI); Playwright's own browser downloads are never used. Every person gets their own
browser context (own cookies), logs in through Airflow's login page (SimpleAuthManager), and
answers Required Actions by typing into the form and clicking its option buttons.

Fixtures (import them into a test module):

- ``chromium``: the browser, once per session; skips with the reason when no Chromium is found.
- ``browser_as``: ``browser_as("officer_alice")`` -> a ``Page`` logged in as that person. At the
  end of the test a screenshot of each page is kept (``<test>--<user>--last.png``), so a failure
  always leaves what the person saw last.

Helpers: :func:`login`, :func:`open_required_action`, :func:`field`, :func:`fill_field`,
:func:`choose`, :func:`wait_for_text`, :func:`screenshot`.

Screenshots go to ``test-artifacts/browser/`` (ignored by git; CI keeps the folder).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from tests.fixtures.airflow_server import password_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)
VIEWPORT = {"width": 1400, "height": 1000}
TIMEOUT_MS = 30_000  # any single wait for the page (navigation, an element, a click)


def chromium_executable() -> str | None:
    """The machine's Chromium (or Chrome), or None."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    executable = chromium_executable()
    if executable is None:
        pytest.skip(
            "no Chromium binary (chromium, chromium-browser or google-chrome) on PATH; "
            "scripts/test.sh installs Debian's chromium where apt is available"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=list(CHROMIUM_ARGS), headless=True, timeout=60_000
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_as(
    chromium: Browser, airflow_server, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Page]]:
    """``browser_as(user)``: a page logged in through Airflow's login page as ``user``."""
    opened: list[tuple[str, Page]] = []

    def open_as(user: str, password: str | None = None) -> Page:
        context = chromium.new_context(viewport=VIEWPORT, base_url=airflow_server.base_url)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        opened.append((user, page))
        login(page, airflow_server.base_url, user, password or password_for(user))
        return page

    try:
        yield open_as
    finally:
        for user, page in opened:
            with contextlib.suppress(Exception):
                screenshot(page, f"{_slug(request.node.name)}--{user}--last")
            with contextlib.suppress(Exception):
                page.context.close()


# --- what a person does --------------------------------------------------------------------------


def login(page: Page, base_url: str, user: str, password: str) -> None:
    """Log in through Airflow's own login page (SimpleAuthManager's), as a person does."""
    page.goto(f"{base_url}/")  # the UI sends anyone without a session to its login page
    page.wait_for_url(re.compile(r"/auth/login"))
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    try:
        page.wait_for_url(lambda url: "/auth/login" not in url)
    except Exception as exc:
        raise AssertionError(
            f"login as {user!r} did not leave the login page: {page.inner_text('body')[:500]}"
        ) from exc
    if not any(c["name"] == "_token" for c in page.context.cookies()):
        raise AssertionError(f"login as {user!r} set no _token cookie")


def required_action_url(
    base_url: str, dag_id: str, run_id: str, task_id: str, map_index: int = -1
) -> str:
    """The task instance's *Required Action* tab in Airflow 3.3's UI."""
    path = f"/dags/{quote(dag_id)}/runs/{quote(run_id)}/tasks/{quote(task_id)}"
    if map_index >= 0:
        path += f"/mapped/{map_index}"
    return f"{base_url}{path}/required_actions"


def open_required_action(
    page: Page, dag_id: str, run_id: str, task_id: str, map_index: int = -1
) -> None:
    """Open the Required Action of one task instance and wait until its form is drawn."""
    base = re.match(r"https?://[^/]+", page.url)
    page.goto(
        required_action_url(base.group(0) if base else "", dag_id, run_id, task_id, map_index)
    )
    page.locator(_OPTION).first.wait_for(state="visible")


def field(page: Page, title: str) -> Locator:
    """The input of the form field whose label is ``title`` (a textarea for multi-line text)."""
    label = page.locator('[data-scope="field"][data-part="label"]').filter(
        has_text=re.compile(rf"^\s*{re.escape(title)}\s*\*?\s*$")
    )
    root = page.locator('[data-scope="field"][data-part="root"]').filter(has=label)
    count = root.count()
    if count != 1:
        titles = page.locator('[data-scope="field"][data-part="label"]').all_inner_texts()
        raise AssertionError(f"{count} form fields titled {title!r}; the form has {titles}")
    return root.locator("textarea, input:not([type=hidden])").first


def fill_field(page: Page, title: str, text: str) -> None:
    """Type ``text`` into the field titled ``title`` (replacing what it held)."""
    box = field(page, title)
    box.click()
    box.fill(text)
    got = box.input_value()
    if got != text:
        raise AssertionError(f"field {title!r} holds {got!r} after typing {text!r}")


def choose(page: Page, option: str, timeout: float = 30) -> None:
    """Click the option button ``option`` and wait until the page says the response was received."""
    button = page.get_by_test_id(f"hitl-option-{option}")
    deadline = time.monotonic() + timeout
    while button.is_disabled():
        if time.monotonic() > deadline:
            required = page.locator("textarea[required], input[required]").evaluate_all(
                "els => els.filter(e => !e.value).map(e => e.name)"
            )
            raise AssertionError(
                f"the {option!r} button stays disabled; empty required fields: {required}"
            )
        time.sleep(0.2)
    button.click()
    page.get_by_text(re.compile(r"Response received")).first.wait_for(state="visible")


def wait_for_text(
    page: Page, text: str | re.Pattern[str], timeout: float = 90, reload_every: float = 3
) -> str:
    """Reload until the page's text shows ``text`` (as a person presses F5); the page text."""
    deadline = time.monotonic() + timeout
    while True:
        body = page.inner_text("body")
        found = text.search(body) if isinstance(text, re.Pattern) else text in body
        if found:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not on {page.url} after {timeout}s:\n{body[-2000:]}")
        time.sleep(reload_every)
        page.reload()
        with contextlib.suppress(Exception):
            page.locator(_OPTION).first.wait_for(state="visible", timeout=10_000)


def screenshot(page: Page, name: str) -> Path:
    """Keep the whole page as ``test-artifacts/browser/<name>.png``."""
    path = ARTIFACTS / f"{_slug(name)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Airflow's UI scrolls inside its own panels, not the document: grow the window to the
    # tallest panel's content for the picture, then put it back.
    tallest = page.evaluate(
        """() => Math.max(document.documentElement.scrollHeight, ...[...document.querySelectorAll('*')]
            .filter(e => /(auto|scroll)/.test(getComputedStyle(e).overflowY))
            .map(e => e.scrollHeight - e.clientHeight + window.innerHeight))"""
    )
    size = page.viewport_size or VIEWPORT
    page.set_viewport_size({"width": size["width"], "height": int(min(max(tallest, 600), 3000))})
    try:
        page.wait_for_timeout(300)  # let the layout settle at the new height
        try:
            page.screenshot(path=str(path), animations="disabled", caret="hide", timeout=30_000)
        except Exception:  # a busy machine: the window as it is is still worth keeping
            page.set_viewport_size(size)
            page.screenshot(path=str(path), animations="disabled", caret="hide", timeout=30_000)
    finally:
        page.set_viewport_size(size)
    return path


_OPTION = '[data-testid^="hitl-option-"]'


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")
