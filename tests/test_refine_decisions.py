"""Adaptive refinement's decisions (backend.analysis.refinement) on made-up lines, without a
database: a line's bracket and interval around its crossing, the alphas proposed for the next
round (never one the line has), and a round's state and point budget."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backend.analysis.boundaries import find_crossing
from backend.analysis.refinement import LineEstimate, assess_line, plan_round, propose_alphas, uniform_points

# Made-up lines: feature values fall linearly in log alpha through 0.25.

def _line(alphas: list[float], crossing: float, seeds: int = 1) -> tuple[np.ndarray, np.ndarray]:
    a = np.array(alphas)
    values = 0.25 - 0.1 * np.log(a / crossing)
    return a, np.repeat(values[:, None], seeds, axis=1)


def _estimate(alphas: list[float], crossing: float, tol: float = 0.05) -> LineEstimate:
    a, v = _line(alphas, crossing)
    return assess_line({"D": 16, "L": 8, "M": 16}, a, v, find_crossing(a, v, 0.25, n_boot=50), tol)


def test_assess_line_brackets_the_crossing_and_measures_the_interval() -> None:
    est = _estimate([0.25, 1, 4, 16], 2.0)
    assert est.crossing == pytest.approx(2.0) and est.bracket == (1.0, 4.0)
    assert est.interval == (1.0, 4.0) and est.width_rel == pytest.approx(1.5) and not est.converged
    fine = _estimate([1.95, 2.02, 2.5], 2.0)
    assert fine.bracket == (1.95, 2.02) and fine.width_rel == pytest.approx(0.035) and fine.converged
    flat = assess_line({"D": 1, "L": 1, "M": 1}, np.array([1.0, 2.0]), np.ones((2, 1)),
                       find_crossing(np.array([1.0, 2.0]), np.ones((2, 1)), 0.25, n_boot=10), 0.05)
    assert flat.crossing is None and flat.reason == "never reaches threshold" and not flat.converged


def test_propose_places_new_alphas_around_the_crossing_never_an_existing_one() -> None:
    est = _estimate([0.25, 1, 4, 16], 2.0)
    new = propose_alphas(est, 0.05, est.alphas)
    assert len(new) == 3 and all(1 < a < 4 for a in new)
    assert new[0] < 2.0 < new[1] and (new[1] - new[0]) / 2.0 < 0.05  # the next bracket is under tol
    assert all(a == float(f"{a:.12g}") for a in new)
    assert propose_alphas(est, 0.05, [*est.alphas, *new]) == []  # never an alpha the line has
    assert propose_alphas(_estimate([1.95, 2.02, 2.5], 2.0), 0.05, []) == []  # converged: nothing


def test_plan_round_states_and_budget() -> None:
    wide, narrow = _estimate([0.25, 1, 4, 16], 2.0), _estimate([1.95, 2.02, 2.5], 2.0)
    none = _estimate([1, 2], 100.0)
    assert plan_round([none], 0.05, 10, {}).state == "no_crossing"
    assert plan_round([narrow, none], 0.05, 10, {}).state == "converged"
    plan = plan_round([wide, narrow], 0.05, 2, {})
    assert plan.state == "refining" and plan.n_new == 2  # the budget caps the round
    assert plan_round([wide], 0.05, 0, {}).state == "budget_spent"
    assert uniform_points(0.25, 64, 0.05, 2) == 2 * (math.ceil(math.log(256) / math.log(1.05)) + 1)
