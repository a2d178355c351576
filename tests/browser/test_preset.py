"""A new user's first run: the alpha-phase preset from the form, filling in live with theory overlays."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_alpha_phase_preset_fills_in_live_then_cancel(dash: Any) -> None:
    page = dash.page
    dash.open()
    page.get_by_label("preset", exact=True).select_option("alpha-phase")
    page.get_by_label("preset size", exact=True).select_option("quick")
    page.get_by_test_id("preset-load").click()
    expect(page.get_by_label("sweep name", exact=True)).to_have_value("alpha-phase (quick)")
    preset = next(p for p in dash.api("/presets") if p["name"] == "alpha-phase")
    n_before = len(dash.api("/sweeps"))
    expect(page.get_by_test_id("form-summary")).to_contain_text("points")
    page.get_by_test_id("submit-sweep").click()
    dash.wait(lambda: len(dash.api("/sweeps")) == n_before + 1 and "sweep=" in page.url, 10, "the new sweep")
    sweep_id = int(page.url.split("sweep=")[1].split("&")[0])
    sweep = dash.api(f"/sweeps/{sweep_id}")
    assert sweep["axes"]["alpha"][0] == preset["quick"]["grid"]["alpha"]["geom"][0]

    # the first cells arrive in the heatmap, the regime map fills in, overlays are drawn over both
    def computed() -> int:
        z = dash.traces("phase-heatmap")[0]["z"]
        return sum(v is not None for row in z for v in row)

    # The first task also trains the references the cells compare to (9 alphas x 16 seeds of a
    # 256 x 256 network): 60-180 s on 2 CPU cores, then the other shapes follow within seconds.
    dash.wait(computed, 300, "the first computed cells in the heatmap")
    roles = dash.roles("phase-heatmap")
    assert "value" in roles and "status" in roles
    assert dash.roles("phase-regime")[0] == "regime"
    dash.wait(lambda: "overlay" in dash.roles("phase-heatmap") and "overlay" in dash.roles("phase-regime"), 20,
              "the theory overlays")
    dash.shot("live")

    # stop it from the list (the quick preset may already be done on a fast machine: then it stays finished)
    cancel = page.get_by_test_id(f"cancel-{sweep_id}")
    if dash.api(f"/sweeps/{sweep_id}")["state"] == "running" and cancel.is_visible():
        cancel.click()
        expect(page.get_by_test_id(f"sweep-state-{sweep_id}")).to_have_text(
            re.compile("cancelled|finished"), timeout=30000)
    else:
        expect(page.get_by_test_id(f"sweep-state-{sweep_id}")).to_have_text("finished", timeout=30000)
    live = {"queued", "running"}
    dash.wait(lambda: not live & {(t["meta"] or {}).get("cat") for t in dash.traces("phase-heatmap")}, 20,
              "no queued or running cells left in the figure")
    dash.shot("stopped")
