"""Organising sweeps in the page, against a server with NO worker (`resphase api`: points stay
queued, so every state is set up deterministically): honest labels and bars (queued only,
failed, cancelled), the no-worker banner, the list updated in place (focus kept across polls,
the live region announcing changes only), tags, notes, search, delete with confirmation, and
pagination past 50. Screenshots at 1400 and 800 px."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from backend.settings import Settings
from backend.store import Database
from backend.store.points import claim, release
from benchmarks.servers import clean_env, free_port, resphase_command, start_process, stop_process, wait_http
from tests.browser.conftest import VIEWPORT, Dashboard

pytestmark = pytest.mark.browser


def _spec(name: str, m: int = 4, tags: list[str] | None = None) -> dict[str, Any]:
    return {"name": name, "tags": tags or [], "grid": {"alpha": [1, 2], "D": [4], "L": [2], "M": [m]},
            "settings": {"seeds": 1, "steps": 2}}


@pytest.fixture(scope="module")
def idle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(base URL, data dir) of an API with no worker: SQLite in its own data directory."""
    data = tmp_path_factory.mktemp("resphase-idle")
    port = free_port()
    log = data / "api.log"
    proc = start_process(resphase_command("api", "--data-dir", str(data), "--port", str(port)), clean_env(), log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/api/v1/health", 60, proc=proc, log=log)
        yield base, data
    finally:
        stop_process(proc, timeout=20)


@pytest.fixture
def dash(browser: Any, idle: tuple[str, Path], request: pytest.FixtureRequest) -> Iterator[Dashboard]:
    """The conftest's Dashboard on the worker-less server (fails the test on console errors)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(20000)
    d = Dashboard(page, idle[0], request.node.name)
    try:
        yield d
        d.assert_clean()
    finally:
        context.close()


def _fail_points(data: Path, sweep: dict[str, Any], base: str) -> None:
    """What a worker does whose every attempt fails: claim the points, release them on their last attempt."""
    ids = [p["id"] for p in httpx.get(f"{base}/api/v1/sweeps/{sweep['id']}/points", timeout=10).json()["items"]]
    db = Database.connect(Settings(data_dir=data).resolved_database_url)
    try:
        with db.session() as s:
            claim(s, ids, "doomed-worker", "h", "cpu", 60, 1)
            release(s, ids, "doomed-worker", "CUDA out of memory", 1)
    finally:
        db.dispose()


def _width(dash: Dashboard, sid: int, seg: str) -> float:
    return float(dash.page.get_by_test_id(f"sweep-bar-{sid}").locator(f"[data-seg={seg}]").evaluate(
        "el => el.getBoundingClientRect().width / el.parentElement.getBoundingClientRect().width"))


def test_labels_bars_and_the_no_worker_banner(dash: Dashboard, idle: tuple[str, Path]) -> None:
    base, data = idle
    queued = dash.create_sweep(_spec("only queued"))
    failed = dash.create_sweep(_spec("all failed", m=5))
    _fail_points(data, failed, base)
    cancelled = dash.create_sweep(_spec("cancelled", m=6))
    httpx.post(f"{base}/api/v1/sweeps/{cancelled['id']}/cancel", timeout=10).raise_for_status()
    dash.open(f"?sweep={queued['id']}")
    page = dash.page
    expect(page.get_by_test_id(f"sweep-state-{queued['id']}")).to_have_text("queued")
    expect(page.get_by_test_id(f"sweep-state-{failed['id']}")).to_have_text("finished with failures")
    expect(page.get_by_test_id(f"sweep-state-{cancelled['id']}")).to_have_text("cancelled")
    expect(page.get_by_test_id("sweep-label")).to_have_text("queued")  # the selected sweep's header too
    # bars by status: no green for failed or cancelled points, an empty track for queued ones
    assert _width(dash, failed["id"], "failed") == pytest.approx(1, abs=0.02)
    assert _width(dash, failed["id"], "done") == 0
    assert _width(dash, cancelled["id"], "cancelled") == pytest.approx(1, abs=0.02)
    assert sum(_width(dash, queued["id"], k) for k in ("done", "diverged", "failed", "cancelled", "running")) == 0
    times = page.get_by_test_id(f"sweep-times-{cancelled['id']}")
    expect(times).to_contain_text("0/2 computed")
    expect(times).to_contain_text("2 cancelled")
    expect(page.get_by_test_id(f"sweep-times-{queued['id']}")).to_contain_text("est.")
    bar = page.get_by_test_id(f"sweep-bar-{failed['id']}")
    expect(bar).to_have_attribute("aria-valuetext", "2 failed of 2 points")
    banner = page.get_by_test_id("worker-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("No worker is running")
    expect(banner).to_contain_text("queued point")
    for width in (1400, 800):
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(600)  # the figures follow the new width
        expect(banner).to_be_visible()
        dash.shot(f"labels-{width}")


def test_list_is_updated_in_place_focus_kept(dash: Dashboard) -> None:
    live = dash.create_sweep(_spec("keeps polling", m=7))  # queued: the page polls every second
    dash.open()
    page = dash.page
    item = page.get_by_test_id(f"sweep-item-{live['id']}")
    expect(item).to_be_visible()
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/api/v1/sweeps?" in r.url else None)
    item.focus()
    page.evaluate("document.activeElement.__marked = true")
    status = page.get_by_test_id("sweep-list-status")
    before = status.text_content()
    dash.wait(lambda: len(polls) >= 4, 15, "four polls")
    assert page.evaluate("document.activeElement.__marked === true && document.activeElement.isConnected")
    assert status.text_content() == before  # nothing changed: nothing announced
    # a change is announced, and focus stays on the same element
    httpx.post(f"{dash.base}/api/v1/sweeps/{live['id']}/cancel", timeout=10).raise_for_status()
    expect(status).to_contain_text(f"sweep #{live['id']} cancelled", timeout=10000)
    assert page.evaluate("document.activeElement.__marked === true")
    # the same holds for a button inside the list
    other = dash.create_sweep(_spec("focus on cancel", m=8))
    cancel = page.get_by_test_id(f"cancel-{other['id']}")
    expect(cancel).to_be_visible()
    cancel.focus()
    page.evaluate("document.activeElement.__marked2 = true")
    n = len(polls)
    dash.wait(lambda: len(polls) >= n + 3, 15, "three more polls")
    assert page.evaluate("document.activeElement.__marked2 === true")


def test_tags_notes_search_and_delete(dash: Dashboard) -> None:
    one = dash.create_sweep(_spec("alpha scan", m=9, tags=["mlu"]))
    two = dash.create_sweep(_spec("depth scan", m=10))
    dash.open(f"?sweep={two['id']}")
    page = dash.page
    api = f"{dash.base}/api/v1/sweeps"
    # tags: add two, remove one
    box = page.get_by_test_id("tag-input")
    for tag in ("plain", "lr-10"):
        box.fill(tag)
        box.press("Enter")
        expect(page.get_by_test_id("note-tags")).to_contain_text(tag)
    page.get_by_test_id("remove-tag-plain").click()
    dash.wait(lambda: httpx.get(f"{api}/{two['id']}").json()["tags"] == ["lr-10"], 10, "the tag removed")
    expect(page.get_by_test_id(f"sweep-tags-{two['id']}")).to_have_text("lr-10")
    # the note
    page.get_by_test_id("note-input").fill("depth 64 diverges at lr 10")
    page.get_by_test_id("note-save").click()
    expect(page.get_by_test_id("notes-status")).to_have_text("Note saved.")
    assert httpx.get(f"{api}/{two['id']}").json()["note"] == "depth 64 diverges at lr 10"
    page.wait_for_timeout(2500)  # polls do not overwrite it
    expect(page.get_by_test_id("note-input")).to_have_value("depth 64 diverges at lr 10")
    # search by name, by tag, and from a chip
    search = page.get_by_test_id("sweep-search")
    search.fill("DEPTH sc")
    expect(page.get_by_test_id(f"sweep-item-{one['id']}")).to_have_count(0)
    expect(page.get_by_test_id(f"sweep-item-{two['id']}")).to_be_visible()
    search.fill("tag:mlu")
    expect(page.get_by_test_id(f"sweep-item-{two['id']}")).to_have_count(0)
    expect(page.get_by_test_id(f"sweep-item-{one['id']}")).to_be_visible()
    search.fill("nothing like this")
    expect(page.get_by_test_id("sweep-list")).to_be_empty()
    expect(page.locator("#sweep-list-empty")).to_have_text("No sweep matches this search.")
    search.fill("")
    page.get_by_test_id(f"sweep-tags-{two['id']}").get_by_text("lr-10").click()
    expect(search).to_have_value("tag:lr-10")
    expect(page.get_by_test_id(f"sweep-item-{one['id']}")).to_have_count(0)
    for width in (1400, 800):
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(600)  # the figures follow the new width
        dash.shot(f"notes-{width}")
    # delete: the dialog asks; keeping it keeps it, confirming removes it
    dash.expect_failure(404, r"/api/v1/sweeps/\d+$")  # a poll in flight may still ask for it
    page.get_by_test_id("sweep-delete").click()
    dialog = page.get_by_test_id("delete-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"#{two['id']} depth scan")
    page.get_by_test_id("delete-cancel").click()
    expect(dialog).to_be_hidden()
    assert httpx.get(f"{api}/{two['id']}").status_code == 200
    page.get_by_test_id("sweep-delete").click()
    page.get_by_test_id("delete-confirm").click()
    dash.wait(lambda: httpx.get(f"{api}/{two['id']}").status_code == 404, 10, "the sweep deleted")
    expect(page.get_by_test_id(f"sweep-item-{two['id']}")).to_have_count(0)
    expect(page.get_by_test_id("sweep-notes")).to_be_hidden()


def test_pages_past_50(dash: Dashboard) -> None:
    for i in range(52):
        dash.create_sweep(_spec(f"bulk {i}", m=11 + i % 3))
    total = int(httpx.get(f"{dash.base}/api/v1/sweeps", params={"limit": 1}).headers["X-Total-Count"])
    assert total > 52
    dash.open()
    page = dash.page
    items = page.locator("#sweep-list > li")
    expect(page.get_by_test_id("sweep-page-range")).to_have_text(f"1–50 of {total}")
    expect(items).to_have_count(50)
    page.get_by_test_id("sweep-page-next").click()
    expect(page.get_by_test_id("sweep-page-range")).to_have_text(f"51–{min(100, total)} of {total}")
    expect(items).to_have_count(min(50, total - 50))
    page.get_by_test_id("sweep-page-prev").click()
    expect(items).to_have_count(50)
    expect(page.get_by_test_id("sweep-page-prev")).to_be_disabled()
