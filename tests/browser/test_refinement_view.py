"""A sweep that refines a boundary, seen from the page: the Refinement panel follows the rounds
(state, rounds, points spent, per line the crossing and its interval, which narrows round by
round), the interval-history chart has one bar per round, and the phase heatmap draws the added
(non-uniform) alphas at their true log positions."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# One line (D 16, L 8, M 16) whose feature_update crosses 0.25 inside the alpha grid; tiny training
# (3 steps, 2 seeds, 8 samples) so each round's two points take a second or two.
REFINE_SPEC: dict[str, Any] = {
    "name": "refining fixture",
    "grid": {"alpha": [0.25, 1, 4, 16, 64], "D": [16], "L": [8], "M": [16]},
    "settings": {"seeds": 2, "steps": 3, "n_samples": 8},
    "refine": {"metric": "feature_update", "threshold": 0.25, "axis": "alpha", "tol": 0.05, "max_points": 40},
}
FINAL = {"converged", "budget_spent", "no_crossing"}


def panel_state(dash: Any) -> dict[str, Any] | None:
    """What the panel shows now: state, rounds, points, and line 0's width and interval (or None)."""
    return dash.page.evaluate(
        """() => { const p = document.querySelector('[data-testid=refinement-panel]');
             const st = document.querySelector('[data-testid=refinement-state]');
             if (!p || p.hidden || !st) return null;
             const rounds = document.querySelector('[data-testid=refinement-rounds]');
             const pts = document.querySelector('[data-testid=refinement-points]');
             const row = document.querySelector('[data-testid=refinement-line-0]');
             return {state: st.dataset.state, text: st.textContent, rounds: Number(rounds.dataset.rounds),
                     added: Number(pts.dataset.added), max: Number(pts.dataset.max),
                     width: row && row.dataset.width !== '' ? Number(row.dataset.width) : null,
                     lo: row ? row.dataset.lo : null, hi: row ? row.dataset.hi : null,
                     converged: row ? row.dataset.converged : null}; }"""
    )


def test_refinement_panel_narrows_round_by_round(dash: Any) -> None:
    created = dash.create_sweep(REFINE_SPEC)
    sid = created["id"]
    assert created["refinement"]["state"] == "waiting"
    dash.open(f"?sweep={sid}&x=alpha&y=L")
    expect(dash.page.get_by_test_id("refinement-panel")).to_be_visible()

    # follow the panel through the rounds: line 0's displayed width at each round it showed
    widths: dict[int, float] = {}

    def finished() -> dict[str, Any] | None:
        shown = panel_state(dash)
        if shown and shown["width"] is not None:
            widths.setdefault(shown["rounds"], shown["width"])
        return shown if shown and shown["state"] in FINAL else None

    final = dash.wait(finished, 300, "the refinement to reach a final state")
    api = dash.api(f"/sweeps/{sid}")
    ref = api["refinement"]
    assert final["state"] == ref["state"] == "converged", (final, ref)
    expect(dash.page.get_by_test_id("refinement-state")).to_have_text("converged")
    assert final["rounds"] == ref["rounds"] >= 2 and final["added"] == ref["points_added"] > 0
    assert final["max"] == REFINE_SPEC["refine"]["max_points"]
    line = ref["lines"][0]
    assert final["converged"] == "true" and math.isclose(final["width"], line["width_rel"])
    assert float(final["lo"]) < line["crossing"] < float(final["hi"])
    assert final["width"] <= REFINE_SPEC["refine"]["tol"]

    # the panel showed the interval at two rounds at least, and it narrowed between them
    seen = sorted(widths)
    assert len(seen) >= 2, widths
    assert widths[seen[-1]] < widths[seen[0]], widths

    # the history chart: one bar per round of line 0, the last bar narrower than the first
    def bars() -> dict[str, Any] | None:
        traces = dash.traces("refinement-history")
        iv = [t for t in traces if (t["meta"] or {}).get("role") == "interval"]
        return iv[0] if iv and len(iv[0]["meta"]["rounds"]) == len(line["history"]) else None

    bar = dash.wait(bars, 20, "one history bar per round")
    xs = list(bar["x"])
    spans = [xs[k + 1] - xs[k] for k in range(0, len(xs), 3)]  # [lo, hi, null] per round
    assert len(spans) == len(line["history"]) >= 2
    assert spans[-1] < spans[0], spans

    # the heatmap places the added alphas at their log positions (not as equally spaced columns)
    alphas = api["axes"]["alpha"]
    assert len(alphas) == len(REFINE_SPEC["grid"]["alpha"]) + ref["points_added"]

    def heat_x() -> list[float] | None:
        traces = dash.traces("phase-heatmap")
        x = traces[0]["x"] if traces else None
        return x if x and len(x) == len(alphas) else None

    x = dash.wait(heat_x, 20, "the heatmap with every refined alpha")
    unit = math.log(alphas[-1] / alphas[0]) / (len(alphas) - 1)
    for xv, a in zip(x, alphas, strict=True):
        assert math.isclose(xv, math.log(a / alphas[0]) / unit, abs_tol=1e-9), (x, alphas)
    dash.shot("refined")


