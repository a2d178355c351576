"""RunSettings is the one schema: the reference key, the CLI flags, GET /meta and the worker's
model all follow its fields, and a new field cannot silently reuse stale references."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, ClassVar, get_args

import pytest
from fastapi.testclient import TestClient
from pydantic import Field

from backend.commands.run import add_arguments, setting_flags, settings_from_args
from backend.grid import PointSpec
from backend.main import create_app
from backend.run_settings import ReferenceSettings, ResidualScale, RunSettings, SettingField, setting_fields
from backend.settings import Settings
from worker import resnet
from worker.reference import reference_key

REF = ReferenceSettings(L=8, M=8, seeds=2)


def _key(settings: RunSettings) -> str:
    return reference_key(PointSpec(1.0, 8, 4, 4, settings))


def _other_values(f: SettingField) -> list[Any]:
    """Values of a field other than its default, each valid."""
    if f.type == "choice":
        return [c for c in f.choices or [] if c != f.default]
    if f.type == "integer":
        return [f.default + 1]
    if f.type == "number":
        return [f.default * 2 + 1]
    if f.type == "boolean":
        return [not f.default]
    raise AssertionError(f"no test values for a {f.type} setting ({f.name})")


@pytest.mark.parametrize("field", [f for f in setting_fields() if f.type != "group"], ids=lambda f: f.name)
def test_every_setting_is_classified_for_the_reference(field: SettingField) -> None:
    """A setting outside NETWORK_ONLY changes the reference key (for at least one of its values:
    some controls are the network's alone); one inside it never does."""
    base = _key(RunSettings(reference=REF))
    changed = [_key(RunSettings.model_validate({field.name: v, "reference": REF})) != base
               for v in _other_values(field)]
    if field.name in RunSettings.NETWORK_ONLY:
        assert not any(changed), field.name
    else:
        assert any(changed), f"{field.name} does not enter the reference key"


def test_every_reference_setting_enters_the_key() -> None:
    base = _key(RunSettings(reference=REF))
    for f in setting_fields(ReferenceSettings):
        other = REF.model_copy(update={f.name: _other_values(f)[0]})
        assert _key(RunSettings(reference=other)) != base, f.name


def test_a_new_field_enters_the_reference_key_unless_listed_as_network_only() -> None:
    class WithDecay(RunSettings):
        weight_decay: float = Field(0.0, ge=0, description="L2 penalty")

    class WithNetworkDecay(WithDecay):
        NETWORK_ONLY: ClassVar[frozenset[str]] = RunSettings.NETWORK_ONLY | {"weight_decay"}

    assert _key(WithDecay(weight_decay=0.1, reference=REF)) != _key(WithDecay(reference=REF))
    assert _key(WithNetworkDecay(weight_decay=0.1, reference=REF)) == _key(WithNetworkDecay(reference=REF))


def test_every_setting_is_described_and_typed() -> None:
    for f in setting_fields() + setting_fields(ReferenceSettings):
        assert f.title and f.description, f.name
    assert {f.name for f in setting_fields()} == set(RunSettings.model_fields)
    scale = next(f for f in setting_fields() if f.name == "residual_scale")
    assert scale.choices == list(get_args(ResidualScale)) and scale.default == "mlu"
    steps = next(f for f in setting_fields() if f.name == "steps")
    assert (steps.type, steps.minimum, steps.group) == ("integer", 0, "main")


def test_the_worker_uses_the_settings_types_and_values() -> None:
    assert resnet.ResidualScale is ResidualScale
    cfg = resnet.ResNetConfig.of(8, 4, 4, RunSettings(residual_scale="plain", activation="linear"))
    assert (cfg.residual_scale, cfg.activation) == ("plain", "linear")


def _parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(["--alpha", "1", "--D", "4", "--L", "4", "--M", "4", *argv])


def test_cli_flags_come_from_the_fields() -> None:
    flags = {f.name: flag for f, flag in setting_flags()}
    documented = {"steps": "--steps", "lr": "--lr", "seeds": "--seeds", "n_samples": "--n-samples",
                  "d_in": "--d-in", "d_out": "--d-out", "residual_scale": "--residual-scale",
                  "activation": "--activation", "problem_seed": "--problem-seed", "reference": "--reference",
                  "reference.L": "--ref-L", "reference.M": "--ref-M", "reference.seeds": "--ref-seeds",
                  "dtype": "--dtype", "control": "--control"}
    assert flags == documented
    assert settings_from_args(_parse()) == RunSettings(reference=ReferenceSettings())
    s = settings_from_args(_parse("--ref-seeds", "3", "--residual-scale", "plain", "--lr", "0.5", "--steps", "2"))
    assert s == RunSettings(reference=ReferenceSettings(seeds=3), residual_scale="plain", lr=0.5, steps=2)
    assert settings_from_args(_parse("--no-reference")).reference is None
    with pytest.raises(SystemExit):
        _parse("--activation", "relu")  # not a choice of the field


def test_meta_serves_the_settings_and_openapi_describes_them(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with TestClient(create_app(settings, run_reaper=False)) as client:
        meta = client.get("/api/v1/meta").json()
        schema = client.get("/api/v1/openapi.json").json()
    served = {f["name"]: f for f in meta["run_settings"]}
    assert list(served) == list(RunSettings.model_fields)
    assert served["residual_scale"]["choices"] == ["mlu", "plain"]
    assert served["lr"]["exclusive_minimum"] == 0 and served["lr"]["default"] == 1.0
    assert [f["name"] for f in served["reference"]["fields"]] == ["reference.L", "reference.M", "reference.seeds"]
    props = schema["components"]["schemas"]["Meta"]["properties"]
    assert props["run_settings"]["items"] == {"$ref": "#/components/schemas/SettingField"}
