"""Views of a finished sweep: permalinks, downloads, point detail, lines and fits, derived axes, overlays."""

from __future__ import annotations

import csv
import io
import math
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def heat_z(dash: Any) -> Any:
    traces = dash.traces("phase-heatmap")
    return traces[0]["z"] if traces else None


def test_permalink_opens_the_same_view(dash: Any, small_sweep: dict[str, Any]) -> None:
    sid = small_sweep["id"]
    dash.open(f"?sweep={sid}&tab=phase&x=L&y=alpha&metric=init_deviation&agg=max&fixed=D:8,M:8")
    api = dash.api(f"/sweeps/{sid}/phase", x="L", y="alpha", metric="init_deviation", agg="max", fixed="D:8,M:8")
    dash.wait(lambda: dash.same_grid(heat_z(dash), api["z"]), 20, "the permalinked heatmap")
    page = dash.page
    assert page.get_by_label("x axis", exact=True).input_value() == "L"
    assert page.get_by_label("y axis", exact=True).input_value() == "alpha"
    assert page.get_by_label("colour by", exact=True).input_value() == "init_deviation"
    assert page.get_by_label("over seeds", exact=True).input_value() == "max"
    expect(page.get_by_test_id(f"sweep-item-{sid}")).to_have_class("sweep-item selected")

    # the page's own URL, reopened, gives the same figure
    url = page.url
    page.get_by_label("log colour scale").check()
    dash.wait(lambda: "log=1" in page.url, 5, "log in the URL")
    page.goto(url)
    dash.wait(lambda: dash.same_grid(heat_z(dash), api["z"]), 20, "the reopened heatmap")
    assert not page.get_by_label("log colour scale").is_checked()


