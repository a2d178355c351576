"""The sweep list: live progress of a running sweep, the cancel and retry buttons."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# Slow on purpose (1000 steps of 16 networks at L = M = 256, D = 64): it is still running when cancelled.
SLOW_SPEC: dict[str, Any] = {
    "name": "slow sweep",
    "grid": {"alpha": [1, 2, 4, 8], "D": [64], "L": [256], "M": [256]},
    "settings": {"seeds": 4, "steps": 1000},
}


def test_progress_cancel_and_retry(dash: Any) -> None:
    page = dash.page
    sweep = dash.create_sweep(SLOW_SPEC)
    sid = sweep["id"]
    dash.open(f"?sweep={sid}")
    item = page.get_by_test_id(f"sweep-item-{sid}")
    expect(item).to_contain_text("slow sweep")
    # queued until the worker claims its points, then running
    expect(page.get_by_test_id(f"sweep-state-{sid}")).to_have_text("running", timeout=30000)
    expect(item.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "0")
    expect(item).to_contain_text("0/4")
    # queued and running cells are marked, never holes
    dash.wait(lambda: {"queued", "running"} & {(t["meta"] or {}).get("cat") for t in dash.traces("phase-heatmap")},
              20, "queued/running marks")
    dash.shot("running")

    page.get_by_test_id(f"cancel-{sid}").click()
    expect(page.get_by_test_id(f"sweep-state-{sid}")).to_have_text("cancelled", timeout=30000)
    expect(item.get_by_test_id("count-cancelled")).to_contain_text("4")
    dash.wait(lambda: "cancelled" in {(t["meta"] or {}).get("cat") for t in dash.traces("phase-heatmap")},
              20, "cancelled marks")

    page.get_by_test_id(f"retry-{sid}").click()
    # back in the queue (queued until the worker claims it again, then running)
    expect(page.get_by_test_id(f"sweep-state-{sid}")).to_have_text(re.compile("queued|running"), timeout=20000)
    expect(page.get_by_test_id(f"cancel-{sid}")).to_be_visible()
    page.get_by_test_id(f"cancel-{sid}").click()
    expect(page.get_by_test_id(f"sweep-state-{sid}")).to_have_text("cancelled", timeout=30000)
    dash.wait(lambda: dash.api(f"/sweeps/{sid}")["counts"].get("running", 0) == 0, 30, "the worker to stop")
