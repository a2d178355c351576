"""The run settings: the one schema of everything but the four axes that determines a point's result.

Everything else derives from the fields below (docs/architecture.md, "How to add a run setting"):
the `resphase run` flags (backend/commands/run.py), the page's form (GET /meta `run_settings`,
rendered by frontend/js/settings_fields.js), the reference key (`reference_fields`) and the
worker's model (`worker.resnet.ResNetConfig.of`, which imports the choice types from here).

Each field carries its form label (`title`), its help (`description`), its default and bounds, and
its place in the form (`json_schema_extra={"group": "main"}`: shown at once; otherwise under
"More settings"). Torch-free.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

from backend.controls import ControlName, reference_control

# The choices, once: the worker's model types its fields with these same aliases.
ResidualScale = Literal["mlu", "plain"]
Activation = Literal["tanh", "linear"]
Dtype = Literal["float32", "float64"]

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]

MAIN: dict[str, Any] = {"group": "main"}  # shown at once in the form; the rest under "More settings"


class ReferenceSettings(BaseModel):
    """The large (L, M) network averaged over seeds that stands in for the infinite-depth limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    L: int = Field(256, ge=1, title="reference L", description="blocks of the reference network")
    M: int = Field(256, ge=1, title="reference M", description="units per block of the reference network")
    seeds: int = Field(8, ge=1, title="reference seeds",
                       description="unit seeds averaged; the noise floor falls like 1/sqrt(seeds)")

    # Names of these fields in the reference key (kept from before the key was derived); a new field
    # `x` enters the key as `x_ref`.
    KEY_NAMES: ClassVar[dict[str, str]] = {"L": "L_ref", "M": "M_ref", "seeds": "S_ref"}

    def key_fields(self) -> dict[str, Any]:
        return {self.KEY_NAMES.get(k, f"{k}_ref"): v for k, v in self.model_dump(mode="json").items()}


class RunSettings(BaseModel):
    """Everything but the four axes that determines a point's result (docs/science.md section 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The settings that do NOT change the reference a run compares to (the network's alone). Every
    # other field enters the reference key automatically, so a new setting never reuses a stale one.
    NETWORK_ONLY: ClassVar[frozenset[str]] = frozenset({"seeds", "reference"})

    steps: int = Field(10, ge=0, title="steps K", description="K, full-batch gradient steps",
                       json_schema_extra=MAIN)
    lr: FiniteFloat = Field(1.0, gt=0, title="learning rate η",
                            description="eta; the raw rate is eta*D/(s^2*L*M)", json_schema_extra=MAIN)
    seeds: int = Field(4, ge=1, title="seeds", description="unit seeds 0..seeds-1 (independent repetitions)",
                       json_schema_extra=MAIN)
    n_samples: int = Field(10, ge=1, title="samples N", description="N, training samples of the problem")
    d_in: int = Field(5, ge=1, title="input dim", description="d_in, input dimension of the data")
    d_out: int = Field(5, ge=1, title="output dim", description="d_out, output dimension of the data")
    residual_scale: ResidualScale = Field(
        "mlu", title="residual scale", json_schema_extra=MAIN,
        description="s = alpha*sqrt(D)/(L*M) (mlu, feature learning at alpha ~ 1) or alpha/(L*M) (plain)")
    activation: Activation = Field("tanh", title="activation", description="the units' nonlinearity")
    problem_seed: int = Field(0, ge=0, le=2**31 - 1, title="problem seed",
                              description="seed of the data, the embedding and the readout")
    reference: ReferenceSettings | None = Field(
        None, title="compare to the infinite-depth limit (reference run)",
        description="compare to the large-(L, M) limit (err_out, err_emb); null: no reference run",
        json_schema_extra={"cli_prefix": "ref"})
    dtype: Dtype = Field("float32", title="dtype", description="floating-point type of the training")
    control: ControlName = Field("none", title="control", description="a negative control (docs/science.md): "
                                 "deliberately wrong physics, to show that a claim can fail; 'none' for real runs")

    def reference_fields(self) -> dict[str, Any]:
        """Every setting that determines the reference of a run with these settings: all but
        NETWORK_ONLY, with the control as the reference sees it."""
        fields = self.model_dump(mode="json", exclude=set(self.NETWORK_ONLY))
        fields["control"] = reference_control(self.control)
        return fields


class SettingField(BaseModel):
    """One run setting as GET /meta states it (`run_settings`): what a form or flag needs."""

    name: str  # the field's name; a nested one is `reference.L`
    type: Literal["integer", "number", "boolean", "string", "choice", "group"]
    title: str  # the form's label
    description: str
    default: Any
    minimum: float | None = None  # value >= minimum
    exclusive_minimum: float | None = None  # value > exclusive_minimum
    maximum: float | None = None  # value <= maximum
    exclusive_maximum: float | None = None  # value < exclusive_maximum
    choices: list[str] | None = None  # for type "choice"
    group: Literal["main", "more"] = "more"  # where the form shows it
    cli_prefix: str | None = None  # for type "group": its fields' flags are --{cli_prefix}-{name}
    fields: list[SettingField] | None = None  # for type "group" (a nested settings object, or null)


def _kind(annotation: Any) -> tuple[str, list[str] | None, type[BaseModel] | None]:
    """A field's type as (kind, choices, nested model)."""
    origin = get_origin(annotation)
    if origin is Literal:
        return "choice", [str(a) for a in get_args(annotation)], None
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            return "group", None, args[0]
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if annotation in simple:
        return simple[annotation], None, None
    raise TypeError(f"a run setting of type {annotation!r} has no form input or flag: use int, float, bool, "
                    "str, a Literal of choices or an optional settings model")


def _bounds(info: FieldInfo) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in info.metadata:
        if isinstance(m, annotated_types.Ge):
            out["minimum"] = float(m.ge)  # type: ignore[arg-type]
        elif isinstance(m, annotated_types.Gt):
            out["exclusive_minimum"] = float(m.gt)  # type: ignore[arg-type]
        elif isinstance(m, annotated_types.Le):
            out["maximum"] = float(m.le)  # type: ignore[arg-type]
        elif isinstance(m, annotated_types.Lt):
            out["exclusive_maximum"] = float(m.lt)  # type: ignore[arg-type]
    return out


def setting_fields(model: type[BaseModel] = RunSettings, prefix: str = "") -> list[SettingField]:
    """The fields of a settings model in declaration order, nested models as groups."""
    out = []
    for name, info in model.model_fields.items():
        kind, choices, nested = _kind(info.annotation)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        out.append(SettingField(
            name=prefix + name, type=kind, title=info.title or name.replace("_", " "),
            description=info.description or "", default=info.get_default(call_default_factory=True),
            choices=choices, group=extra.get("group", "more"), cli_prefix=extra.get("cli_prefix"),
            fields=setting_fields(nested, f"{prefix}{name}.") if nested is not None else None,
            **_bounds(info)))
    return out
