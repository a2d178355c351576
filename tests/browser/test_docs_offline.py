"""The API docs (/docs: Swagger UI, /redoc: ReDoc) render from the server's own files, offline and
under the same content security policy as the page: every request stays on the server's origin,
and no CSP violation, console error or uncaught exception happens (the `dash` fixture fails on those)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser

# Collects CSP violations before any of the page's scripts run (Dashboard.assert_clean reads them).
RECORD_CSP = """window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__cspViolations.push(`${e.violatedDirective}: ${e.blockedURI}`));"""

# A route every build of the API has, and its operation's summary as the docs show it.
KNOWN_PATH = "/api/v1/sweeps/{sweep_id}/phase"


def _record_requests(dash: Any) -> list[str]:
    """Every URL the page asks for; anything not on 127.0.0.1 is also aborted (a CDN would fail
    offline anyway; aborting keeps the test from depending on the network either way)."""
    urls: list[str] = []
    dash.page.on("request", lambda req: urls.append(req.url))

    def guard(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            route.abort()

    dash.page.route("**/*", guard)
    dash.page.add_init_script(RECORD_CSP)
    return urls


def _assert_local(urls: list[str], base: str) -> None:
    assert urls, "no request recorded"
    foreign = [u for u in urls if urlsplit(u).scheme not in ("data", "blob") and not u.startswith(base + "/")]
    assert not foreign, f"requests that left the server: {foreign}"


def test_swagger_ui_renders_offline_under_the_csp(dash: Any) -> None:
    urls = _record_requests(dash)
    response = dash.page.goto(f"{dash.base}/docs")
    assert response is not None and response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    dash.page.wait_for_selector(f".opblock-summary-path[data-path='{KNOWN_PATH}']", timeout=20000)
    paths = dash.page.eval_on_selector_all(".opblock-summary-path", "els => els.map(e => e.dataset.path)")
    assert "/api/v1/sweeps" in paths and len(paths) >= 10, paths
    assert any(u.endswith("/vendor/apidocs/swagger-ui-bundle.js") for u in urls)
    assert any(u.endswith("/api/v1/openapi.json") for u in urls)
    _assert_local(urls, dash.base)
    dash.shot("swagger")


def test_redoc_renders_offline_under_the_csp(dash: Any) -> None:
    urls = _record_requests(dash)
    response = dash.page.goto(f"{dash.base}/redoc")
    assert response is not None and response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    # ReDoc draws one section per operation, with the operation's path in its request panel.
    dash.page.wait_for_selector("[data-section-id^='operation/']", state="attached", timeout=30000)
    dash.wait(lambda: KNOWN_PATH in dash.page.inner_text("body"), what=f"{KNOWN_PATH} in the ReDoc page")
    assert any(u.endswith("/vendor/apidocs/redoc.standalone.js") for u in urls)
    assert any(u.endswith("/api/v1/openapi.json") for u in urls)
    _assert_local(urls, dash.base)
    dash.shot("redoc")
