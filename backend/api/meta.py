"""What the page and clients need to know about this server: axes, metrics, regimes, limits."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from backend import __version__
from backend.api.deps import SettingsDep
from backend.grid import AXES, SCIENCE_VERSION
from backend.metrics import METRICS, REGIMES, THRESHOLDS
from backend.store.slices import AGGREGATES
from backend.store.tables import STATUSES

router = APIRouter(tags=["meta"])


@router.get("/meta")
def meta(settings: SettingsDep) -> dict[str, Any]:
    return {"version": __version__, "science_version": SCIENCE_VERSION, "axes": list(AXES), "metrics": METRICS,
            "regimes": list(REGIMES), "thresholds": THRESHOLDS, "statuses": list(STATUSES),
            "aggregates": list(AGGREGATES), "limits": settings.limits.model_dump(),
            "auth_required": bool(settings.api_token)}
