"""The Claims tab, the server's verdicts in Lines & fits, near-floor cells, regimes and point flags.

Every verdict the page shows is compared with the API's for the same sweep: the page only shows them.
Screenshots of the Claims tab at 1400 and 800 px go to $TMPDIR/resphase-shots (outside the repository).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SHOTS = Path(tempfile.gettempdir()) / "resphase-shots"
VERDICT_CLASS = {"holds": "v-holds", "does not hold": "v-fails", "inconclusive": "v-inconclusive"}

# The claims table as the page shows it: per row the claim, its verdict and its controls' verdicts.
READ_CLAIMS = """name => {
  const t = document.querySelector(`[data-testid="claims-table-${name}"]`);
  if (!t) return null;
  return [...t.querySelectorAll('tbody tr')].map(tr => ({
    claim: tr.dataset.claim,
    verdict: tr.querySelector('[data-testid^="claim-verdict-"]').dataset.verdict,
    cls: tr.querySelector('[data-testid^="claim-verdict-"]').className,
    controls: [...tr.querySelectorAll('[data-control]')]
      .map(li => [li.dataset.control, li.querySelector('.verdict').dataset.verdict]),
  }));
}"""


def api_claims(preset: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"claim": c["claim"], "verdict": c["verdict"],
             "controls": [[k["name"], k["verdict"]] for k in c["controls"]]} for c in preset["claims"]]


def page_claims(dash: Any, preset: str) -> list[dict[str, Any]] | None:
    rows = dash.page.evaluate(READ_CLAIMS, preset)
    return None if rows is None else [{k: r[k] for k in ("claim", "verdict", "controls")} for r in rows]


def shows_api_verdicts(dash: Any, sid: int) -> dict[str, Any] | None:
    """The API's preset entry once the page's table equals it (else None)."""
    preset = dash.api(f"/sweeps/{sid}/claims")["presets"][0]
    return preset if preset["claims"] and page_claims(dash, preset["preset"]) == api_claims(preset) else None


def fit_verdicts(dash: Any) -> list[str]:
    return dash.page.locator("[data-testid=fit-table] [data-testid^=fit-verdict-]").all_inner_texts()


def query(page: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def drawn_sweep(page: Any) -> str | None:
    return page.get_by_test_id("lines-plot").get_attribute("data-sweep")


def shot_at(dash: Any, width: int, label: str) -> Path:
    """A full-page screenshot at `width` px, after checking the claims table does not overflow."""
    dash.page.set_viewport_size({"width": width, "height": 1000})
    dash.page.wait_for_timeout(300)
    overflow = dash.page.evaluate("""() => [...document.querySelectorAll('#claims .table-scroll')]
        .map(el => el.scrollWidth - el.clientWidth)""")
    assert all(o <= 1 for o in overflow), f"the claims table overflows at {width} px by {overflow}"
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{label}-{width}.png"
    dash.page.screenshot(path=str(path), full_page=True)
    return path


def test_claims_tab_shows_the_servers_verdicts_and_runs_the_controls(dash: Any, dscaling_sweep: dict[str, Any]) -> None:
    sid = dscaling_sweep["id"]
    page = dash.page
    dash.open(f"?sweep={sid}&tab=claims")
    expect(page.get_by_test_id("panel-claims")).to_be_visible()
    expect(page.get_by_test_id("tab-claims")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_test_id("claims-preset-D-scaling")).to_contain_text("D-scaling (quick)")
    preset = dash.wait(lambda: shows_api_verdicts(dash, sid), 30, "the API's claims in the table")
    assert {c["claim"] for c in preset["claims"]} == {"feature_update_flat_in_D", "init_deviation_sqrt_D"}
    # the progress of the preset's own run and of each control
    for run in preset["runs"]:
        expect(page.get_by_test_id(f"claims-run-{run['variant']}")).to_contain_text(f"{run['n_finished']}/{run['n_points']}")
    expect(page.locator("#claims caption")).to_contain_text('every control reads "does not hold"')

    # run the controls from the page: the table follows them to their verdicts
    if any(not r["complete"] for r in preset["runs"]):
        shot_at(dash, 1400, "claims-dscaling-before-controls")
        n_before = len(dash.api("/sweeps"))
        page.get_by_test_id("claims-run-controls").click()
        expect(page.get_by_test_id("claims-note")).to_contain_text("Created control sweep")
        assert len(dash.api("/sweeps")) > n_before
        dash.wait(lambda: all(r["complete"] for r in dash.api(f"/sweeps/{sid}/claims")["presets"][0]["runs"]), 120,
                  "the controls to finish")
    final = dash.wait(lambda: shows_api_verdicts(dash, sid), 30, "the verdicts after the controls")
    for run in final["runs"]:
        expect(page.get_by_test_id(f"claims-run-{run['variant']}")).to_have_attribute("data-complete", "true")
    for claim in final["claims"]:
        assert all(c["verdict"] != "not run" for c in claim["controls"])
        if claim["verdict"] == "holds":  # the server's rule, as the caption says
            assert all(c["verdict"] == "does not hold" for c in claim["controls"])
    # verdicts are coloured by kind
    for row in page.evaluate(READ_CLAIMS, "D-scaling"):
        assert VERDICT_CLASS[row["verdict"]] in row["cls"].split()
    colour = page.locator("[data-testid^=claim-verdict-]").first.evaluate("el => getComputedStyle(el).color")
    r, g, b = (int(v) for v in colour[colour.index("(") + 1:-1].split(",")[:3])
    first = final["claims"][0]["verdict"]
    assert {"holds": g > r and g > b, "does not hold": r > g and r > b, "inconclusive": r > b and g > b}[first], colour
    expect(page.get_by_test_id("claims-run-controls")).to_have_count(0)

    for width in (1400, 800):
        shot_at(dash, width, "claims-dscaling")


def test_claims_tab_without_a_preset_says_so(dash: Any, small_sweep: dict[str, Any]) -> None:
    dash.open(f"?sweep={small_sweep['id']}&tab=claims")
    assert dash.api(f"/sweeps/{small_sweep['id']}/claims")["presets"] == []
    none = dash.page.get_by_test_id("claims-none")
    expect(none).to_contain_text("does not run a preset")
    expect(none).to_contain_text("New sweep form")


def test_show_figure_opens_the_claims_lines_with_the_servers_verdicts(dash: Any,
                                                                      dscaling_sweep: dict[str, Any]) -> None:
    sid = dscaling_sweep["id"]
    page = dash.page
    dash.open(f"?sweep={sid}&tab=claims")
    claim = next(c for c in dash.api("/claims") if c["name"] == "init_deviation_sqrt_D")
    page.get_by_test_id("claim-figure-init_deviation_sqrt_D").click()
    expect(page.get_by_test_id("panel-lines")).to_be_visible()
    q = query(page)
    fig = claim["figure"]
    assert (q["tab"], q["lmetric"], q["along"], q["group"]) == ("lines", fig["metric"], fig["x"], fig["group"][0])
    assert "pred" not in q
    fit = dash.api(f"/sweeps/{sid}/fit", metric="init_deviation", along="D", group="L", fixed="alpha:1,M:32")
    want = [line["verdict"] for line in fit["lines"]]
    dash.wait(lambda: fit_verdicts(dash) == want, 30, f"the fit table's verdicts {want}")
    # the server's predicted exponent fills the box, and the table says it with its tolerance
    expect(page.get_by_test_id("lines-pred")).to_have_value(_js_number(fit["predicted_exponent"]))
    band = f"{_js_number(fit['predicted_exponent'])} ± {_js_number(fit['tolerance'])}"
    expect(page.get_by_test_id("fit-table")).to_contain_text(band)
    expect(page.get_by_test_id("fit-table")).to_contain_text("dropped before the fit")
    # back returns to the claims
    page.go_back()
    expect(page.get_by_test_id("panel-claims")).to_be_visible()


def _js_number(v: float) -> str:
    """A number as JavaScript's String() writes it (1.0 -> "1")."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def test_predicted_exponent_is_the_servers_and_does_not_carry_over(dash: Any, small_sweep: dict[str, Any],
                                                                   dscaling_sweep: dict[str, Any]) -> None:
    page = dash.page
    fits: list[dict[str, str]] = []
    page.on("request", lambda r: fits.append({k: v[0] for k, v in parse_qs(urlparse(r.url).query).items()}
                                             | {"path": urlparse(r.url).path}) if "/fit" in r.url else None)
    a, b = small_sweep["id"], dscaling_sweep["id"]
    view = "tab=lines&lmetric=init_deviation&along=alpha&group=L"
    dash.open(f"?sweep={a}&{view}")
    server_a = dash.api(f"/sweeps/{a}/fit", metric="init_deviation", along="alpha", group="L", fixed="D:8,M:8")
    pred = page.get_by_test_id("lines-pred")
    expect(pred).to_have_value(_js_number(server_a["predicted_exponent"]))
    assert all("predicted" not in f for f in fits), fits

    # a typed value is sent as predicted= and judged by the server
    pred.fill("-2")
    pred.press("Enter")
    dash.wait(lambda: query(page).get("pred") == "-2", 5, "pred in the URL")
    dash.wait(lambda: any(f.get("predicted") == "-2" for f in fits), 10, "a fit with predicted=-2")
    typed = dash.api(f"/sweeps/{a}/fit", metric="init_deviation", along="alpha", group="L", fixed="D:8,M:8",
                     predicted=-2)
    dash.wait(lambda: fit_verdicts(dash) == [line["verdict"] for line in typed["lines"]], 20, "the verdicts against -2")
    expect(page.get_by_test_id("fit-table")).to_contain_text(f"-2 ± {_js_number(typed['tolerance'])}")

    # another sweep: the typed value is gone, the box shows that sweep's own prediction, nothing is
    # sent; the sweep opens on its own default view (D-scaling's: init_deviation along D)
    n = len(fits)
    page.get_by_test_id(f"sweep-item-{b}").click()
    dash.wait(lambda: query(page).get("sweep") == str(b), 5, "the other sweep")
    assert "pred" not in query(page) and query(page)["along"] == "D" and query(page)["lmetric"] == "init_deviation"
    server_b = dash.api(f"/sweeps/{b}/fit", metric="init_deviation", along="D")
    dash.wait(lambda: drawn_sweep(page) == str(b), 20, "the other sweep's lines")
    expect(pred).to_have_value(_js_number(server_b["predicted_exponent"]))
    later = [f for f in fits[n:] if f["path"].endswith(f"/sweeps/{b}/fit")]
    assert later and all("predicted" not in f for f in later), later
    # and back: the first sweep (on its default view again) shows the server's value, not the -2 typed before
    page.get_by_test_id(f"sweep-item-{a}").click()
    dash.wait(lambda: drawn_sweep(page) == str(a), 20, "the first sweep again")
    assert (query(page)["lmetric"], query(page)["along"]) == ("feature_update", "alpha")
    server_a = dash.api(f"/sweeps/{a}/fit", metric="feature_update", along="alpha", group="L", fixed="D:8,M:8")
    expect(pred).to_have_value(_js_number(server_a["predicted_exponent"]))