def test_downloads_svg_png_csv(dash: Any, small_sweep: dict[str, Any], tmp_path: Any) -> None:
    sid = small_sweep["id"]
    dash.open(f"?sweep={sid}")
    dash.wait(lambda: heat_z(dash), 20, "the heatmap")
    page = dash.page
    with page.expect_download() as info:
        page.get_by_test_id("phase-heatmap-svg").click()
    svg = info.value
    assert svg.suggested_filename.endswith(".svg")
    svg.save_as(tmp_path / "fig.svg")
    text = (tmp_path / "fig.svg").read_text()
    assert "<svg" in text and "feature_update" in text

    with page.expect_download() as info:
        page.get_by_test_id("phase-regime-png").click()
    info.value.save_as(tmp_path / "fig.png")
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    with page.expect_download() as info:
        page.get_by_test_id("phase-heatmap-csv").click()
    info.value.save_as(tmp_path / "slice.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "slice.csv").read_text())))
    api = dash.api(f"/sweeps/{sid}/phase", x="alpha", y="L", metric="feature_update")
    assert len(rows) == 6
    assert math.isclose(float(rows[0]["feature_update"]), api["z"][0][0], rel_tol=1e-9)

    with page.expect_download() as info:
        page.get_by_test_id("sweep-export-csv").click()
    info.value.save_as(tmp_path / "sweep.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "sweep.csv").read_text())))
    assert len(rows) == 6 * 2 and rows[0]["sweep_id"] == str(sid)


def click_cell(dash: Any, div_id: str, col: int, row: int) -> None:
    """Click the centre of heatmap cell (row, col): Plotly's axes map index -> pixel."""
    x, y = dash.page.evaluate(
        """([id, col, row]) => { const gd = document.getElementById(id); const fl = gd._fullLayout;
             const box = gd.getBoundingClientRect();
             return [box.left + fl.xaxis._offset + fl.xaxis.l2p(col),
                     box.top + fl.yaxis._offset + fl.yaxis.l2p(row)]; }""",
        [div_id, col, row],
    )
    dash.page.mouse.click(x, y)


def test_point_detail_on_click(dash: Any, small_sweep: dict[str, Any]) -> None:
    sid = small_sweep["id"]
    dash.open(f"?sweep={sid}&x=alpha&y=L")
    dash.wait(lambda: heat_z(dash), 20, "the heatmap")
    api = dash.api(f"/sweeps/{sid}/phase", x="alpha", y="L", metric="feature_update")
    click_cell(dash, "phase-heatmap", 1, 0)
    page = dash.page
    point_id = api["point_id"][0][1]
    expect(page.get_by_test_id("detail-title")).to_contain_text(f"Point #{point_id}: α=1")
    assert f"point={point_id}" in page.url and "tab=detail" in page.url
    point = dash.api(f"/points/{point_id}")
    cells = page.locator("[data-testid=detail-metrics] tr[data-metric=feature_update] td").all_inner_texts()
    shown = [float(c) for c in cells[4:]]
    assert len(shown) == 2
    for got, want in zip(shown, point["metrics"]["feature_update"]["values"], strict=True):
        assert math.isclose(got, want, rel_tol=1e-3)
    loss = dash.wait(lambda: dash.traces("detail-loss"), 10, "the loss curve")
    assert sorted(t["meta"]["role"] for t in loss) == ["mean", "seed", "seed"]
    assert loss[-1]["y"] == point["curves"]["loss"]
    dash.shot("detail")


def test_lines_with_error_bars_and_fit(dash: Any, small_sweep: dict[str, Any]) -> None:
    sid = small_sweep["id"]
    dash.open(f"?sweep={sid}&tab=lines&lmetric=feature_update&along=alpha&group=L&pred=-1")
    api = dash.api(f"/sweeps/{sid}/phase", x="alpha", y="L", metric="feature_update")

    def data_lines() -> list[dict[str, Any]]:
        return [t for t in dash.traces("lines-plot") if (t["meta"] or {}).get("role") == "data"]

    lines = dash.wait(lambda: len(data_lines()) == 2 and data_lines(), 20, "two lines")
    for line, row, se in zip(lines, api["z"], api["stderr"], strict=True):
        assert line["y"] == row and line["error_y"]["array"] == se
    roles = [(t["meta"] or {}).get("role") for t in dash.traces("lines-plot")]
    assert "predicted" in roles
    page = dash.page
    dash.wait(lambda: "fit" in [(t["meta"] or {}).get("role") for t in dash.traces("lines-plot")], 20, "fit lines")
    expect(page.get_by_test_id("fit-table")).to_be_visible()
    page.get_by_label("one line per", exact=True).select_option("none")
    dash.wait(lambda: len(data_lines()) == 1, 20, "a single line")
    dash.shot("lines")


def test_derived_axes(dash: Any, small_sweep: dict[str, Any]) -> None:
    sid = small_sweep["id"]
    dash.open(f"?sweep={sid}&x={quote('L*M')}&y={quote('alpha/sqrt(D)')}")
    first = dash.wait(lambda: dash.traces("phase-heatmap"), 20, "the derived figure")[0]
    assert first["type"] == "scatter"
    assert sorted(set(first["x"])) == [16, 32]  # L*M with M = 8
    assert sorted(set(first["y"])) == [a / math.sqrt(8) for a in (0.25, 1, 4)]
    assert dash.roles("phase-regime")
    expect(dash.page.get_by_test_id("phase-note")).to_contain_text("Derived axes")
    dash.shot("derived")


def test_theory_overlays_and_custom_formula(dash: Any, small_sweep: dict[str, Any]) -> None:
    sid = small_sweep["id"]
    dash.open(f"?sweep={sid}&x=alpha&y=L")
    page = dash.page

    def overlays(div: str = "phase-heatmap") -> list[dict[str, Any]]:
        return [t for t in dash.traces(div) if (t["meta"] or {}).get("role") == "overlay"]

    dash.wait(lambda: len(overlays()) >= 2 and len(overlays("phase-regime")) >= 2, 20, "the mlu overlays")
    # alpha = 1 is the middle column (alpha in 0.25, 1, 4): the curve sits at index 1
    unit = [t for t in overlays() if t["meta"]["formula"].strip() == "1"]
    assert unit and all(math.isclose(x, 1.0) for x in unit[0]["x"])
    n = len(overlays())
    page.get_by_label("overlay formula", exact=True).fill("2*sqrt(L)")
    page.get_by_test_id("overlay-add").click()
    dash.wait(lambda: len(overlays()) == n + 1, 20, "the custom overlay")
    assert "f=alpha" in page.url
    dash.expect_failure(422, r"^/api/v1/theory/evaluate$")  # Q is no axis: the server says so
    page.get_by_label("overlay formula", exact=True).fill("sqrt(L*Q)")
    page.get_by_test_id("overlay-add").click()
    expect(page.get_by_test_id("overlay-error")).to_contain_text("Q")
    dash.shot("overlays")
