"""Negative controls: deliberately wrong physics, so that a claim can show it is able to fail.

A claim of the paper is worth checking only if its measurement would read differently were the
physics wrong. Each control below is a setting (`RunSettings.control`) that changes one thing the
claims depend on; `resphase reproduce` reruns each claim's preset under its controls and requires
every control to read "does not hold". Two more breakages are ordinary settings and need no entry
here: training off (`steps = 0`) and the other residual scale (`residual_scale`).

Torch-free: the API validates and documents these; the worker applies them (worker/resnet.py,
worker/reference.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ControlName = Literal["none", "tied_units", "lr_inverse_alpha", "lr_unscaled", "reference_other_problem"]


@dataclass(frozen=True)
class Control:
    name: str
    meaning: str
    network: bool  # changes the trained network
    reference: bool  # changes the reference (limit) it is compared to


CONTROLS: dict[str, Control] = {c.name: c for c in [
    Control("none", "the model as specified", network=False, reference=False),
    Control("tied_units", "every block starts from the same M units (drawn once, copied over the L blocks): "
            "L*M independent units become M, so depth no longer averages out the fluctuation",
            network=True, reference=False),
    Control("lr_inverse_alpha", "raw learning rate times alpha, i.e. proportional to 1/alpha instead of "
            "1/alpha^2: units move O(1) whatever alpha, the lazy regime disappears",
            network=True, reference=True),
    Control("lr_unscaled", "raw learning rate divided by L*M (not scaled with depth and width, as a naive "
            "port would do): units move O(1/(LM)), so updates shrink with L and M",
            network=True, reference=True),
    Control("reference_other_problem", "the reference is trained on another problem (problem seed + 1: "
            "other data, embedding and readout); the network is unchanged", network=False, reference=True),
]}


def reference_problem_seed(problem_seed: int, control: str) -> int:
    """The problem seed the reference of a run with this control is trained on."""
    return problem_seed + 1 if control == "reference_other_problem" else problem_seed


def reference_control(control: str) -> str:
    """The control as the reference sees it: controls of the network alone leave it as specified."""
    return control if CONTROLS[control].reference else "none"