def test_lines_verdict_and_dropped_cells_match_the_api(dash: Any, near_floor_sweep: dict[str, Any]) -> None:
    sid = near_floor_sweep["id"]
    page = dash.page
    dash.open(f"?sweep={sid}&tab=lines&lmetric=err_out&along=L&group=M")
    fit = dash.api(f"/sweeps/{sid}/fit", metric="err_out", along="L", group="M", fixed="alpha:1,D:8", model="power")
    want = [line["verdict"] for line in fit["lines"]]
    dash.wait(lambda: fit_verdicts(dash) == want, 30, f"the fit table's verdicts {want}")
    for i, line in enumerate(fit["lines"]):
        cell = page.get_by_test_id(f"fit-dropped-{i}")
        for reason, n in line["dropped"].items():
            words = {"near_floor": "near the noise floor", "other_term_dominates": "other term dominates"}[reason]
            expect(cell).to_contain_text(f"{n} {words}")
        badge = page.get_by_test_id(f"fit-verdict-{i}")
        expect(badge).to_have_class(f"verdict {VERDICT_CLASS[line['verdict']]}")
    assert any(line["dropped"].get("near_floor") for line in fit["lines"]), "the fixture should have near-floor cells"
    roles = dash.roles("lines-plot")
    assert "near_floor" in roles and "floor" in roles


