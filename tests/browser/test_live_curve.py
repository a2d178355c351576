"""The point detail while the point trains: the loss so far (GET /points/{id}/progress) is drawn
and grows; cancelled, the point says so (tests/test_progress.py checks the curve against the final
one with a point trained to the end)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# one point of ~60 s on one CPU worker (a quiet 2-core machine; L = 128, M = 64 and then L = 256,
# M = 128 finished between two progress writes once the engine got faster): many progress writes (every
# ~2 s) before it would finish; the test cancels it once the curve has grown
LONG: dict[str, Any] = {"name": "long point", "grid": {"alpha": [1], "D": [64], "L": [512], "M": [256]},
                        "settings": {"seeds": 2, "steps": 1000}}

LIVE = """() => { const gd = document.getElementById('detail-live');
  if (!gd || gd.hidden || !gd.data) return null;
  return {step: Number(gd.dataset.step), n: gd.data.length, x: gd.data[0].x.length}; }"""


def test_the_detail_draws_the_loss_while_the_point_trains(dash: Any) -> None:
    sweep = dash.create_sweep(LONG)
    pid = dash.api(f"/sweeps/{sweep['id']}/points")["items"][0]["id"]
    page = dash.page
    dash.open(f"?sweep={sweep['id']}&tab=detail&point={pid}")
    first = dash.wait(lambda: page.evaluate(LIVE), 60, "the first partial curve")
    assert first["n"] == 2 and first["step"] < 1000  # one line per seed, before the end
    expect(page.get_by_test_id("detail-live-status")).to_contain_text("Training: step")
    later = dash.wait(lambda: (r := page.evaluate(LIVE)) and r["step"] > first["step"] + 20 and r, 60, "a longer curve")
    dash.shot("live")
    assert later["x"] >= first["x"] or later["x"] == 200
    # cancelled: the worker stops between two steps, its progress is removed, the detail says so
    assert httpx.post(f"{dash.base}/api/v1/sweeps/{sweep['id']}/cancel", timeout=30).status_code == 200
    expect(page.get_by_test_id("detail-live-status")).to_contain_text("status: cancelled", timeout=30000)
