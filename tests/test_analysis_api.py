"""Fits, boundaries, theory and presets through the API, on sweeps computed by the real worker code."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.main import create_app
from backend.metrics import METRICS
from backend.settings import Settings
from backend.store import Database
from backend.store.tables import Reference
from tests.test_api import compute_all


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, run_reaper=False)) as c:
        yield c


def computed(client: TestClient, settings: Settings, body: dict[str, Any]) -> int:
    sid: int = client.post("/api/v1/sweeps", json=body).json()["id"]
    compute_all(settings, client, sid)
    return sid


LAZY = {"name": "lazy", "grid": {"alpha": [1, 2, 4, 8], "D": [16], "L": [32, 64], "M": [64]},
        "settings": {"seeds": 3, "steps": 10}}


def test_power_fit_along_alpha_recovers_the_lazy_law(client: TestClient, settings: Settings) -> None:
    sid = computed(client, settings, LAZY)
    r = client.get(f"/api/v1/sweeps/{sid}/fit", params={"metric": "feature_update", "along": "alpha",
                                                       "group": "L", "fixed": "alpha:2", "n_boot": 200})
    assert r.status_code == 422 and "cannot be held fixed" in r.json()["detail"]
    r = client.get(f"/api/v1/sweeps/{sid}/fit", params={"metric": "feature_update", "along": "alpha",
                                                       "group": "L", "n_boot": 200})
    body = r.json()
    assert r.status_code == 200, body
    assert body["predicted_exponent"] == -1.0 and len(body["lines"]) == 2
    for line in body["lines"]:
        fit = line["fit"]
        assert -1.2 < fit["exponent"] < -0.6, fit
        assert fit["exponent_ci"][0] <= fit["exponent"] <= fit["exponent_ci"][1]
        assert fit["n_cells_used"] == 4 and len(line["x"]) == 4 and len(line["y_stderr"]) == 4


def test_boundaries_locate_the_feature_learning_edge(client: TestClient, settings: Settings) -> None:
    sid = computed(client, settings, LAZY)
    body = client.get(f"/api/v1/sweeps/{sid}/boundaries", params={"metric": "feature_update", "n_boot": 200}).json()
    assert body["threshold"] == 0.25 and len(body["curves"]) == 2
    for curve in body["curves"]:
        assert curve["found"] and 1.5 < curve["alpha"] < 4, curve
        lo, hi = curve["alpha_ci"]
        assert lo <= curve["alpha"] <= hi
    none = client.get(f"/api/v1/sweeps/{sid}/boundaries", params={"metric": "feature_update", "threshold": 50})
    assert all(not c["found"] and c["reason"] for c in none.json()["curves"])
    assert client.get(f"/api/v1/sweeps/{sid}/boundaries", params={"metric": "rep_change"}).status_code == 422


def test_boundaries_per_value_of_group(client: TestClient, settings: Settings) -> None:
    """With `group`, one curve per value of that axis, the other axes held (at `fixed` or their first
    value); without, one per line of D, L, M. Ignoring `group` would give the four lines each time."""
    sid = computed(client, settings, {"name": "lines", "grid": {"alpha": [1, 4, 16], "D": [8], "L": [4, 8],
                                                                "M": [4, 8]}, "settings": {"seeds": 2, "steps": 3}})

    def curves(**params: Any) -> Any:
        r = client.get(f"/api/v1/sweeps/{sid}/boundaries", params={"metric": "feature_update", "n_boot": 20, **params})
        assert r.status_code == 200, r.text
        return r.json()

    every = curves()
    assert every["group"] is None and every["fixed"] == {}
    assert [(c["fixed"]["L"], c["fixed"]["M"]) for c in every["curves"]] == [(4, 4), (4, 8), (8, 4), (8, 8)]
    by_line = {(c["fixed"]["L"], c["fixed"]["M"]): c for c in every["curves"]}
    by_l = curves(group="L")
    assert by_l["fixed"] == {"D": 8, "M": 4} and by_l["cells_by_status"] == {"done": 6}
    assert [c["fixed"] for c in by_l["curves"]] == [{"D": 8, "L": 4, "M": 4}, {"D": 8, "L": 8, "M": 4}]
    assert by_l["curves"] == [by_line[(4, 4)], by_line[(8, 4)]]  # the same crossings, line for line
    by_m = curves(group="M", fixed="L:8")
    assert by_m["fixed"] == {"L": 8, "D": 8} and by_m["curves"] == [by_line[(8, 4)], by_line[(8, 8)]]
    bad = client.get(f"/api/v1/sweeps/{sid}/boundaries", params={"metric": "feature_update", "group": "L",
                                                               "fixed": "L:4"})
    assert bad.status_code == 422 and "group axis" in bad.json()["detail"]


def test_multi_term_model_fit(client: TestClient, settings: Settings) -> None:
    body = {"name": "dw", "grid": {"alpha": [1], "D": [16], "L": [4, 16, 64], "M": [4, 16, 64]},
            "settings": {"seeds": 2, "steps": 5, "reference": {"L": 128, "M": 128, "seeds": 2}}}
    sid = computed(client, settings, body)
    r = client.get(f"/api/v1/sweeps/{sid}/fit", params={"metric": "err_out", "model": "depth_width", "n_boot": 100})
    assert r.status_code == 200, r.text
    fit = r.json()["fit"]
    assert set(fit["coefficients"]) == {"a", "b"} and fit["coefficients"]["b"] > 0
    assert fit["n_cells_used"] == 9 and fit["rmse_log"] < 0.5
    db = Database.connect(settings.resolved_database_url, migrate=False)
    with db.read_session() as s:  # one reference (alpha = 1, D = 16), shared by all nine points
        assert [(r.alpha, r.D, r.n_seeds) for r in s.scalars(select(Reference))] == [(1.0, 16, 2)]
    db.dispose()
    bad = client.get(f"/api/v1/sweeps/{sid}/fit", params={"model": "nope"})
    assert bad.status_code == 422 and "depth_width" in bad.json()["detail"]


def test_theory_evaluate_and_overlays(client: TestClient) -> None:
    r = client.get("/api/v1/theory/evaluate", params={"formula": "sqrt(L*M/D)", "L": "4,16,64", "M": "64", "D": "16"})
    assert r.json()["values"] == pytest.approx([4.0, 8.0, 16.0]) and r.json()["variables"] == ["D", "L", "M"]
    for formula, needle in [("sqrt(L*x)", "unknown name 'x' at position 7"), ("__import__('os')", "position 0"),
                            ("2**3", "position")]:
        bad = client.get("/api/v1/theory/evaluate", params={"formula": formula, "L": "1"})
        assert bad.status_code == 422 and needle in bad.json()["detail"], bad.json()
    missing = client.get("/api/v1/theory/evaluate", params={"formula": "sqrt(D)"})
    assert missing.status_code == 422 and "D=" in missing.json()["detail"]
    overlays = client.get("/api/v1/theory/overlays").json()
    assert {o["formula"] for o in overlays} >= {"1", "sqrt(L*M/D)", "sqrt(D)"}
    assert {m["name"] for m in client.get("/api/v1/theory/models").json()} == {"depth_width", "depth_width_D",
                                                                                "alpha_width"}


def test_every_preset_is_a_valid_sweep(client: TestClient) -> None:
    presets = client.get("/api/v1/presets").json()
    assert [p["name"] for p in presets] == ["alpha-phase", "depth-width", "rates-L", "rates-M", "D-scaling",
                                            "plain-scale", "boundary-refined"]
    for p in presets:
        assert p["description"] and (p["claims"] or p["quick"]["refine"])  # a preset shows claims or refinement
        for size in ("quick", "full"):
            r = client.post("/api/v1/sweeps/validate", json=p[size])
            assert r.status_code == 200, (p["name"], size, r.text)
            assert r.json()["n_points"] >= 4
        # the recommended view names a metric, and axes the quick grid varies or the page derives
        view = p["view"]
        assert view["metric"] in METRICS and view["x"] != view["y"], p["name"]
        grid = p["quick"]["grid"]
        varied = {a for a, v in grid.items() if (isinstance(v, list) and len(v) > 1) or isinstance(v, dict)}
        assert view["along"] in varied and (view["x"] in varied or view["x"] in ("L*M", "alpha/sqrt(D)")), p["name"]