HEATMAP_STATE = """id => { const gd = document.getElementById(id);
  return { traces: gd.data.map(t => ({ meta: t.meta || null, name: t.name, text: t.text || null,
                                      ticktext: t.colorbar ? t.colorbar.ticktext : null, colorscale: t.colorscale })),
           legend: [...gd.querySelectorAll('.legendtext')].map(e => e.textContent) }; }"""


def test_near_floor_cells_regimes_and_point_flags(dash: Any, near_floor_sweep: dict[str, Any]) -> None:
    sid = near_floor_sweep["id"]
    page = dash.page
    dash.open(f"?sweep={sid}&x=L&y=M&metric=err_out")
    api = dash.api(f"/sweeps/{sid}/phase", x="L", y="M", metric="err_out", fixed="alpha:1,D:8")
    near = sorted([i, j] for i, row in enumerate(api["near_floor"]) for j, v in enumerate(row) if v)
    assert near, "the fixture should have cells within 3x of the floor"

    def marked() -> Any:
        state = page.evaluate(HEATMAP_STATE, "phase-heatmap")
        tr = [t for t in state["traces"] if (t["meta"] or {}).get("role") == "near_floor"]
        return (tr and sorted(tr[0]["meta"]["cells"]) == near) and state

    state = dash.wait(marked, 20, "the near-floor cells marked")
    label = "within 3x of the reference's noise floor"
    assert label in state["legend"]
    hover = state["traces"][0]["text"]
    i, j = near[0]
    assert "reference noise floor" in hover[i][j] and "not a trustworthy measurement" in hover[i][j]
    far = [(i, j) for i, row in enumerate(api["near_floor"]) for j, v in enumerate(row) if not v]
    if far:
        assert "not a trustworthy" not in hover[far[0][0]][far[0][1]]
    expect(page.get_by_test_id("phase-note")).to_contain_text(f"{len(near)} cell{'s' if len(near) > 1 else ''} {label}")

    # the regime map lists every regime of /meta, each in its own colour
    regimes = dash.api("/meta")["regimes"]
    reg = page.evaluate(HEATMAP_STATE, "phase-regime")["traces"][0]
    words = [r.replace("_", " ").replace("noise dominated", "noise-dominated") for r in regimes]
    assert reg["ticktext"][:len(regimes)] == words
    assert "saturated" in reg["ticktext"] and "unstable" in reg["ticktext"]
    colours = [reg["colorscale"][2 * k][1] for k in range(len(reg["ticktext"]))]
    assert len(set(colours)) == len(colours), colours

    # a near-floor point shows its flags with their meaning
    flagged = next(pid for row, nrow in zip(api["point_id"], api["near_floor"], strict=True)
                   for pid, v in zip(row, nrow, strict=True) if v)
    point = dash.api(f"/points/{flagged}")
    assert "near_floor_out" in point["flags"]
    dash.open(f"?sweep={sid}&tab=detail&point={flagged}")
    flags = page.get_by_test_id("detail-flags")
    expect(flags.locator("li")).to_have_count(len(point["flags"]))
    for f in point["flags"]:
        expect(flags.locator(f"li[data-flag={f}]")).to_be_visible()
    expect(flags).to_contain_text("not a trustworthy measurement")
    # a noise-dominated float32 point reads float32_chaotic
    ids = [pid for row in api["point_id"] for pid in row]
    chaotic = [pid for pid in ids if "float32_chaotic" in dash.api(f"/points/{pid}")["flags"]]
    if chaotic:
        dash.open(f"?sweep={sid}&tab=detail&point={chaotic[0]}")
        flag = page.locator("[data-testid=detail-flags] li[data-flag=float32_chaotic]")
        expect(flag).to_contain_text("do not reproduce")
