"""The new-sweep form: create a sweep, watch it complete, switch axes and metric; API errors by field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def fill_small_sweep(page: Any, alphas: str) -> None:
    page.get_by_label("sweep name", exact=True).fill("form sweep")
    page.get_by_label("alpha mode", exact=True).select_option("list")
    page.get_by_label("alpha values", exact=True).fill(alphas)
    page.get_by_label("D values", exact=True).fill("8")
    page.get_by_label("L values", exact=True).fill("2, 4")
    page.get_by_label("M values", exact=True).fill("8")
    page.get_by_label("steps K", exact=True).fill("5")
    page.get_by_label("seeds", exact=True).fill("2")


def test_create_sweep_through_form_and_watch_it(dash: Any) -> None:
    page = dash.page
    dash.open()
    fill_small_sweep(page, "0.5, 1, 2")
    expect(page.get_by_test_id("form-summary")).to_contain_text("6 points")
    expect(page.get_by_test_id("preview-alpha")).to_contain_text("0.5, 1, 2")
    page.get_by_test_id("submit-sweep").click()
    dash.wait(lambda: "sweep=" in page.url, 10, "the new sweep in the URL")
    sweep_id = int(page.url.split("sweep=")[1].split("&")[0])

    # every cell is present from the first draw on, computed or not (status layer + marks)
    first = dash.wait(lambda: dash.traces("phase-heatmap"), 20, "the first heatmap")
    assert len(first[0]["z"]) == 2 and len(first[0]["z"][0]) == 3
    expect(page.get_by_test_id(f"sweep-state-{sweep_id}")).to_have_text("finished", timeout=60000)
    api = dash.api(f"/sweeps/{sweep_id}/phase", x="alpha", y="L", metric="feature_update")
    assert api["status"] == [["done"] * 3] * 2
    dash.wait(lambda: dash.same_grid(dash.traces("phase-heatmap")[0]["z"], api["z"]), 20, "heatmap z == API z")
    expect(page.get_by_test_id(f"sweep-item-{sweep_id}")).to_contain_text("6 done")
    dash.shot("finished")

    # switch axes and metric: the figure follows, the URL too
    page.get_by_label("y axis", exact=True).select_option("alpha")
    page.get_by_label("x axis", exact=True).select_option("L")
    page.get_by_label("colour by", exact=True).select_option("loss_final")
    api2 = dash.api(f"/sweeps/{sweep_id}/phase", x="L", y="alpha", metric="loss_final")
    dash.wait(lambda: dash.same_grid(dash.traces("phase-heatmap")[0]["z"], api2["z"]), 20, "heatmap after switching")
    assert "x=L" in page.url and "y=alpha" in page.url and "metric=loss_final" in page.url
    regime = dash.traces("phase-regime")
    assert regime[0]["meta"]["role"] == "regime" and len(regime[0]["z"]) == 3
    dash.shot("switched")


def test_validation_errors_shown_next_to_fields(dash: Any) -> None:
    dash.expect_failure(422, r"^/api/v1/sweeps(/validate)?$")  # the API names the wrong fields with a 422
    page = dash.page
    dash.open()
    before = len(dash.api("/sweeps"))
    # a bad list item: one message, for the list branch of the axis, naming the item
    page.get_by_label("alpha mode", exact=True).select_option("list")
    page.get_by_label("alpha values", exact=True).fill("0.5, abc")
    expect(page.get_by_test_id("error-grid.alpha")).to_contain_text("value 2: Input should be a valid number")
    expect(page.get_by_test_id("error-grid.alpha")).not_to_contain_text("GeomRange")
    page.get_by_label("alpha values", exact=True).fill("0.5, 1")
    expect(page.get_by_test_id("error-grid.alpha")).to_be_empty()
    d_values = page.get_by_label("D values", exact=True)
    d_values.fill("5000")
    expect(page.get_by_test_id("error-grid.D")).to_contain_text("max_dim")
    expect(d_values).to_have_attribute("aria-invalid", "true")
    page.get_by_label("learning rate η", exact=True).fill("-1")
    expect(page.get_by_test_id("error-settings.lr")).to_contain_text("greater than 0")
    expect(page.get_by_test_id("form-summary")).to_contain_text("Not valid")
    dash.shot("errors")

    # schema errors (lr) come before limit checks (D) in the API: the submit shows the lr error
    page.get_by_test_id("submit-sweep").click()
    expect(page.get_by_test_id("error-settings.lr")).to_contain_text("greater than 0")
    assert len(httpx.get(f"{dash.base}/api/v1/sweeps").json()) == before

    d_values.fill("8")
    page.get_by_label("learning rate η", exact=True).fill("")
    expect(page.get_by_test_id("error-grid.D")).to_be_empty()
    expect(page.get_by_test_id("error-settings.lr")).to_be_empty()
    expect(page.get_by_test_id("form-summary")).to_contain_text("points")


def test_settings_inputs_are_built_from_meta(dash: Any) -> None:
    """Every setting GET /meta serves has its input (choices as a select with the same options),
    and a nested setting typed in the form reaches the API under its own path."""
    page = dash.page
    dash.expect_failure(422, r"^/api/v1/sweeps/validate$")  # the reference seeds of 0 below, on purpose
    dash.open()
    for f in dash.api("/meta")["run_settings"]:
        for one in [f, *(f.get("fields") or [])]:
            el = page.locator(f"#f-{one['name'].replace('.', '-')}")
            expect(el).to_have_count(1)
            if one["type"] == "choice":
                assert el.locator("option").evaluate_all("os => os.map((o) => o.value)") == one["choices"], one["name"]
    page.locator("summary", has_text="More settings").click()
    page.get_by_label("compare to the infinite-depth limit (reference run)", exact=True).check()
    seeds = page.get_by_label("reference seeds", exact=True)
    seeds.fill("0")
    expect(page.get_by_test_id("error-settings.reference.seeds")).to_contain_text("greater than or equal to 1")
    expect(seeds).to_have_attribute("aria-invalid", "true")
    page.get_by_label("control", exact=True).select_option("tied_units")
    seeds.fill("2")
    expect(page.get_by_test_id("error-settings.reference.seeds")).to_be_empty()
    expect(page.get_by_test_id("form-summary")).to_contain_text("points")
