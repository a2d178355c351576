"""Tests for backend.analysis.fits: power-law and multi-term rate fits with bootstrap CIs over seeds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from backend.analysis.expressions import parse
from backend.analysis.fits import MODELS, FitError, fit_model, fit_power_law
from backend.analysis.verdict import verdict

N_SEEDS = 8


def _lognormal(shape: tuple[int, ...], sigma: float, rng: np.random.Generator) -> np.ndarray:
    return np.exp(sigma * rng.standard_normal(shape))


def _power_data(x: np.ndarray, c: float, p: float, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return c * x[:, None] ** p * _lognormal((x.size, N_SEEDS), sigma, rng)


L_GRID = np.array([2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0])


def test_exact_power_law_is_recovered_exactly() -> None:
    fit = fit_power_law(L_GRID, 3.0 / L_GRID[:, None] * np.ones((1, 4)), n_boot=50)
    assert fit.exponent == pytest.approx(-1.0, abs=1e-12)
    assert fit.prefactor == pytest.approx(3.0, rel=1e-12)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.exponent_ci == pytest.approx((-1.0, -1.0), abs=1e-12)


@pytest.mark.parametrize(("p", "x"), [(-1.0, L_GRID), (-0.5, L_GRID * 16.0)])
def test_noisy_exponent_recovered_within_ci(p: float, x: np.ndarray) -> None:
    values = _power_data(x, 2.0, p, 0.1, seed=1)
    fit = fit_power_law(x, values, n_boot=400, predicted_exponent=p)
    lo, hi = fit.exponent_ci
    assert lo < fit.exponent < hi
    assert lo <= p <= hi
    assert verdict(p, fit.exponent, fit.exponent_ci, 0.15, n_seeds=fit.min_seeds) == "holds"
    assert abs(fit.exponent - p) < 0.05
    assert fit.prefactor == pytest.approx(2.0 * np.exp(0.1**2 / 2), rel=0.15)
    assert fit.prefactor_ci[0] < fit.prefactor < fit.prefactor_ci[1]
    assert fit.r2 > 0.99
    wrong = fit_power_law(x, values, n_boot=400, predicted_exponent=p + 0.5)
    assert verdict(p + 0.5, wrong.exponent, wrong.exponent_ci, 0.15, n_seeds=wrong.min_seeds) == "does not hold"


def test_ci_covers_true_exponent_in_most_rng_seeds() -> None:
    covered = 0
    for seed in range(10):
        values = _power_data(L_GRID, 1.0, -1.0, 0.2, seed=100 + seed)
        lo, hi = fit_power_law(L_GRID, values, n_boot=300, seed=seed).exponent_ci
        covered += lo <= -1.0 <= hi
    assert covered >= 7


def test_more_noise_gives_wider_ci() -> None:
    quiet = fit_power_law(L_GRID, _power_data(L_GRID, 1.0, -1.0, 0.05, seed=3), n_boot=300)
    noisy = fit_power_law(L_GRID, _power_data(L_GRID, 1.0, -1.0, 0.5, seed=3), n_boot=300)
    width = lambda f: f.exponent_ci[1] - f.exponent_ci[0]  # noqa: E731
    assert width(noisy) > 4 * width(quiet)


def test_bootstrap_is_reproducible_by_seed() -> None:
    values = _power_data(L_GRID, 1.0, -1.0, 0.3, seed=5)
    a = fit_power_law(L_GRID, values, n_boot=200, seed=11)
    b = fit_power_law(L_GRID, values, n_boot=200, seed=11)
    c = fit_power_law(L_GRID, values, n_boot=200, seed=12)
    assert a == b
    assert a.exponent == c.exponent
    assert a.exponent_ci != c.exponent_ci


@pytest.mark.filterwarnings("error")
def test_exclusions_are_counted_and_fit_matches_clean_data() -> None:
    x = np.array([0.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0])
    values = _power_data(x[1:], 1.0, -1.0, 0.1, seed=7)
    values = np.vstack([np.ones((1, N_SEEDS)), values])  # x = 0: excluded by its coordinate
    values[2, :] = np.nan  # no finite seeds
    values[3, :3] = np.nan  # three missing seeds, cell still used
    values[4, :] = -1.0  # non-positive mean
    fit = fit_power_law(x, values, n_boot=100)
    assert fit.exclusions == {"nonpositive_x": 1, "no_finite_seeds": 1, "nonpositive_mean": 1}
    assert (fit.n_cells_used, fit.n_cells_excluded) == (4, 3)
    assert fit.n_values_used == 4 * N_SEEDS - 3
    assert fit.n_values_excluded == values.size - fit.n_values_used
    keep = [1, 3, 5, 6]  # cell 3 enters with its 5 finite seeds
    means = np.array([np.nanmean(values[i]) for i in keep])
    slope, _ = np.polyfit(np.log(x[keep]), np.log(means), 1)
    assert fit.exponent == pytest.approx(slope, rel=1e-10)


def test_negative_seed_values_count_failed_replicates() -> None:
    x = np.array([1.0, 2.0, 4.0])
    values = np.array([[4.0, 4.0], [-1.0, 3.0], [1.0, 1.0]])  # middle mean 1 > 0, some resamples -1
    fit = fit_power_law(x, values, n_boot=200)
    assert fit.n_cells_used == 3
    assert 0 < fit.n_boot_failed < 200


def test_to_dict_is_json_safe() -> None:
    fit = fit_power_law(L_GRID, _power_data(L_GRID, 1.0, -1.0, 0.1, seed=2), n_boot=0, predicted_exponent=-1)
    d = fit.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["exponent_ci"] == [None, None]
    assert d["min_seeds"] == N_SEEDS
    assert d["predicted_exponent"] == -1
    assert isinstance(d["exponent"], float) and isinstance(d["n_cells_used"], int)


def test_power_law_errors() -> None:
    with pytest.raises(FitError, match="at least 2 distinct"):
        fit_power_law(np.array([4.0, 4.0, 4.0]), np.ones((3, 2)))
    with pytest.raises(FitError, match="at least 2 distinct"):
        fit_power_law(np.array([1.0, 2.0]), np.full((2, 3), np.nan))
    with pytest.raises(FitError, match="n_cells differ"):
        fit_power_law(np.array([1.0, 2.0, 3.0]), np.ones((2, 3)))
    with pytest.raises(FitError, match="0 < ci < 1"):
        fit_power_law(L_GRID, np.ones((L_GRID.size, 2)), ci=1.5)
    assert issubclass(FitError, ValueError)


def _grid(**axes: list[float]) -> dict[str, np.ndarray]:
    mesh = np.meshgrid(*[np.asarray(v, dtype=float) for v in axes.values()], indexing="ij")
    return {k: m.ravel() for k, m in zip(axes, mesh, strict=True)}


Coefs = dict[str, float]
Grid = dict[str, np.ndarray]


def _model_values(model: str, coefs: Coefs, axes: Grid, sigma: float) -> np.ndarray:
    truth = MODELS[model].evaluate(coefs, axes)
    return truth[:, None] * _lognormal((truth.size, N_SEEDS), sigma, np.random.default_rng(9))


@pytest.mark.parametrize(
    ("model", "coefs", "axes"),
    [
        ("depth_width", {"a": 0.7, "b": 0.3}, _grid(L=[2, 4, 8, 16, 32, 64], M=[1, 4, 16, 64], D=[4, 16])),
        (
            "depth_width_D",
            {"a": 0.7, "b": 0.3, "c": 0.2},
            _grid(L=[2, 4, 8, 16, 32], M=[1, 4, 16], D=[4, 16, 64]),
        ),
        ("alpha_width", {"a": 1.5, "b": 0.4}, _grid(alpha=[0.5, 2, 8], L=[2, 4, 8, 16, 32], M=[1, 4, 16])),
    ],
)
def test_models_recover_coefficients(model: str, coefs: Coefs, axes: Grid) -> None:
    fit = fit_model(model, axes, _model_values(model, coefs, axes, 0.05), n_boot=60)
    assert fit.model == model and fit.formula == MODELS[model].formula
    assert set(fit.coefficients) == set(coefs)
    for name, true in coefs.items():
        assert fit.coefficients[name] == pytest.approx(true, rel=0.1)
        lo, hi = fit.coefficient_ci[name]
        assert lo <= fit.coefficients[name] <= hi
    assert fit.rmse_log < 0.05
    assert fit.n_cells_used == axes["L"].size and fit.n_boot_failed == 0
    np.testing.assert_allclose(fit.predict(axes), MODELS[model].evaluate(coefs, axes), rtol=0.1)
    json.dumps(fit.to_dict(), allow_nan=False)


def test_noise_free_model_fit_is_exact_and_ignores_unused_axes() -> None:
    axes = _grid(L=[2, 4, 8, 16], M=[1, 8, 64])
    axes["alpha"] = np.full(axes["L"].size, 3.0)
    truth = MODELS["alpha_width"].evaluate({"a": 0.5, "b": 0.25}, axes)
    fit = fit_model("alpha_width", {**axes, "D": 16.0}, np.tile(truth[:, None], (1, 3)), n_boot=10)
    assert fit.coefficients["a"] == pytest.approx(0.5, rel=1e-6)
    assert fit.coefficients["b"] == pytest.approx(0.25, rel=1e-6)
    assert fit.rmse_log < 1e-8
    no_boot = fit_model("alpha_width", axes, np.tile(truth[:, None], (1, 3)), n_boot=0)
    assert no_boot.coefficients == pytest.approx(fit.coefficients)
    assert no_boot.to_dict()["coefficient_ci"] == {"a": [None, None], "b": [None, None]}


@pytest.mark.filterwarnings("error")
def test_model_evaluate_zero_coefficient_drops_term() -> None:
    axes: dict[str, float | np.ndarray] = {"L": np.array([2.0, 4.0]), "M": np.array([1.0, 1.0]), "D": 4.0}
    got = MODELS["depth_width"].evaluate({"a": 0.0, "b": 1.0}, axes)
    np.testing.assert_allclose(got, np.sqrt(4.0 / np.array([2.0, 4.0])))


@pytest.mark.parametrize("model", sorted(MODELS))
def test_model_formula_text_matches_model_function(model: str) -> None:
    spec = MODELS[model]
    axes = _grid(alpha=[0.5, 3], D=[4, 64], L=[2, 32], M=[1, 16])
    coefs = {c: 0.1 * (i + 2) for i, c in enumerate(spec.coefficients)}
    expr = parse(spec.formula, variables={"alpha", "D", "L", "M", *spec.coefficients})
    assert expr.variables == set(spec.axes) | set(spec.coefficients)
    np.testing.assert_allclose(expr.evaluate({**axes, **coefs}), spec.evaluate(coefs, axes), rtol=1e-12)
    assert json.loads(json.dumps(spec.to_dict()))["formula"] == spec.formula


@pytest.mark.filterwarnings("error")
def test_model_exclusions_counted() -> None:
    axes = _grid(L=[2, 4, 8, 16], M=[1, 4, 16], D=[4, 16])
    values = _model_values("depth_width", {"a": 1.0, "b": 0.5}, axes, 0.05)
    axes["M"][0] = 0.0
    values[1] = np.nan
    values[2, 0] = np.nan
    values[3] = 0.0
    fit = fit_model("depth_width", axes, values, n_boot=20)
    assert fit.exclusions == {"nonpositive_axis": 1, "no_finite_seeds": 1, "nonpositive_mean": 1}
    assert fit.n_cells_used == axes["L"].size - 3
    assert fit.n_values_used == fit.n_cells_used * N_SEEDS - 1
    assert fit.n_values_used + fit.n_values_excluded == values.size
    assert fit.coefficients["a"] == pytest.approx(1.0, rel=0.1)


def test_model_errors() -> None:
    axes = _grid(L=[2, 4, 8], M=[1, 4, 16])
    values = np.ones((axes["L"].size, 2))
    with pytest.raises(FitError, match="known models: alpha_width, depth_width, depth_width_D"):
        fit_model("cubic", axes, values)
    with pytest.raises(FitError, match="missing D"):
        fit_model("depth_width", axes, values)
    with pytest.raises(FitError, match="cannot identify"):  # L and D fixed: 1/L and 1/sqrt(D) proportional
        fit_model("depth_width_D", {"L": 4.0, "M": axes["M"], "D": 16.0}, values)
    with pytest.raises(FitError, match="cannot identify"):
        fit_model("depth_width", {**axes, "D": 4.0}, np.full_like(values, np.nan))
    with pytest.raises(FitError, match="n_cells"):
        fit_model("depth_width", {**axes, "D": np.ones(3)}, values)
