"""Response schemas of the analysis routes (phase slices, fits, boundaries, theory, presets, claims).

They describe the JSON bodies the page and the clients read, field for field; the bodies are built
by backend/analysis (`to_dict`, through backend/jsonsafe.to_jsonable), so every number that may be
non-finite (a diverged cell, an interval without a finite end) is nullable here: NaN and infinities
are sent as null, the project's one JSON number rule.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from backend.grid import SweepSpec

Interval = tuple[float | None, float | None]  # a percentile interval (lo, hi); null ends are not finite


class PhaseSlice(BaseModel):
    """Row i follows y[i], column j follows x[j]; a cell not computed has z null and its status."""

    x_axis: str
    y_axis: str
    metric: str
    agg: str
    fixed: dict[str, float]  # the other two axes, at the values used
    x: list[float]
    y: list[float]
    z: list[list[float | None]]
    stderr: list[list[float | None]]
    n: list[list[int]]  # seeds behind each cell
    status: list[list[str]]  # a point status, or "missing" (no point of the sweep there)
    regime: list[list[str | None]]
    point_id: list[list[int | None]]
    # err_out and err_emb only: the reference's noise floor, and the cells within floor_factor of it
    floor: list[list[float | None]] | None = None
    near_floor: list[list[bool]] | None = None


class Cell(BaseModel):
    """One point of a sweep with one metric: its axes, status, regime and values (PhaseSlice's, per cell)."""

    point_id: int
    alpha: float
    D: int
    L: int
    M: int
    status: str
    regime: str | None
    z: float | None  # the `agg` over seeds; null until computed
    stderr: float | None
    n: int
    floor: float | None = None  # err_out and err_emb only, as in PhaseSlice
    near_floor: bool | None = None


class SweepCells(BaseModel):
    """The cells of a sweep matching `fixed`, in point id order; with `after`, only those changed since."""

    metric: str
    agg: str
    fixed: dict[str, float]
    cells: list[Cell]
    total: int = Field(description="cells matching `fixed`, changed or not: fewer merged cells means read them all")
    cursor: str | None = Field(description="the newest change among them (ISO UTC): pass it as `after` to poll")
    overlap_s: float = Field(description="a poll with `after` also re-sends the cells changed this long before it")


class Evaluation(BaseModel):
    formula: str
    variables: list[str]
    values: list[float | None]  # null where the formula is not finite


class Overlay(BaseModel):
    """A theory boundary as a formula for the value of `axis` in terms of the other axes."""

    name: str
    axis: str
    formula: str
    residual_scale: Literal["mlu", "plain"]
    meaning: str


class TheoryModel(BaseModel):
    """A multi-term error model GET /fit can fit (model=name)."""

    name: str
    formula: str
    description: str
    coefficients: list[str]
    axes: list[str]


class PresetView(BaseModel):
    """The view the page opens a sweep of this preset on: the colour metric, the x and y axes (raw
    or derived, as the page's axis menu names them) and the Lines & fits axis."""

    metric: str
    x: str
    y: str
    along: str


class Preset(BaseModel):
    name: str
    title: str
    description: str
    claims: list[str]
    quick: SweepSpec  # POST as is to /sweeps
    full: SweepSpec
    view: PresetView


class FitCounts(BaseModel):
    """Cells and seed values a fit used and excluded; `exclusions` counts excluded cells by reason."""

    n_cells_used: int
    n_cells_excluded: int
    n_values_used: int
    n_values_excluded: int
    exclusions: dict[str, int]


class RateFitResult(FitCounts):
    """A power law y ~ prefactor * x^exponent with bootstrap intervals, and how its cells were chosen."""

    exponent: float | None
    exponent_ci: Interval
    prefactor: float | None
    prefactor_ci: Interval
    r2: float | None
    predicted_exponent: float | None
    min_seeds: int
    n_boot: int
    n_boot_failed: int
    ci: float
    verdict: str
    error: str | None
    two_term: dict[str, float | None] | None
    dropped: dict[str, int]


class FitLine(BaseModel):
    """One power law of GET /fit: the cells of one value of `group` (all cells without one)."""

    group_value: float | None
    x: list[float]
    y: list[float | None]  # seed means
    y_stderr: list[float | None]
    floor: list[float | None] | None = None  # error metrics only: the reference's noise floor per cell
    fit: RateFitResult | None
    verdict: Literal["holds", "does not hold", "inconclusive"]
    two_term: dict[str, float | None] | None
    dropped: dict[str, int]
    fit_error: str | None = None  # only when `fit` is null: why


class ModelFitResult(FitCounts):
    """A multi-term model's coefficients with bootstrap intervals, by coefficient name."""

    model: str
    formula: str
    coefficients: dict[str, float | None]
    coefficient_ci: dict[str, Interval]
    rmse_log: float | None
    n_boot: int
    n_boot_failed: int
    ci: float


class FitAnswer(BaseModel):
    """model "power": `along`, `group`, `predicted_exponent`, `tolerance` and `lines`, one rate
    fit per value of `group`; another model: `fit`, over every cell."""

    metric: str
    model: str
    fixed: dict[str, float]
    n_cells: int
    cells_by_status: dict[str, int]
    along: str | None = None
    group: str | None = None
    predicted_exponent: float | None = None
    tolerance: float | None = None
    lines: list[FitLine] | None = None
    fit: ModelFitResult | None = None


class Curve(FitCounts):
    """Where one line's seed mean crosses the threshold along alpha; `fixed`: the line's D, L, M."""

    fixed: dict[str, float]
    found: bool
    alpha: float | None
    alpha_ci: Interval | None
    bracket: Interval | None = Field(None, description="the two usable alphas the crossing interpolates between")
    interval: Interval | None = Field(None, description="the hull of bracket and alpha_ci: the crossing is known "
                                                        "no better than this (claims and refinement read it)")
    crossed: Literal["down", "up"] | None
    reason: str | None  # why not found
    threshold: float
    direction: Literal["down", "up", "any"]
    n_boot: int
    n_boot_no_crossing: int
    ci: float


class BoundariesAnswer(BaseModel):
    metric: str
    threshold: float
    direction: Literal["down", "up", "any"]
    group: str | None
    fixed: dict[str, float]  # the axes held: `fixed`, and with a group the other axes' used values
    curves: list[Curve]
    cells_by_status: dict[str, int]


class ControlDefinition(BaseModel):
    name: str
    settings: dict[str, Any]  # the run settings the control overrides
    rules_out: str


class Figure(BaseModel):
    """The figure a claim reads: a metric against x, one line per value of the `group` axes."""

    metric: str
    x: str
    group: list[str]
    fixed: dict[str, float]


class ClaimDefinition(BaseModel):
    name: str
    preset: str
    statement: str
    predicted: float
    tolerance: float
    controls: list[ControlDefinition]
    figure: Figure


class Condition(BaseModel):
    """A side condition of a measurement: holds when measured <= limit."""

    name: str
    measured: float | None
    limit: float
    meaning: str
    holds: bool


class ControlResult(ControlDefinition):
    measured: float | None
    ci: Interval | None
    verdict: str  # a verdict, or "not run"
    detail: str
    conditions: list[Condition] | None = None  # only for a control that was run


class ClaimResult(BaseModel):
    """A `resphase reproduce --json` row."""

    claim: str
    preset: str
    statement: str
    predicted: float
    tolerance: float
    measured: float | None
    ci: Interval | None
    verdict: Literal["holds", "does not hold", "inconclusive"]
    detail: str
    conditions: list[Condition]
    controls: list[ControlResult]
    figure: Figure


class RunProgress(BaseModel):
    variant: str  # "none": the preset as specified; else a control of backend/analysis/claims.VARIANTS
    n_points: int
    n_finished: int
    complete: bool


class PresetClaims(BaseModel):
    preset: str
    size: str
    runs: list[RunProgress]
    claims: list[ClaimResult]  # empty until the preset's own run is complete


class SweepClaims(BaseModel):
    sweep_id: int
    presets: list[PresetClaims]


class ControlsCreated(BaseModel):
    created: list[int]  # ids of the sweeps created for the controls not yet run
