"""Designs beyond the Cartesian grid: zipped axes, iso-L*M rays, explicit point lists (their
expansion, limits and hashes), the depth-width rays preset, and submission through the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select

from backend.cost import estimate_points_seconds, estimate_seconds
from backend.grid import SweepSpec, check_limits, expand, expanded_axes
from backend.main import create_app
from backend.presets import DEPTH_WIDTH_RAYS, PRESETS
from backend.settings import Limits, Settings
from backend.store import Database
from backend.store.tables import Point

LIMITS = Limits()


def _spec(**body: Any) -> SweepSpec:
    return SweepSpec.model_validate(body)


def _splits(spec: SweepSpec) -> set[tuple[int, int]]:
    return {(p.L, p.M) for p in expand(spec, LIMITS)}


def test_ray_keeps_every_exact_split() -> None:
    spec = _spec(grid={"alpha": [1], "D": [16], "LM": [256, 1024], "L": {"geom": [1, 256, 9]}})
    powers = [2**k for k in range(9)]  # 1, 2, 4, ..., 256: all divide both products
    assert _splits(spec) == {(l_, 256 // l_) for l_ in powers} | {(l_, 1024 // l_) for l_ in powers}
    assert len(expand(spec, LIMITS)) == 18 and check_limits(spec, LIMITS) == []
    axes = expanded_axes(spec.grid, LIMITS)
    assert axes["L"] == [float(v) for v in powers]
    assert axes["M"] == sorted({float(256 // v) for v in powers} | {float(1024 // v) for v in powers})


def test_ray_along_M_drops_values_that_do_not_divide() -> None:
    spec = _spec(grid={"alpha": [1, 2], "D": [4], "LM": [12], "M": [1, 2, 3, 5, 8]})
    assert _splits(spec) == {(12, 1), (6, 2), (4, 3)}
    assert len(expand(spec, LIMITS)) == 6  # two alphas


def test_ray_product_without_split_is_a_violation() -> None:
    spec = _spec(grid={"alpha": [1], "D": [4], "LM": [7, 16], "L": [2, 4]})
    [v] = check_limits(spec, LIMITS)
    assert v.limit == "exact_split" and v.value == 7 and "L*M=7" in v.message


def test_ray_needs_exactly_one_factor() -> None:
    with pytest.raises(ValidationError, match="exactly one factor"):
        _spec(grid={"alpha": [1], "D": [4], "LM": [16], "L": [2], "M": [8]})
    with pytest.raises(ValidationError, match="exactly one factor"):
        _spec(grid={"alpha": [1], "D": [4], "LM": [16]})


def test_zip_pairs_values_by_position() -> None:
    spec = _spec(grid={"alpha": [1, 2], "D": [16], "zip": {"L": [4, 16, 64], "M": [64, 16, 4]}})
    points = expand(spec, LIMITS)
    assert {(p.alpha, p.L, p.M) for p in points} == {(a, l_, m) for a in (1.0, 2.0)
                                                     for l_, m in ((4, 64), (16, 16), (64, 4))}
    assert len(points) == 6
    assert expanded_axes(spec.grid, LIMITS) == {"alpha": [1.0, 2.0], "D": [16.0], "L": [4.0, 16.0, 64.0],
                                                "M": [4.0, 16.0, 64.0]}


def test_zip_of_unequal_lengths_names_them() -> None:
    with pytest.raises(ValidationError, match="equal lengths, got L: 3, M: 2"):
        _spec(grid={"alpha": [1], "D": [16], "zip": {"L": [4, 16, 64], "M": [64, 16]}})
    with pytest.raises(ValidationError, match="both zipped and given"):
        _spec(grid={"alpha": [1], "D": [16], "L": [2], "zip": {"L": [4], "M": [64]}})
    with pytest.raises(ValidationError, match="axis M is missing"):
        _spec(grid={"alpha": [1], "D": [16], "zip": {"L": [4]}})


def test_zip_longer_than_max_axis_values() -> None:
    spec = _spec(grid={"alpha": [1], "D": [16], "zip": {"L": {"geom": [1, 8, 50]}, "M": {"geom": [8, 1, 50]}}})
    assert [v.limit for v in check_limits(spec, Limits(max_axis_values=40))] == ["max_axis_values"]
    assert check_limits(spec, Limits(max_axis_values=50)) == []


def test_point_list_dedupes_and_respects_limits() -> None:
    pts = [{"alpha": 1, "D": 16, "L": 8, "M": 32}, {"alpha": 2, "D": 16, "L": 4, "M": 8},
           {"alpha": 1.0, "D": 16, "L": 8, "M": 32}]
    spec = _spec(points=pts)
    assert sorted((p.alpha, p.L, p.M) for p in expand(spec, LIMITS)) == [(1.0, 8, 32), (2.0, 4, 8)]
    assert check_limits(spec, LIMITS) == []
    assert [v.limit for v in check_limits(spec, Limits(max_points_per_sweep=1))] == ["max_points_per_sweep"]
    big = _spec(points=[{"alpha": 1, "D": 16, "L": 8, "M": 99_999}])
    assert [v.limit for v in check_limits(big, LIMITS)] == ["max_dim"]


def test_exactly_one_of_grid_or_points() -> None:
    with pytest.raises(ValidationError, match="not both"):
        _spec(grid={"alpha": [1], "D": [4], "L": [2], "M": [2]}, points=[{"alpha": 1, "D": 4, "L": 2, "M": 2}])
    with pytest.raises(ValidationError, match="exactly one of grid"):
        _spec(name="nothing")


def test_grid_hashes_are_unchanged() -> None:
    spec = _spec(grid={"alpha": [1], "D": [16], "L": [8], "M": [32]}, settings={"seeds": 4})
    [point] = expand(spec, LIMITS)
    # computed with the code before designs existed (a Cartesian grid only): it changes only with
    # SCIENCE_VERSION (6 since CPU float32 trains on the compiled kernel; 7f1afbe4... at 5, when float32
    # tanh on the CPU became 2 sigmoid(2x) - 1; 96d861ce... at 4, when the units' draw moved to the
    # device; b4c55099... at 3)
    assert point.content_hash == "36548e42214fab5df4d114811d3699c5"
    # the same point from every other design has the same hash
    for other in (_spec(points=[{"alpha": 1, "D": 16, "L": 8, "M": 32}], settings={"seeds": 4}),
                  _spec(grid={"alpha": [1], "D": [16], "LM": [256], "L": [8]}, settings={"seeds": 4}),
                  _spec(grid={"alpha": [1], "D": [16], "zip": {"L": [8], "M": [32]}}, settings={"seeds": 4})):
        assert [p.content_hash for p in expand(other, LIMITS)] == [point.content_hash]


@pytest.mark.parametrize("size", ["quick", "full"])
def test_depth_width_rays_are_the_grid_presets_splits(size: str) -> None:
    preset = PRESETS["depth-width"]
    grid_points = expand(preset.quick if size == "quick" else preset.full, LIMITS)
    rays = DEPTH_WIDTH_RAYS[size]
    products = set(rays.model_dump()["grid"]["LM"])
    want = {p.content_hash for p in grid_points if p.L * p.M in products}
    assert {p.content_hash for p in expand(rays, LIMITS)} == want
    assert len(want) == (3 if size == "quick" else 10)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, run_reaper=False), raise_server_exceptions=False) as c:
        yield c


def _post(client: TestClient, path: str, body: Any) -> Any:
    return client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})


def test_api_stores_exactly_the_design_and_reuses_points(client: TestClient, db: Database) -> None:
    ray = {"grid": {"alpha": [1], "D": [4], "LM": [256, 1024], "L": {"geom": [1, 256, 9]}}, "settings": {"steps": 1}}
    draft = _post(client, "/api/v1/sweeps/validate", ray).json()
    assert draft["n_points"] == 18 and draft["axes"]["L"] == [float(2**k) for k in range(9)]
    first = _post(client, "/api/v1/sweeps", ray)
    assert first.status_code == 201 and first.json()["n_points"] == 18, first.text
    listed = {"points": [{"alpha": 1, "D": 4, "L": 16, "M": 16}, {"alpha": 3, "D": 4, "L": 2, "M": 2}],
              "settings": {"steps": 1}}
    second = _post(client, "/api/v1/sweeps", listed)
    assert second.status_code == 201 and second.json()["n_points"] == 2, second.text
    assert second.json()["axes"] == {"alpha": [1.0, 3.0], "D": [4.0], "L": [2.0, 16.0], "M": [2.0, 16.0]}
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Point)) == 19  # (1, 4, 16, 16) is the ray's


@pytest.mark.parametrize(("body", "needle"), [
    ({"grid": {"alpha": [1], "D": [4], "zip": {"L": [2, 4], "M": [2]}}}, "L: 2, M: 1"),
    ({"grid": {"alpha": [1], "D": [4], "LM": [7], "L": [2]}}, "exact_split"),
    ({"grid": {"alpha": [1], "D": [4], "LM": [2**40], "L": [1]}}, "max_dim"),
    ({"points": [{"alpha": 1e9, "D": 4, "L": 2, "M": 2}]}, "alpha_max"),
    ({"points": []}, "at least 1"),
    ({"points": [{"alpha": 1, "D": 4.5, "L": 2, "M": 2}]}, "integer"),
    ({"grid": {"alpha": [1], "D": [4], "L": [2], "M": [2]}, "points": [{"alpha": 1, "D": 4, "L": 2, "M": 2}]},
     "not both"),
    ({"name": "x"}, "exactly one of grid"),
])
def test_bad_designs_are_422_naming_the_problem(client: TestClient, body: dict[str, Any], needle: str) -> None:
    for path in ("/api/v1/sweeps/validate", "/api/v1/sweeps"):
        r = _post(client, path, body)
        assert r.status_code == 422 and needle in r.text, (path, r.status_code, r.text)


def test_the_estimate_counts_the_design_s_points_not_the_grid_of_its_axes() -> None:
    """A ray's cost is that of its splits; the Cartesian grid of its axes (every L with every M)
    costs far more. For a Cartesian grid both estimates agree."""
    ray = SweepSpec.model_validate({"grid": {"alpha": [1, 2], "D": [16], "LM": [1024], "L": [8, 32, 128]},
                                    "settings": {"reference": {"L": 64, "M": 64, "seeds": 2}}})
    limits = Limits()
    points = expand(ray, limits)
    assert sorted({(p.L, p.M) for p in points}) == [(8, 128), (32, 32), (128, 8)]
    by_points = estimate_points_seconds(points, ray.settings)
    by_axes = estimate_seconds(expanded_axes(ray.grid, limits), ray.settings)
    assert by_points < 0.5 * by_axes
    grid = SweepSpec.model_validate({"grid": {"alpha": [1, 2], "D": [16, 32], "L": [8, 32], "M": [8, 128]},
                                     "settings": ray.settings.model_dump()})
    assert estimate_points_seconds(expand(grid, limits), grid.settings) == pytest.approx(
        estimate_seconds(expanded_axes(grid.grid, limits), grid.settings), rel=1e-12)


def test_a_bad_grid_value_is_located_at_its_field_not_under_the_design_tag(client: TestClient) -> None:
    """The page maps a 422's loc to a form field: the design union's tag must not sit in it."""
    r = client.post("/api/v1/sweeps/validate", json={"grid": {"alpha": [0.5, "abc"], "D": [16], "L": [4], "M": [4]}})
    assert r.status_code == 422
    locs = [d["loc"] for d in r.json()["detail"]]
    assert ["body", "grid", "alpha", "list[float]", 1] in locs, locs
    zipped = {"alpha": [1], "D": [16], "zip": {"L": [4, "x"], "M": [4, 8]}}
    r = client.post("/api/v1/sweeps/validate", json={"grid": zipped})
    assert r.status_code == 422 and all(d["loc"][:3] == ["body", "grid", "zip"] for d in r.json()["detail"]), r.text


def test_a_refined_zip_design_is_budgeted_by_its_points_not_its_axes_product(client: TestClient) -> None:
    """200 zipped (L, M) pairs x 2 alphas are 400 points, though their axes' product is 80,000:
    a refinement of 1,000 more points fits max_points_per_sweep (20,000); 19,700 does not."""
    pairs = list(range(1, 201))
    grid = {"alpha": [1, 4], "D": [4], "zip": {"L": pairs, "M": pairs[::-1]}}
    refine = {"metric": "feature_update", "threshold": 0.25, "tol": 0.1, "max_points": 1000}
    ok = _post(client, "/api/v1/sweeps/validate", {"grid": grid, "refine": refine, "settings": {"steps": 1}})
    assert ok.status_code == 200 and ok.json()["n_points"] == 400, ok.text
    over = _post(client, "/api/v1/sweeps/validate",
                 {"grid": grid, "refine": {**refine, "max_points": 19_700}, "settings": {"steps": 1}})
    assert over.status_code == 422, over.text
    assert "minus the grid's 400 points" in over.text, over.text
