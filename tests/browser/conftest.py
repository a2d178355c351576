"""Browser tests: a live `resphase up` on a free port, driven through the system Chromium.

Fixtures:
- `server`: session-scoped base URL of a real server (API + one Celery worker, SQLite and the
  filesystem broker in a temporary data directory), stopped with SIGTERM at the end;
- `browser`: one headless Chromium (/usr/bin/chromium, never a downloaded one) for the session;
- `dash`: a fresh page (own context, downloads accepted) wrapped in `Dashboard`, with helpers to
  read Plotly figures, call the API and save screenshots to test-artifacts/. It records console
  errors, uncaught exceptions, CSP violations and every response of 400 or more, and fails the
  test on any of them, except the failures a test declares with `dash.expect_failure`.
- `small_sweep`: a 3 x 2 sweep (alpha x L, D = M = 8, 2 seeds, 5 steps) created through the API
  and finished before the tests that only read results;
- `dscaling_sweep`: the quick D-scaling preset exactly as GET /presets gives it (a sweep that runs a
  preset, so it has claims; 5 points, seconds on 2 cores), finished;
- `near_floor_sweep`: a 3 x 2 sweep (L x M) against a tiny reference (L = M = 8, 2 seeds) whose
  noise floor is large, so most cells' err_out is within 3x of it (near_floor), finished.

Every test here is marked `browser`. Without /usr/bin/chromium they are skipped, with the reason;
under CI (CI=true) they fail instead, so that a CI image without Chromium cannot pass silently.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from benchmarks.servers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    clean_env,
    free_port,
    has_worker,
    resphase_command,
    start_process,
    stop_process,
    wait_http,
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
VIEWPORT = {"width": 1500, "height": 1100}
SMALL_SPEC: dict[str, Any] = {
    "name": "browser fixture",
    "grid": {"alpha": [0.25, 1, 4], "D": [8], "L": [2, 4], "M": [8]},
    "settings": {"seeds": 2, "steps": 5},
}

NEAR_FLOOR_SPEC: dict[str, Any] = {
    "name": "near-floor fixture",
    "grid": {"alpha": [1], "D": [8], "L": [2, 4, 8], "M": [4, 8]},
    "settings": {"seeds": 2, "steps": 5, "reference": {"L": 8, "M": 8, "seeds": 2}},
}

NO_CHROMIUM = f"no Chromium at {CHROMIUM}: the browser tests drive the system Chromium"
FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of \d+")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason=NO_CHROMIUM)
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if not os.path.exists(CHROMIUM) and not in_ci():
                item.add_marker(skip)  # under CI the `browser` fixture fails them instead


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("resphase-data")
    port = free_port()
    log = data / "server.log"
    # embedded mode, no token: no RESPHASE_* variable of the calling shell
    proc = start_process(resphase_command("up", "--data-dir", str(data), "--port", str(port)), clean_env(), log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/api/v1/health", 90, ready=has_worker, proc=proc, log=log)
        yield base
    finally:
        stop_process(proc, timeout=20)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):  # only reached under CI: elsewhere the tests are skipped
        pytest.fail(f"{NO_CHROMIUM} (CI is set: a missing browser fails the run instead of skipping it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def wait_until(fn: Callable[[], Any], timeout: float = 30, interval: float = 0.2, what: str = "condition",
               sleep: Callable[[float], None] = time.sleep) -> Any:
    """Poll fn() until it returns something truthy; its last exception or value explains a timeout.
    With a page, `sleep` must be the page's own wait (it keeps Playwright's events flowing)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
            last = value
        except Exception as exc:  # the page may be mid-redraw
            last = exc
        sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def same_grid(a: list[list[Any]] | None, b: list[list[Any]]) -> bool:
    """Equal cell by cell (None where the API has null, numbers to 1e-12)."""
    if a is None or len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        if len(ra) != len(rb):
            return False
        for va, vb in zip(ra, rb, strict=True):
            if (va is None) != (vb is None) or (va is not None and abs(va - vb) > 1e-12 * max(1.0, abs(vb))):
                return False
    return True



