"""Views that know the sweep: the default view of each preset's grid shape, Back and Forward between
views, "not found" and reset URL parameters, the zoom in the URL, non-finite overlays, the overlay
palette and legend, coincident derived cells, and dark mode (Playwright's color_scheme="dark")."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import VIEWPORT, Dashboard

pytestmark = pytest.mark.browser

# A depth-width sweep in miniature, named as the preset names its quick size (so the page knows its
# preset and opens it on err_out over L and M): L*M = 16 from (2, 8) and (4, 4), a coincident cell.
TINY_DEPTH_WIDTH: dict[str, Any] = {
    "name": "depth-width (quick)",
    "grid": {"alpha": [1], "D": [8], "L": [2, 4], "M": [4, 8]},
    "settings": {"seeds": 2, "steps": 5, "reference": {"L": 16, "M": 8, "seeds": 2}},
}


OVERLAY_TRACES = "document.getElementById('phase-heatmap').data.filter(t => t.meta && t.meta.role === 'overlay')"
VALUE_TRACE = "document.getElementById('phase-heatmap').data.find(t => t.meta && t.meta.role === 'value')"


def value_of(dash: Dashboard, label: str) -> str:
    return str(dash.page.get_by_label(label, exact=True).input_value())


def heat_shape(dash: Dashboard) -> tuple[int, int] | None:
    traces = dash.traces("phase-heatmap")
    if not traces or traces[0]["type"] != "heatmap":
        return None
    z = traces[0]["z"]
    return len(z), len(z[0])


@pytest.fixture(scope="module")
def tiny_depth_width(server: str) -> dict[str, Any]:
    created = httpx.post(f"{server}/api/v1/sweeps", json=TINY_DEPTH_WIDTH, timeout=30).json()
    return wait_done(server, created["id"])


def wait_done(server: str, sid: int) -> dict[str, Any]:
    from tests.browser.conftest import wait_finished

    return wait_finished(server, sid, 180)


def preset_shapes(server: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{server}/api/v1/presets", timeout=10).json())


def test_default_view_of_each_preset_shape(dash: Dashboard) -> None:
    """Each preset's quick grid (as a sweep of that name, 1 seed, 3 steps, no reference, cancelled
    after the look) opens on its recommended x and y: a 2-D grid where the preset varies two axes,
    and Lines & fits along the axis the preset varies. Without a reference err_out gives way to feature_update."""
    for p in preset_shapes(dash.base):
        spec = {**p["quick"], "refine": None,
                "settings": {**p["quick"]["settings"], "seeds": 1, "steps": 3, "reference": None}}
        s = dash.create_sweep(spec)
        try:
            dash.open(f"?sweep={s['id']}")
            view = p["view"]
            axes = s["axes"]
            want_xy = (view["x"], view["y"])
            dash.wait(lambda: (value_of(dash, "x axis"), value_of(dash, "y axis")) == want_xy,  # noqa: B023
                      20, f"{p['name']}: its view")
            shape = dash.wait(lambda: heat_shape(dash), 20, f"{p['name']}: the heatmap")
            assert shape == (len(axes[view["y"]]), len(axes[view["x"]])), p["name"]
            varied = [a for a in ("alpha", "D", "L", "M") if len(axes[a]) > 1]
            if len(varied) >= 2:
                assert shape[0] > 1 and shape[1] > 1, (p["name"], shape)
            else:
                assert view["x"] == varied[0], p["name"]
            want = "feature_update" if view["metric"].startswith("err_") else view["metric"]  # err_* needs a reference
            assert value_of(dash, "colour by") == want, p["name"]
            dash.page.get_by_test_id("tab-lines").click()
            along = view["along"]
            dash.wait(lambda: value_of(dash, "against") == along, 10, f"{p['name']}: lines along")  # noqa: B023
        finally:
            httpx.post(f"{dash.base}/api/v1/sweeps/{s['id']}/cancel", timeout=10)


def test_default_view_without_a_preset_and_with_its_metric(dash: Dashboard, tiny_depth_width: dict[str, Any],
                                                         small_sweep: dict[str, Any]) -> None:
    # no preset: the two axes with the most values (alpha 3, L 2)
    dash.open(f"?sweep={small_sweep['id']}")
    dash.wait(lambda: heat_shape(dash) == (2, 3), 20, "alpha x L")
    assert (value_of(dash, "x axis"), value_of(dash, "y axis")) == ("alpha", "L")
    # the depth-width preset with a reference: err_out over L and M, Lines & fits along L on err_out
    sid = tiny_depth_width["id"]
    dash.open(f"?sweep={sid}")
    dash.wait(lambda: heat_shape(dash) == (2, 2), 20, "L x M")
    assert (value_of(dash, "x axis"), value_of(dash, "y axis"), value_of(dash, "colour by")) == ("L", "M", "err_out")
    dash.page.get_by_test_id("tab-lines").click()
    dash.wait(lambda: (value_of(dash, "against"), value_of(dash, "metric")) == ("L", "err_out"), 10, "lines on err_out")
    assert "x=L" in dash.page.url and "metric=err_out" in dash.page.url  # the link holds the view


def test_back_and_forward_move_between_views(dash: Dashboard, small_sweep: dict[str, Any]) -> None:
    sid = small_sweep["id"]
    dash.open(f"?sweep={sid}")
    dash.wait(lambda: heat_shape(dash) == (2, 3), 20, "the first view")
    page = dash.page
    page.get_by_label("x axis", exact=True).select_option("L")
    page.get_by_label("y axis", exact=True).select_option("alpha")
    dash.wait(lambda: heat_shape(dash) == (3, 2), 20, "the swapped view")
    page.get_by_label("colour by", exact=True).select_option("init_deviation")
    page.go_back()
    dash.wait(lambda: value_of(dash, "colour by") == "feature_update", 10, "back: the metric")
    assert heat_shape(dash) == (3, 2) and f"sweep={sid}" in page.url
    page.go_back()
    page.go_back()
    dash.wait(lambda: value_of(dash, "x axis") == "alpha" and heat_shape(dash) == (2, 3), 10, "back to the first view")
    page.go_forward()
    page.go_forward()
    page.go_forward()
    dash.wait(lambda: value_of(dash, "colour by") == "init_deviation" and heat_shape(dash) == (3, 2), 10, "forward")


def test_unknown_sweep_and_bad_parameters(dash: Dashboard, small_sweep: dict[str, Any]) -> None:
    dash.expect_failure(404, r"^/api/v1/sweeps/999999$")
    dash.open("?sweep=999999")
    expect(dash.page.get_by_test_id("view-message")).to_contain_text("Sweep #999999 not found")
    sid = small_sweep["id"]
    dash.open(f"?sweep={sid}&x=foo&metric=nope&tab=zzz&fixed=Q:1")
    message = dash.page.get_by_test_id("view-message")
    for part in ("x=foo", "metric=nope", "tab=zzz", "fixed=Q:1"):
        expect(message).to_contain_text(part)
    dash.wait(lambda: heat_shape(dash) == (2, 3), 20, "the sweep's default view")
    assert value_of(dash, "x axis") == "alpha" and "x=foo" not in dash.page.url


def test_zoom_is_kept_in_the_url(dash: Dashboard, small_sweep: dict[str, Any]) -> None:
    dash.open(f"?sweep={small_sweep['id']}")
    dash.wait(lambda: heat_shape(dash), 20, "the heatmap")
    page = dash.page
    page.evaluate("Plotly.relayout('phase-heatmap', {'xaxis.range': [0.5, 2.5], 'yaxis.range': [-0.5, 0.5]})")
    dash.wait(lambda: "zoom=0.5%2C2.5%2C-0.5%2C0.5" in page.url, 5, "the zoom in the URL")
    page.goto(page.url)
    dash.wait(lambda: heat_shape(dash), 20, "the reopened heatmap")
    ranges = page.evaluate("(() => { const l = document.getElementById('phase-heatmap')._fullLayout;"
                           " return [l.xaxis.range, l.yaxis.range]; })()")
    assert ranges == [[0.5, 2.5], [-0.5, 0.5]]
    page.get_by_label("x axis", exact=True).select_option("L")  # another view: the zoom goes
    dash.wait(lambda: "zoom=" not in page.url, 5, "the zoom cleared")


def test_overlays_non_finite_palette_and_legend(dash: Dashboard, small_sweep: dict[str, Any]) -> None:
    sid = small_sweep["id"]
    dash.open(f"?sweep={sid}&ov=")
    dash.wait(lambda: heat_shape(dash), 20, "the heatmap")
    page = dash.page
    plot_h = page.evaluate("document.getElementById('phase-heatmap')._fullLayout._size.h")
    for formula in ("1/0", "log(0-1)"):
        page.get_by_label("overlay formula", exact=True).fill(formula)
        page.get_by_test_id("overlay-add").click()
        expect(page.get_by_test_id("overlay-error")).to_contain_text("no finite value")
    assert "f=" not in page.url
    formulas = [f"{k}*sqrt(L)" for k in range(1, 9)]
    dash.open(f"?sweep={sid}&ov=&" + "&".join(f"f=alpha:{quote(f)}" for f in formulas))

    def overlays() -> list[dict[str, Any]]:
        return page.evaluate(OVERLAY_TRACES + ".map(t => [t.line.color, t.line.dash])")

    styles = dash.wait(lambda: len(overlays()) == 8 and overlays(), 20, "eight overlays")
    assert len({tuple(s) for s in styles}) == 8 and len({s[0] for s in styles}) == 8
    # the legend grows the figure (once its resize is done), it does not shrink the map
    dash.wait(lambda: page.evaluate("document.getElementById('phase-heatmap')._fullLayout._size.h") >= plot_h - 2,
              10, "the map at its height under the grown legend")
    dash.shot("overlays-legend")


def test_derived_overlays_are_lines_and_coincident_cells_merge(dash: Dashboard, small_sweep: dict[str, Any],
                                                             tiny_depth_width: dict[str, Any]) -> None:
    dash.open(f"?sweep={small_sweep['id']}&x={quote('alpha/sqrt(D)')}&y=L")
    page = dash.page

    def overlay_lines() -> list[dict[str, Any]]:
        return page.evaluate(OVERLAY_TRACES + ".map(t => ({mode: t.mode, n: t.x.length}))")

    lines = dash.wait(overlay_lines, 20, "the overlays on derived axes")
    assert all(t["mode"] == "lines" and t["n"] >= 3 for t in lines), lines
    ticks = page.evaluate("document.getElementById('phase-heatmap')._fullLayout.xaxis.tickvals")
    assert [round(t, 6) for t in ticks] == [round(a / math.sqrt(8), 6) for a in (0.25, 1, 4)]  # the grid's own values
    dash.open(f"?sweep={tiny_depth_width['id']}&x={quote('L*M')}&y=alpha&metric=feature_update")
    expect(page.get_by_test_id("phase-note")).to_contain_text("several cells")
    xs = dash.wait(lambda: page.evaluate(VALUE_TRACE + ".x"), 20, "the cells")
    assert sorted(xs) == [8, 16, 32]
    texts = page.evaluate(VALUE_TRACE + ".text")
    merged = [t for t in texts if "2 cells here" in t]
    assert len(merged) == 1 and "L=2, M=8" in merged[0] and "L=4, M=4" in merged[0]


@pytest.fixture
def dark(browser: Any, server: str, request: pytest.FixtureRequest) -> Iterator[Dashboard]:
    context = browser.new_context(viewport=VIEWPORT, color_scheme="dark")
    d = Dashboard(context.new_page(), server, request.node.name)
    try:
        yield d
        d.assert_clean()
    finally:
        context.close()


def rgb(css: str) -> tuple[int, ...]:
    return tuple(int(float(v)) for v in css[css.index("(") + 1:css.index(")")].split(",")[:3])


def test_dark_mode_follows_the_system(dark: Dashboard, small_sweep: dict[str, Any]) -> None:
    dark.open(f"?sweep={small_sweep['id']}")
    dark.wait(lambda: heat_shape(dark), 20, "the heatmap")
    page = dark.page
    background = rgb(page.evaluate("getComputedStyle(document.body).backgroundColor"))
    assert sum(background) < 150, background
    paper = page.evaluate("document.getElementById('phase-heatmap')._fullLayout.paper_bgcolor")
    card = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--plot-paper').trim()")
    assert paper.lower() == card.lower() and card.lower() != "#ffffff"
    ink = rgb(page.evaluate("getComputedStyle(document.body).color"))
    assert sum(ink) > 500, ink
    dark.shot("dark")


def colour_span(dash: Dashboard, div: str) -> list[float] | None:
    return dash.page.evaluate(
        """id => { const gd = document.getElementById(id);
             const t = gd && gd._fullData ? gd._fullData.find(d => d.meta && d.meta.role === 'value') : null;
             return t ? [t.zmin, t.zmax] : null; }""", div)


def test_small_multiples_and_a_locked_colour_range(dash: Dashboard, tiny_depth_width: dict[str, Any]) -> None:
    sid = tiny_depth_width["id"]
    dash.open(f"?sweep={sid}&x=L&y=alpha&metric=feature_update")
    dash.wait(lambda: heat_shape(dash) == (1, 2), 20, "L x alpha at M = 4")
    page = dash.page
    page.get_by_label("small multiples over", exact=True).select_option("M")
    dash.wait(lambda: "multi=M" in page.url and page.get_by_test_id("multiple-1").get_attribute("data-value") == "8",
              20, "one panel per M")
    spans = dash.wait(lambda: all(colour_span(dash, f"multiple-{k}") for k in (0, 1))
                      and [colour_span(dash, f"multiple-{k}") for k in (0, 1)], 20, "the panels' colour ranges")
    assert spans[0] == spans[1]  # one colour range over the panels
    api = [dash.api(f"/sweeps/{sid}/phase", x="L", y="alpha", metric="feature_update", fixed=f"D:8,M:{m}")
           for m in (4, 8)]
    values = [z for a in api for z in a["z"][0]]
    assert math.isclose(spans[0][0], min(values)) and math.isclose(spans[0][1], max(values))

    # lock the colour range of M = 4, then look at M = 8: the same range, not M = 8's own
    own = colour_span(dash, "phase-heatmap")
    page.get_by_label("lock colour range").check()
    dash.wait(lambda: "crange=" in page.url, 5, "the range in the URL")
    page.get_by_label("M (held)", exact=True).select_option("8")
    dash.wait(lambda: "fixed=" in page.url and "M%3A8" in page.url, 5, "M = 8")
    locked = dash.wait(lambda: colour_span(dash, "phase-heatmap"), 20, "the redrawn heatmap")
    assert own is not None
    assert all(math.isclose(a, b, rel_tol=1e-3) for a, b in zip(locked, own, strict=True)), (locked, own)
    page.get_by_label("colour by", exact=True).select_option("init_deviation")  # a new metric unlocks it
    dash.wait(lambda: "crange=" not in page.url, 5, "unlocked")
    dash.shot("multiples")
