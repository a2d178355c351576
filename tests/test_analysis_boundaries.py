"""Tests for backend.analysis.boundaries: threshold crossings along alpha with bootstrap CIs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from backend.analysis.boundaries import boundary_curve, find_crossing
from backend.analysis.fits import FitError

ALPHA = np.geomspace(0.25, 16.0, 13)  # factor sqrt(2) between cells


def _noisy(mean: np.ndarray, sigma: float, seed: int, n_seeds: int = 8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return mean[:, None] * np.exp(sigma * rng.standard_normal((mean.size, n_seeds)))


def test_known_crossing_located_inside_ci() -> None:
    values = _noisy(0.5 / ALPHA, 0.1, seed=0)  # crosses 0.25 at alpha = 2
    c = find_crossing(ALPHA, values, 0.25, n_boot=300)
    assert c.found and c.reason is None and c.crossed == "down"
    assert c.alpha == pytest.approx(2.0, rel=0.1)
    assert c.alpha_ci is not None and c.alpha is not None
    assert c.alpha_ci[0] <= 2.0 <= c.alpha_ci[1]
    assert c.alpha_ci[0] < c.alpha < c.alpha_ci[1]
    assert c.n_boot_no_crossing == 0
    assert (c.n_cells_used, c.n_cells_excluded, c.exclusions) == (13, 0, {})


def test_interpolation_is_linear_in_log_alpha() -> None:
    alpha = np.array([1.0, 2.0, 8.0, 16.0])
    values = (1.0 - np.log2(alpha) / 4.0)[:, None] * np.ones((1, 3))  # 0.5 at alpha = 4, between cells
    c = find_crossing(alpha, values, 0.5, n_boot=20)
    assert c.alpha == pytest.approx(4.0, rel=1e-12)
    assert c.alpha_ci == pytest.approx((4.0, 4.0), rel=1e-12)


def test_direction_handling() -> None:
    rising = _noisy(ALPHA / 8.0, 0.05, seed=1)  # crosses 0.25 upwards at alpha = 2
    up = find_crossing(ALPHA, rising, 0.25, direction="up", n_boot=100)
    assert up.found and up.crossed == "up" and up.alpha == pytest.approx(2.0, rel=0.1)
    down = find_crossing(ALPHA, rising, 0.25, direction="down", n_boot=100)
    assert not down.found and down.alpha is None and down.alpha_ci is None
    assert down.reason == "crosses threshold only going up"
    assert down.n_boot_no_crossing == 100


def test_first_crossing_in_requested_direction() -> None:
    alpha = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    bump = np.array([0.0, 1.0, 2.0, 1.0, 0.0])[:, None] * np.ones((1, 4))  # up, then down, through 1.5
    assert find_crossing(alpha, bump, 1.5, n_boot=10).alpha == pytest.approx(np.sqrt(2.0) * 2.0)
    assert find_crossing(alpha, bump, 1.5, direction="any", n_boot=10).crossed == "up"
    down = find_crossing(alpha, bump, 1.5, direction="down", n_boot=10)
    assert down.crossed == "down" and down.alpha == pytest.approx(np.sqrt(2.0) * 4.0)
    touching = find_crossing(alpha, bump, 2.0, direction="up", n_boot=10)
    assert touching.found and touching.alpha == pytest.approx(4.0)


def test_no_crossing() -> None:
    c = find_crossing(ALPHA, _noisy(0.5 / ALPHA, 0.1, seed=2), 10.0, n_boot=50)
    assert not c.found
    assert c.reason == "never reaches threshold"
    assert c.alpha is None and c.alpha_ci is None and c.crossed is None
    assert c.n_boot_no_crossing == 50
    d = c.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["alpha"] is None and d["reason"] == "never reaches threshold"


@pytest.mark.filterwarnings("error")
def test_nan_cells_excluded_and_counted() -> None:
    alpha = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    values = (1.0 - np.log2(alpha) / 4.0)[:, None] * np.ones((1, 4))  # crossing of 0.5 at alpha = 4
    values[2, :] = np.nan  # the cell at the crossing is missing entirely
    values[1, 1] = np.nan
    values[3, 0] = np.inf  # a diverged seed
    c = find_crossing(alpha, values, 0.5, n_boot=30)
    assert c.alpha == pytest.approx(4.0, rel=1e-12)
    assert (c.n_cells_used, c.n_cells_excluded) == (4, 1)
    assert c.exclusions == {"no_finite_seeds": 1}
    assert c.n_values_used == 4 * 4 - 2
    assert c.n_values_excluded == 6


@pytest.mark.filterwarnings("error")
def test_too_few_finite_cells_and_nonpositive_alpha() -> None:
    alpha = np.array([0.0, 1.0, 2.0])
    values = np.array([[1.0, 1.0], [1.0, 1.0], [np.nan, np.nan]])
    c = find_crossing(alpha, values, 0.5, n_boot=10)
    assert not c.found and c.reason == "too few finite cells"
    assert c.exclusions == {"nonpositive_alpha": 1, "no_finite_seeds": 1}
    assert c.n_boot_no_crossing == 10


def test_unsorted_alpha_gives_same_result() -> None:
    values = _noisy(0.5 / ALPHA, 0.1, seed=3)
    perm = np.random.default_rng(0).permutation(ALPHA.size)
    a = find_crossing(ALPHA, values, 0.25, n_boot=100, seed=4)
    b = find_crossing(ALPHA[perm], values[perm], 0.25, n_boot=100, seed=4)
    assert b.alpha == pytest.approx(a.alpha)
    assert b.found and a.found


def test_ci_widens_with_noise_and_marginal_crossings_are_counted() -> None:
    quiet = find_crossing(ALPHA, _noisy(0.5 / ALPHA, 0.02, seed=5), 0.25, n_boot=200)
    noisy = find_crossing(ALPHA, _noisy(0.5 / ALPHA, 0.3, seed=5), 0.25, n_boot=200)
    assert quiet.alpha_ci is not None and noisy.alpha_ci is not None
    assert np.log(noisy.alpha_ci[1] / noisy.alpha_ci[0]) > 4 * np.log(quiet.alpha_ci[1] / quiet.alpha_ci[0])
    marginal = np.array([[1.0, 1.0, 1.0, 1.0], [0.5, 1.2, 0.9, 1.0]])  # mean 0.9 just below 0.95
    c = find_crossing(np.array([1.0, 2.0]), marginal, 0.95, n_boot=200)
    assert c.found and 0 < c.n_boot_no_crossing < 200


def test_errors() -> None:
    values = np.ones((3, 2))
    with pytest.raises(FitError, match="repeat"):
        find_crossing(np.array([1.0, 2.0, 2.0]), values, 0.5)
    with pytest.raises(FitError, match="direction"):
        find_crossing(np.array([1.0, 2.0, 3.0]), values, 0.5, direction="sideways")  # type: ignore[arg-type]
    with pytest.raises(FitError, match="finite threshold"):
        find_crossing(np.array([1.0, 2.0, 3.0]), values, float("nan"))
    with pytest.raises(FitError, match="n_cells differ"):
        find_crossing(np.array([1.0, 2.0]), values, 0.5)


def test_boundary_curve_one_crossing_per_group() -> None:
    groups = [
        ({"L": 4, "M": 1}, ALPHA, _noisy(0.5 / ALPHA, 0.05, seed=6)),
        ({"L": 16, "M": 1}, ALPHA, _noisy(1.0 / ALPHA, 0.05, seed=7)),
        ({"L": 64, "M": 1}, ALPHA, _noisy(0.01 / ALPHA, 0.05, seed=8)),
    ]
    curve = boundary_curve(groups, 0.25, direction="down", n_boot=100)
    assert [c.fixed for c in curve] == [{"L": 4, "M": 1}, {"L": 16, "M": 1}, {"L": 64, "M": 1}]
    assert curve[0].alpha == pytest.approx(2.0, rel=0.1)
    assert curve[1].alpha == pytest.approx(4.0, rel=0.1)
    assert not curve[2].found
    alone = find_crossing(groups[1][1], groups[1][2], 0.25, direction="down", n_boot=100)
    assert curve[1].alpha == alone.alpha and curve[1].alpha_ci == alone.alpha_ci
    dumped = json.loads(json.dumps([c.to_dict() for c in curve], allow_nan=False))
    assert dumped[1]["fixed"] == {"L": 16, "M": 1}