class Dashboard:
    """A page of the dashboard plus helpers; `errors` collects console errors and page exceptions."""

    def __init__(self, page: Any, base: str, name: str) -> None:
        self.page, self.base, self.name = page, base, name
        self.errors: list[str] = []
        self.expected: list[tuple[int, re.Pattern[str]]] = []
        page.on("console", self._on_console)
        page.on("response", self._on_response)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def expect_failure(self, status: int, path: str) -> None:
        """Let responses of `status` to URLs whose path matches the regex `path` pass this test (a
        request the test makes fail on purpose, such as an invalid formula answered with 422)."""
        self.expected.append((status, re.compile(path)))

    def _on_response(self, response: Any) -> None:
        if response.status < 400:
            return
        path = urlsplit(response.url).path
        if not any(response.status == code and rx.search(path) for code, rx in self.expected):
            self.errors.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    def _on_console(self, msg: Any) -> None:
        if msg.type != "error" or FAILED_LOAD.match(msg.text):  # a failed load: judged by _on_response
            return
        url = (msg.location or {}).get("url", "")
        self.errors.append(f"console: {msg.text} ({url})")

    # navigation and API
    def open(self, query: str = "") -> None:
        self.page.goto(f"{self.base}/{query}")
        self.page.wait_for_selector("body[data-ready='1']", timeout=20000)

    def api(self, path: str, **params: Any) -> Any:
        r = httpx.get(f"{self.base}/api/v1{path}", params=params, timeout=10)
        r.raise_for_status()
        return r.json()

    same_grid = staticmethod(same_grid)

    def wait(self, fn: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
        return wait_until(fn, timeout, 0.2, what, lambda s: self.page.wait_for_timeout(s * 1000))

    def create_sweep(self, spec: dict[str, Any]) -> dict[str, Any]:
        return create_sweep(self.base, spec)

    def wait_finished(self, sweep_id: int, timeout: float = 60) -> dict[str, Any]:
        return wait_finished(self.base, sweep_id, timeout)

    # figures
    def traces(self, div_id: str) -> list[dict[str, Any]]:
        return self.page.evaluate(
            """id => { const gd = document.getElementById(id);
                 if (!gd || !gd.data) return [];
                 return gd.data.map(t => ({type: t.type, name: t.name, meta: t.meta || null, x: t.x, y: t.y,
                                           z: t.z || null, error_y: t.error_y || null})); }""",
            div_id,
        )

    def roles(self, div_id: str) -> list[str]:
        return [(t["meta"] or {}).get("role", "") for t in self.traces(div_id)]

    def shot(self, label: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_clean(self) -> None:
        csp = self.page.evaluate("window.__cspViolations || []")
        assert not csp, f"CSP violations: {csp}"
        assert not self.errors, "failed requests and console errors:\n" + "\n".join(self.errors)


@pytest.fixture
def dash(browser: Any, server: str, request: pytest.FixtureRequest) -> Iterator[Dashboard]:
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20000)
    d = Dashboard(page, server, request.node.name)
    try:
        yield d
        d.assert_clean()
    finally:
        context.close()


def create_sweep(base: str, spec: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(f"{base}/api/v1/sweeps", json=spec, timeout=30)
    r.raise_for_status()
    return r.json()


def wait_finished(base: str, sweep_id: int, timeout: float = 60) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        s = httpx.get(f"{base}/api/v1/sweeps/{sweep_id}", timeout=10).json()
        return s if s["state"] != "running" else None

    return wait_until(done, timeout, 0.3, f"sweep {sweep_id} to finish")


@pytest.fixture(scope="session")
def small_sweep(server: str) -> dict[str, Any]:
    created = create_sweep(server, SMALL_SPEC)
    return wait_finished(server, created["id"])


@pytest.fixture(scope="session")
def dscaling_sweep(server: str) -> dict[str, Any]:
    presets = httpx.get(f"{server}/api/v1/presets", timeout=10).json()
    spec = next(p for p in presets if p["name"] == "D-scaling")["quick"]
    created = create_sweep(server, spec)
    return wait_finished(server, created["id"], 180)


@pytest.fixture(scope="session")
def near_floor_sweep(server: str) -> dict[str, Any]:
    created = create_sweep(server, NEAR_FLOOR_SPEC)
    return wait_finished(server, created["id"], 180)
