"""Browser tests: a live `resphase up` on a free port, driven through the system Chromium.

Fixtures:
- `server`: session-scoped base URL of a real server (API + one Celery worker, SQLite and the
  filesystem broker in a temporary data directory), stopped with SIGTERM at the end;
- `browser`: one headless Chromium (/usr/bin/chromium, never a downloaded one) for the session;
- `dash`: a fresh page (own context, downloads accepted) wrapped in `Dashboard`, with helpers to
  read Plotly figures, call the API and save screenshots to test-artifacts/. It records console
  errors, uncaught exceptions and CSP violations, and fails the test on any of them.
- `small_sweep`: a 3 x 2 sweep (alpha x L, D = M = 8, 2 seeds, 5 steps) created through the API
  and finished before the tests that only read results;
- `dscaling_sweep`: the quick D-scaling preset exactly as GET /presets gives it (a sweep that runs a
  preset, so it has claims; 5 points, seconds on 2 cores), finished;
- `near_floor_sweep`: a 3 x 2 sweep (L x M) against a tiny reference (L = M = 8, 2 seeds) whose
  noise floor is large, so most cells' err_out is within 3x of it (near_floor), finished.

Every test here is marked `browser`; all of them are skipped when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
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

# Failed requests the page makes on purpose, which Chromium logs as console errors:
# 422 while the user types an invalid sweep or formula, and 404 of the analysis endpoints a
# server may not have yet (the page hides those panels). Anything else fails the test.
ALLOWED_FAILURES = [
    (422, re.compile(r"/api/v1/(sweeps/validate|sweeps|theory/evaluate)(\?|$)")),
    (404, re.compile(r"/api/v1/(presets|theory/overlays|theory/evaluate|sweeps/\d+/(fit|boundaries|claims))(\?|$)")),
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}: the browser tests drive the system Chromium")
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if not os.path.exists(CHROMIUM):
                item.add_marker(skip)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"resphase up exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            health = httpx.get(f"{base}/api/v1/health", timeout=2).json()
            if health.get("workers", {}).get("count", 0) >= 1:
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"resphase up not healthy after {timeout}s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own process group (start_new_session)
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    data = tmp_path_factory.mktemp("resphase-data")
    port = _free_port()
    log = data / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESPHASE_")}  # embedded mode, no token
    exe = Path(sys.executable).with_name("resphase")
    cmd = [str(exe), "up", "--data-dir", str(data), "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc, log)
        yield base
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

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
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _on_console(self, msg: Any) -> None:
        if msg.type != "error":
            return
        url = (msg.location or {}).get("url", "")
        status = re.search(r"status of (\d+)", msg.text)
        if status and any(int(status.group(1)) == code and rx.search(url) for code, rx in ALLOWED_FAILURES):
            return
        self.errors.append(f"console: {msg.text} ({url})")

    # navigation and API
    def open(self, query: str = "") -> None:
        self.page.goto(f"{self.base}/{query}")
        self.page.wait_for_selector("body[data-ready='1']", timeout=20000)

    def api(self, path: str, **params: Any) -> Any:
        r = httpx.get(f"{self.base}/api/v1{path}", params=params, timeout=10)
        r.raise_for_status()
        return r.json()

    def has_endpoint(self, path: str) -> bool:
        r = httpx.get(f"{self.base}/api/v1{path}", timeout=10)
        return not (r.status_code == 404 and r.json().get("detail") == "Not Found")

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
        assert not self.errors, "console errors:\n" + "\n".join(self.errors)


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
