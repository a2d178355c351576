"""Comparing two sweeps (side by side on one grid and one colour range, difference, ratio; a
permalink holds both) and the guardrails before a launch (the confirmation of a big sweep, the
refusal of a shape that cannot fit a worker). Screenshots at 1400 and 800 px go to
$TMPDIR/resphase-shots (outside the repository)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from benchmarks.page_forms import fill_shape
from tests.browser.conftest import SMALL_SPEC

pytestmark = pytest.mark.browser

SHOTS = Path(tempfile.gettempdir()) / "resphase-shots"
# B: the fixture's grid moved up in alpha (overlap: alpha 1 and 4) at the plain residual scale
PLAIN_SPEC: dict[str, Any] = {**SMALL_SPEC, "name": "plain fixture",
                              "grid": {**SMALL_SPEC["grid"], "alpha": [1, 4, 16]},
                              "settings": {**SMALL_SPEC["settings"], "residual_scale": "plain"}}

# The value trace of a figure: its x, y, z and colour range.
VALUE_TRACE = """id => { const gd = document.getElementById(id);
  if (!gd || !gd.data || gd.closest('figure').hidden) return null;
  const t = gd.data.find(d => d.meta && d.meta.role === 'value');
  return {x: gd.layout.xaxis.ticktext, n: t.x.length, z: t.z, zmin: t.zmin, zmax: t.zmax,
          colorscale: t.colorscale}; }"""

# The alphas (tick labels) whose column centre a figure shows: inside its x range and inside the
# div's own width (a figure drawn at another width is clipped by its div, its range untouched).
SHOWN_ALPHAS = """id => { const gd = document.getElementById(id); const xa = gd._fullLayout.xaxis;
  const t = gd.data.find(d => d.meta && d.meta.role === 'value');
  const [lo, hi] = [Math.min(...xa.range), Math.max(...xa.range)]; const w = gd.clientWidth;
  const shown = t.x.filter(c => c >= lo && c <= hi && xa._offset + xa.l2p(c) <= w);
  const ax = gd.layout.xaxis; return shown.map(c => ax.ticktext[ax.tickvals.indexOf(c)]); }"""


def assert_both_show_every_alpha(page: Any, alphas: list[str]) -> None:
    page.wait_for_function("() => (document.getElementById('panel-compare').dataset.drawn || '').includes('side')")
    for div in ("compare-a", "compare-b"):
        assert page.evaluate(SHOWN_ALPHAS, div) == alphas, div


def shot_at(dash: Any, width: int, label: str) -> Path:
    dash.page.set_viewport_size({"width": width, "height": 1000})
    dash.page.wait_for_timeout(400)
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{label}-{width}.png"
    dash.page.screenshot(path=str(path), full_page=True)
    return path


def slice_of(dash: Any, sweep_id: int) -> dict[str, Any]:
    return dash.api(f"/sweeps/{sweep_id}/phase", x="alpha", y="L", metric="feature_update", fixed="D:8,M:8")


def test_compare_two_sweeps_side_by_side_and_their_difference(dash: Any, small_sweep: dict[str, Any]) -> None:
    b = dash.wait_finished(dash.create_sweep(PLAIN_SPEC)["id"])
    a_id, b_id = small_sweep["id"], b["id"]
    page = dash.page
    dash.open(f"?sweep={a_id}&tab=compare&cmp={b_id}&x=alpha&y=L&metric=feature_update")  # the permalink
    expect(page.get_by_test_id("compare-note")).to_contain_text("residual_scale: mlu vs plain")
    side_a = dash.wait(lambda: page.evaluate(VALUE_TRACE, "compare-a"), 20, "sweep A drawn")
    side_b = dash.wait(lambda: page.evaluate(VALUE_TRACE, "compare-b"), 20, "sweep B drawn")
    # the same axes: the union of both grids (alpha 0.25, 1, 4, 16), and one colour range
    assert side_a["n"] == side_b["n"] == 4 and side_a["x"] == side_b["x"]
    assert (side_a["zmin"], side_a["zmax"]) == (side_b["zmin"], side_b["zmax"])
    values = [v for row in side_a["z"] + side_b["z"] for v in row if v is not None]
    assert side_a["zmin"] == min(values) and side_a["zmax"] == max(values)
    # A has no alpha = 16 (a gap), B no alpha = 0.25
    assert all(row[3] is None for row in side_a["z"]) and all(row[0] is None for row in side_b["z"])
    # both panels show every alpha of the union: A was once drawn before B's figure was shown, as
    # wide as the whole row, then clipped to its half (only its first columns visible)
    assert_both_show_every_alpha(page, ["0.25", "1", "4", "16"])
    for width in (1400, 800):
        shot_at(dash, width, "compare-side")
    page.set_viewport_size({"width": 1500, "height": 1100})

    page.get_by_label("show", exact=True).select_option("diff")
    diff = dash.wait(lambda: page.evaluate(VALUE_TRACE, "compare-op"), 20, "the difference drawn")
    assert page.evaluate(VALUE_TRACE, "compare-a") is None  # side by side is gone
    sa, sb = slice_of(dash, a_id), slice_of(dash, b_id)
    # the shared cells only (alpha 1 and 4), A - B from the API's own numbers
    want = [[sa["z"][i][sa["x"].index(x)] - sb["z"][i][sb["x"].index(x)] for x in (1.0, 4.0)] for i in range(2)]
    assert diff["n"] == 2 and all(math.isclose(g, w, rel_tol=1e-12) for gr, wr in zip(diff["z"], want, strict=True)
                                  for g, w in zip(gr, wr, strict=True))
    assert diff["zmin"] == -diff["zmax"] and diff["colorscale"] == "RdBu"  # centred on 0
    assert f"cmp={b_id}" in page.url and "cop=diff" in page.url
    for width in (1400, 800):
        shot_at(dash, width, "compare-diff")

    page.get_by_label("show", exact=True).select_option("ratio")
    ratio = dash.wait(lambda: (r := page.evaluate(VALUE_TRACE, "compare-op")) and r["z"] != diff["z"] and r, 20,
                      "the ratio drawn")
    want_log = [[math.log10(sa["z"][i][sa["x"].index(x)] / sb["z"][i][sb["x"].index(x)]) for x in (1.0, 4.0)]
                for i in range(2)]
    assert all(math.isclose(g, w, rel_tol=1e-9) for gr, wr in zip(ratio["z"], want_log, strict=True)
               for g, w in zip(gr, wr, strict=True))

    # a fresh context opens the same comparison from the link alone
    link = page.url
    other = page.context.browser.new_context(viewport={"width": 1500, "height": 1100})
    try:
        p2 = other.new_page()
        p2.goto(link)
        p2.wait_for_selector("body[data-ready='1']")
        p2.wait_for_function("() => (document.getElementById('panel-compare').dataset.drawn || '').includes('ratio')")
        assert p2.evaluate(VALUE_TRACE, "compare-op")["z"] == ratio["z"]
    finally:
        other.close()
    # back to side by side from the ratio (both panels hidden until now), two columns wide: the same check
    page.set_viewport_size({"width": 1500, "height": 1100})
    page.get_by_label("show", exact=True).select_option("side")
    assert_both_show_every_alpha(page, ["0.25", "1", "4", "16"])


def test_a_huge_sweep_asks_first_and_a_shape_that_cannot_fit_is_refused(dash: Any) -> None:
    dash.expect_failure(422, r"^/api/v1/sweeps/validate$")  # the 4096-cube below, refused on purpose
    page = dash.page
    dash.open()
    before = len(dash.api("/sweeps"))
    # D = 256, L = M = 1024: one member needs 8 GiB (over the 4 GiB that asks), under the 16 GiB limit
    fill_shape(page, "256", "1024", "2")
    expect(page.get_by_test_id("form-summary")).to_contain_text("peak 8")
    expect(page.get_by_test_id("form-summary")).to_contain_text("per worker (D=256, L=1024, M=1024)")
    page.get_by_test_id("submit-sweep").click()
    dialog = page.get_by_test_id("launch-confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("needs 8")
    expect(dialog).to_contain_text("on one CPU worker")
    for width in (1400, 800):
        shot_at(dash, width, "launch-confirm")
    page.set_viewport_size({"width": 1500, "height": 1100})
    page.get_by_test_id("cancel-launch").click()
    expect(dialog).to_have_count(0)
    page.wait_for_timeout(500)
    assert len(httpx.get(f"{dash.base}/api/v1/sweeps").json()) == before  # cancelling submitted nothing
    assert "sweep=" not in page.url

    # the shape: 2 TB a member, refused by the API with the limit named on the form
    fill_shape(page, "4096", "4096", "64")
    expect(page.get_by_test_id("error-grid")).to_contain_text("max_memory_bytes_per_worker")
    page.get_by_test_id("submit-sweep").click()
    expect(page.get_by_test_id("error-grid")).to_contain_text("D=4096, L=4096, M=4096")
    expect(page.get_by_test_id("launch-confirm")).to_have_count(0)
    assert len(httpx.get(f"{dash.base}/api/v1/sweeps").json()) == before
    for width in (1400, 800):
        shot_at(dash, width, "memory-refused")


TIME_COMPARE = """async (reps) => {
  const m = await import('/js/compare.js');
  const divs = [0, 1].map(() => { const d = document.createElement('div'); d.style.width = '700px';
    d.style.height = '600px'; document.body.append(d); return d; });
  const times = [];
  for (let k = 0; k < reps; k++) times.push(await m.timeCompare(divs[0], divs[1], 100, 100));
  const shape = [divs[0].data[0].z.length, divs[0].data[0].z[0].length];
  divs.forEach((d) => d.remove());
  return {times, shape};
}"""


def test_a_comparison_of_two_10k_cell_sweeps_draws_under_a_second(dash: Any) -> None:
    dash.open()
    dash.page.evaluate(TIME_COMPARE, 1)  # warm-up
    result = dash.page.evaluate(TIME_COMPARE, 3)
    assert result["shape"] == [100, 101]  # the union grid: B's alphas one step up
    times = sorted(result["times"])
    assert times[1] < 1000, times