def test_refine_section_of_the_form(dash: Any) -> None:
    """The collapsed "Refine a boundary" section: nothing sent until enabled, then `refine` with the
    chosen metric and named threshold; the API's 422s under refine land on its fields."""
    dash.expect_failure(422, r"^/api/v1/sweeps/validate$")  # tol 0 and an unknown threshold, on purpose
    page = dash.page
    dash.open()
    section = page.get_by_test_id("refine-section")
    expect(section).not_to_have_attribute("open", "")
    assert "refine" not in page.evaluate("async () => (await import('/js/form.js')).spec()")
    page.get_by_text("Refine a boundary").click()
    page.get_by_test_id("f-refine").check()
    page.get_by_label("refine metric", exact=True).select_option("feature_update")
    kinds = page.get_by_label("refine threshold kind", exact=True)
    # the metric's named threshold is the default: enabled, the spec is valid at once (no 422)
    expect(kinds).to_have_value("feature_update_min")
    expect(page.get_by_test_id("form-summary")).not_to_have_class(re.compile("bad"))
    assert page.evaluate("async () => (await import('/js/form.js')).spec().refine.threshold") == "feature_update_min"
    kinds.select_option(label="a number")
    page.get_by_label("refine threshold", exact=True).fill("0.25")
    page.get_by_label("refine tol", exact=True).fill("0")
    expect(page.get_by_test_id("error-refine.tol")).to_contain_text("greater than or equal")
    expect(page.get_by_label("refine tol", exact=True)).to_have_attribute("aria-invalid", "true")
    page.get_by_label("refine tol", exact=True).fill("0.2")
    expect(page.get_by_test_id("error-refine.tol")).to_be_empty()
    page.get_by_label("refine threshold", exact=True).fill("abc")
    expect(page.get_by_test_id("error-refine.threshold")).to_contain_text("unknown threshold")
    kinds.select_option("feature_update_min")
    expect(page.get_by_label("refine threshold", exact=True)).to_be_hidden()
    expect(page.get_by_test_id("error-refine.threshold")).to_be_empty()
    sent = page.evaluate("async () => (await import('/js/form.js')).spec().refine")
    assert sent == {"metric": "feature_update", "threshold": "feature_update_min", "axis": "alpha", "tol": 0.2}
    page.get_by_test_id("f-refine").uncheck()
    assert "refine" not in page.evaluate("async () => (await import('/js/form.js')).spec()")


def test_two_boundaries_refine_together_and_the_panel_picks_one(dash: Any) -> None:
    """A sweep refining two boundaries (feature learning and noise): the panel has a picker, shows
    each boundary's own state, metric and lines; loading the preset that does this into the form
    keeps the second boundary in the spec it sends."""
    noise = {"metric": "init_deviation", "threshold": "init_deviation_max", "tol": 0.2, "max_points": 30}
    spec = {**REFINE_SPEC, "name": "two boundaries", "refine": [REFINE_SPEC["refine"], noise]}
    sid = dash.create_sweep(spec)["id"]
    dash.open(f"?sweep={sid}&x=alpha&y=L")
    page = dash.page
    pick = page.get_by_test_id("refinement-pick")
    expect(pick).to_be_visible()
    dash.wait(lambda: all(r["state"] in FINAL for r in dash.api(f"/sweeps/{sid}")["refinements"]), 300,
              "both refinements to end")
    refs = dash.api(f"/sweeps/{sid}")["refinements"]
    for k, ref in enumerate(refs):
        pick.select_option(str(k))
        expect(page.get_by_test_id("refinement-state")).to_have_attribute("data-state", ref["state"])
        expect(page.get_by_test_id("refinement-points")).to_have_attribute("data-added", str(ref["points_added"]))
        expect(page.get_by_test_id("refinement-panel")).to_contain_text(ref["metric"])
        row = page.get_by_test_id("refinement-line-0")
        expect(row).to_have_attribute("data-width", str(ref["lines"][0]["width_rel"]))
        dash.shot(f"boundary-{k}")
    assert {r["metric"] for r in refs} == {"feature_update", "init_deviation"}

    page.get_by_label("preset", exact=True).select_option("boundary-refined")
    page.get_by_label("preset size", exact=True).select_option("quick")
    page.get_by_test_id("preset-load").click()
    expect(page.get_by_test_id("f-refine-more")).to_contain_text("init_deviation")
    sent = page.evaluate("async () => (await import('/js/form.js')).spec().refine")
    assert [r["metric"] for r in sent] == ["feature_update", "init_deviation"], sent
