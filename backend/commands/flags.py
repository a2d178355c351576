"""Command-line flags -> one Settings object, and a Settings object -> a child process's environment.

The server commands never write their flags into this process's os.environ: they build a Settings
object (the RESPHASE_* variables, with the flags over them) and hand it on explicitly, to
create_app, to the reaper, to `bind`. A child process (the worker of `resphase up`) cannot be
handed an object, so it gets the same settings as RESPHASE_* variables of its own environment,
built from the object by `settings_env`, the one place that knows how.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings

from backend.settings import Settings


class BadSettings(ValueError):
    """The flags or RESPHASE_* variables do not validate; str() is the one line to print."""


def _one_line(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "settings"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"invalid setting {where} (RESPHASE_{where.upper()} or its flag): {first['msg']}{more}"


def settings_from_flags(data_dir: str | None = None, host: str | None = None, port: int | None = None) -> Settings:
    """The environment's Settings with the given flags over them, validated once. The data
    directory comes back absolute (the log file, the server record and a child in another cwd all
    name the same place), and the reference cache defaults to <data_dir>/cache."""
    overrides: dict[str, Any] = {}
    if data_dir:
        overrides["data_dir"] = Path(data_dir)
    if host:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    try:
        settings = Settings(**overrides)  # init arguments take precedence over RESPHASE_* variables
    except ValidationError as exc:
        raise BadSettings(_one_line(exc)) from None
    resolved = settings.data_dir.resolve()
    cache = settings.cache_dir if settings.cache_dir is not None else resolved / "cache"
    return settings.model_copy(update={"data_dir": resolved, "cache_dir": cache})


def _text(value: object) -> str:
    """A field value as pydantic-settings reads it back from a variable."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float | Path):
        return str(value)  # str(float) round-trips exactly
    return json.dumps(value)  # lists and dicts: pydantic-settings parses complex fields as JSON


def _variables(model: BaseModel, prefix: str) -> dict[str, str | None]:
    """VARIABLE -> text for every field (None: a field left unset, its variable must be absent);
    a nested settings model (Limits) under its own prefix."""
    out: dict[str, str | None] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseSettings):
            out.update(_variables(value, str(value.model_config.get("env_prefix", ""))))
        else:
            out[f"{prefix}{name}".upper()] = None if value is None else _text(value)
    return out


def settings_env(settings: Settings, base: Mapping[str, str]) -> dict[str, str]:
    """`base` (usually os.environ) with every variable a Settings field reads replaced by the value
    `settings` holds, so that Settings() in a child process built with it equals `settings`.
    Variables that are not settings (PATH, RESPHASE_URL, ...) pass through unchanged."""
    variables = _variables(settings, str(settings.model_config.get("env_prefix", "")))
    env = {k: v for k, v in base.items() if k.upper() not in variables}  # names are case-insensitive
    env.update({k: v for k, v in variables.items() if v is not None})
    return env
