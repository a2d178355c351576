"""What the page and clients need to know about this server: axes, metrics, regimes, limits."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from backend import __version__
from backend.api.deps import SettingsDep
from backend.controls import CONTROLS
from backend.grid import ALPHA_MAX, ALPHA_MIN, AXES, LR_MAX, LR_MIN, SCIENCE_VERSION
from backend.metrics import FLAGS, FLOOR_FACTOR, METRICS, REGIMES, THRESHOLDS
from backend.run_settings import SettingField, setting_fields
from backend.store.slices import AGGREGATES
from backend.store.tables import STATUSES

router = APIRouter(tags=["meta"])


class Meta(BaseModel):
    """What the page and clients need to know about this server (docs/api.md)."""

    model_config = ConfigDict(extra="allow")

    version: str
    science_version: str
    axes: list[str]
    metrics: dict[str, str]
    regimes: list[str]
    thresholds: dict[str, Any]
    statuses: list[str]
    aggregates: list[str]
    limits: dict[str, int]  # the RESPHASE_LIMIT_* values a request must stay within
    auth_required: bool
    controls: dict[str, Any]
    flags: dict[str, str]
    floor_factor: float
    bounds: dict[str, list[float]]  # [min, max] of alpha and lr
    run_settings: list[SettingField]  # every run setting, the source of the page's form
# async: no database, so it runs on the event loop and never waits behind the data routes' threads.


@router.get("/meta", response_model=Meta)
async def meta(settings: SettingsDep) -> dict[str, Any]:
    return {"version": __version__, "science_version": SCIENCE_VERSION, "axes": list(AXES), "metrics": METRICS,
            "regimes": list(REGIMES), "thresholds": THRESHOLDS, "statuses": list(STATUSES),
            "aggregates": list(AGGREGATES), "limits": settings.limits.model_dump(),
            "auth_required": bool(settings.api_token),
            "controls": {c.name: {"meaning": c.meaning, "network": c.network, "reference": c.reference}
                         for c in CONTROLS.values()},
            "flags": FLAGS, "floor_factor": FLOOR_FACTOR,
            "bounds": {"alpha": [ALPHA_MIN, ALPHA_MAX], "lr": [LR_MIN, LR_MAX]},
            "run_settings": setting_fields()}
