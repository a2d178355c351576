"""The Table view: the points table (sort, filter, pages), its link to the phase diagram (rows
ringed on the heatmap, a clicked cell selecting its row), and parallel coordinates whose brushing
filters the table. Against a live server and its worker, on a 60-point sweep."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import create_sweep, wait_finished
from tests.browser.test_views import click_cell, heat_z

pytestmark = pytest.mark.browser

# 10 log-spaced alphas x 6 evenly spaced depths (a log and a linear axis): 60 points, more than one page of 50
TABLE_SPEC: dict[str, Any] = {
    "name": "table fixture",
    "grid": {"alpha": {"geom": [0.25, 16, 10]}, "D": [8], "L": [2, 3, 4, 5, 6, 7], "M": [8]},
    "settings": {"seeds": 2, "steps": 3},
}


@pytest.fixture(scope="module")
def table_sweep(server: str) -> dict[str, Any]:
    return wait_finished(server, create_sweep(server, TABLE_SPEC)["id"], 180)


def shown_ids(dash: Any) -> list[int]:
    return [int(i) for i in dash.page.locator("#points-table tbody tr[data-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.id)")]


def api_ids(dash: Any, sid: int, **params: Any) -> list[int]:
    return [r["id"] for r in dash.api(f"/sweeps/{sid}/table", limit=50, **params)["items"]]


def open_table(dash: Any, sid: int) -> None:
    dash.open(f"?sweep={sid}&tab=table")
    expect(dash.page.get_by_test_id("table-range")).to_have_text("1–50 of 60 points")


def test_the_table_sorts_filters_and_pages(dash: Any, table_sweep: dict[str, Any]) -> None:
    sid, page = table_sweep["id"], dash.page
    open_table(dash, sid)
    assert shown_ids(dash) == api_ids(dash, sid)
    page.get_by_test_id("table-next").click()
    expect(page.get_by_test_id("table-range")).to_have_text("51–60 of 60 points")
    assert shown_ids(dash) == api_ids(dash, sid, offset=50)

    page.get_by_test_id("sort-feature_update").click()  # back to the first page, ascending
    expect(page.get_by_test_id("table-range")).to_have_text("1–50 of 60 points")
    dash.wait(lambda: shown_ids(dash) == api_ids(dash, sid, sort="feature_update"), 10, "ascending rows")
    page.get_by_test_id("sort-feature_update").click()
    dash.wait(lambda: shown_ids(dash) == api_ids(dash, sid, sort="feature_update", order="desc"), 10, "descending")
    assert page.locator("th", has=page.get_by_test_id("sort-feature_update")).get_attribute("aria-sort") == "descending"

    every = dash.api(f"/sweeps/{sid}/table", limit=100)["items"]
    regime, count = Counter(r["regime"] for r in every).most_common(1)[0]
    page.get_by_test_id("table-regime").get_by_label(regime.replace("_", " "), exact=True).check()
    expect(page.get_by_test_id("table-range")).to_contain_text(f"of {count} point")
    texts = page.locator("#points-table tbody tr td:nth-child(7)").all_inner_texts()
    assert set(texts) == {regime.replace("_", " ")}

    page.get_by_test_id("table-range-key").select_option("laziness")
    values = sorted(r["metrics"]["laziness"]["mean"] for r in every if r["regime"] == regime)
    lo = values[len(values) // 2]
    page.get_by_test_id("table-range-lo").fill(repr(lo))
    page.get_by_test_id("table-range-lo").press("Enter")
    want = sum(v >= lo for v in values)
    expect(page.get_by_test_id("table-range")).to_contain_text(f"of {want} point")
    assert sorted(shown_ids(dash)) == sorted(api_ids(dash, sid, regime=regime, where=f"laziness:{lo!r}:"))
    wide = "document.documentElement.scrollWidth"
    for width in (1400, 800):  # the wide table scrolls inside its panel: the page itself never gets wider
        page.set_viewport_size({"width": width, "height": 1100})
        dash.wait(lambda w=width: page.evaluate(wide) <= w, 5, f"no overflow at {width}")
        dash.shot(f"table-{width}")


def test_rows_and_cells_highlight_each_other(dash: Any, table_sweep: dict[str, Any]) -> None:
    sid, page = table_sweep["id"], dash.page
    phase = dash.api(f"/sweeps/{sid}/phase", x="alpha", y="L", metric="feature_update")
    # table -> phase: two rows selected, both cells ringed on the heatmap and the regime map
    open_table(dash, sid)
    picked = [phase["point_id"][0][2], phase["point_id"][3][5]]
    for pid in picked:
        page.get_by_test_id(f"row-{pid}").click()
        expect(page.get_by_test_id(f"row-{pid}")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_test_id("table-selected-count")).to_contain_text("2 selected")
    page.get_by_test_id("tab-phase").click()

    def ringed(div: str) -> Any:
        return next((t for t in dash.traces(div) if (t["meta"] or {}).get("role") == "selection"), None)

    ring = dash.wait(lambda: ringed("phase-heatmap"), 20, "the selection ring")
    assert sorted(ring["meta"]["ids"]) == sorted(picked)
    heat = dash.traces("phase-heatmap")[0]  # the cells' centres: (column 2, row 0) and (column 5, row 3)
    at = sorted(zip(ring["x"], ring["y"], strict=True))
    assert at == sorted([(heat["x"][2], heat["y"][0]), (heat["x"][5], heat["y"][3])])
    assert ringed("phase-regime") is not None
    dash.shot("phase-ringed")

    # phase -> table: a clicked cell selects its point alone; the table shows its row, selected
    dash.wait(lambda: heat_z(dash), 20, "the heatmap")
    heat = dash.traces("phase-heatmap")[0]
    click_cell(dash, "phase-heatmap", heat["x"][7], heat["y"][4])  # at the cell's centre (L is log-positioned)
    clicked = phase["point_id"][4][7]
    expect(page.get_by_test_id("detail-title")).to_contain_text(f"Point #{clicked}")
    page.get_by_test_id("tab-table").click()
    expect(page.get_by_test_id("table-range")).to_have_text("1–1 of 1 point")
    assert shown_ids(dash) == [clicked]
    expect(page.get_by_test_id(f"row-{clicked}")).to_have_class("selected")
    expect(page.get_by_test_id("table-only-selected")).to_be_checked()
    page.get_by_role("button", name="clear selection").click()
    expect(page.get_by_test_id("table-range")).to_have_text("1–50 of 60 points")


def test_parallel_coordinates_brushing_filters_the_table(dash: Any, table_sweep: dict[str, Any]) -> None:
    sid, page = table_sweep["id"], dash.page
    open_table(dash, sid)
    layout = dash.wait(lambda: page.evaluate(
        "() => { const gd = document.getElementById('parcoords'); return gd.layout && gd.layout.meta ? "
        "{meta: gd.layout.meta, margin: gd.layout.margin, xr: gd.layout.xaxis.range, yr: gd.layout.yaxis.range, "
        "ticks: gd.layout.annotations.filter(a => a.x === 0 && a.xanchor === 'right').map(a => a.text)} : null; }"),
        20, "the parallel coordinates")
    dims = layout["meta"]["dims"]
    assert [d["label"] for d in dims[:2]] == ["α", "L"] and "feature_update" in [d["label"] for d in dims]
    alpha, depth = dims[0], dims[1]
    assert alpha["log"] and not depth["log"]  # log-spaced alphas are drawn as log10 of the value
    assert abs(alpha["span"][0] - math.log10(0.25)) < 1e-9 and abs(alpha["span"][1] - math.log10(16)) < 1e-9
    assert depth["span"] == [2, 7]
    assert layout["ticks"][0] == "0.25" and layout["ticks"][-1] == "16"  # ticks at the grid's values
    lines = [t for t in dash.traces("parcoords") if (t["meta"] or {}).get("role") == "in"]
    assert sum(t["x"].count(None) for t in lines) == 60  # one polyline per point
    dash.shot("parcoords")

    # drag along the alpha axis from 0.31 to 0.69 of its height: alpha 1 to 4 (grid steps 3 to 6 of 9)
    box = page.locator("#parcoords").bounding_box()
    m, (y0, y1) = layout["margin"], layout["yr"]
    x0, x1 = layout["xr"]
    x = box["x"] + m["l"] + (0 - x0) / (x1 - x0) * (box["width"] - m["l"] - m["r"])  # the alpha axis, at x = 0
    y_at = lambda t: box["y"] + m["t"] + (y1 - t) / (y1 - y0) * (box["height"] - m["t"] - m["b"])  # noqa: E731
    page.mouse.move(x, y_at(0.31))
    page.mouse.down()
    page.mouse.move(x, y_at(0.5), steps=3)
    page.mouse.move(x, y_at(0.69), steps=3)
    page.mouse.up()
    want_alpha = [a for a in table_sweep["axes"]["alpha"] if 0.99 <= a <= 4.01]
    assert len(want_alpha) == 4
    expect(page.get_by_test_id("table-range")).to_have_text("1–24 of 24 points")
    expect(page.get_by_test_id("table-note")).to_contain_text("Brushed on the parallel coordinates: alpha")
    shown = dash.api(f"/sweeps/{sid}/table", ids=",".join(map(str, shown_ids(dash))), limit=100)["items"]
    assert sorted({r["alpha"] for r in shown}) == want_alpha
    greyed = [t for t in dash.traces("parcoords") if (t["meta"] or {}).get("role") == "out"]
    assert sum(t["x"].count(None) for t in greyed) == 36  # the others drawn grey
    dash.shot("parcoords-brushed")

    # a click on the axis clears its range: the whole sweep again
    page.mouse.click(x, y_at(0.5))
    expect(page.get_by_test_id("table-range")).to_have_text("1–50 of 60 points")
