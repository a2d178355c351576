"""The paper's claims on the results in the database: GET /claims (the definitions),
GET /sweeps/{id}/claims (the claims of the presets a sweep runs, with their controls, the same
verdicts `resphase reproduce` gives on the same results), POST /sweeps/{id}/claims/controls."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session

from backend.analysis.claims import BASE, CLAIMS, VARIANTS, Rows, evaluate_claims, runs_needed
from backend.api.analysis_schemas import ClaimDefinition, ControlsCreated, SweepClaims
from backend.api.deps import DbDep, PrincipalDep, QueueDep, ReadSession, SettingsDep, sweep_or_404
from backend.api.errors import responses
from backend.api.sweeps import create_sweep
from backend.grid import SweepSpec, expand
from backend.presets import PRESETS, presets_of, variant_spec
from backend.settings import Limits
from backend.store.slices import point_statuses, rows_for_hashes

router = APIRouter(tags=["claims"], responses=responses(401, 422, 503))


@router.get("/claims", response_model=list[ClaimDefinition])
async def claim_definitions() -> list[dict[str, Any]]:
    return [{"name": c.name, "preset": c.preset, "statement": c.statement, "predicted": c.predicted,
             "tolerance": c.tolerance, "figure": {"metric": c.figure[0], "x": c.figure[1], "group": list(c.figure[2]),
                                                               "fixed": dict(c.fixed)},
             "controls": [{"name": v, "settings": VARIANTS[v].overrides, "rules_out": VARIANTS[v].rules_out}
                          for v in c.controls]} for c in CLAIMS]


def _variant_specs(preset: str, size: str) -> dict[str, SweepSpec]:
    out = {}
    for (name, variant), with_ref in runs_needed([preset]).items():
        overrides = {} if variant == BASE else VARIANTS[variant].overrides
        out[variant] = variant_spec(PRESETS[name], size, variant, overrides, with_ref)
    return out


def _preset_claims(session: Session, preset: str, size: str, limits: Limits) -> dict[str, Any]:
    runs: dict[tuple[str, str], Rows] = {}
    progress = []
    for variant, spec in _variant_specs(preset, size).items():
        hashes = [p.content_hash for p in expand(spec, limits)]
        rows, finished = rows_for_hashes(session, hashes)
        complete = finished == len(hashes)
        progress.append({"variant": variant, "n_points": len(hashes), "n_finished": finished, "complete": complete})
        if complete:
            runs[(preset, variant)] = rows
    claims = [c.to_dict() for c in evaluate_claims(runs)] if (preset, BASE) in runs else []
    return {"preset": preset, "size": size, "runs": progress, "claims": claims}


@router.get("/sweeps/{sweep_id}/claims", response_model=SweepClaims, responses=responses(404),
            response_model_exclude_unset=True)
def sweep_claims(sweep_id: int, session: ReadSession, settings: SettingsDep) -> dict[str, Any]:
    """The claims of every preset this sweep runs (none when it runs no preset as specified)."""
    spec = SweepSpec.model_validate(sweep_or_404(session, sweep_id).spec)
    return {"sweep_id": sweep_id,
            "presets": [_preset_claims(session, p, size, settings.limits) for p, size in presets_of(spec)]}


@router.post("/sweeps/{sweep_id}/claims/controls", response_model=ControlsCreated, responses=responses(404))
def run_controls(sweep_id: int, settings: SettingsDep, db: DbDep, queue: QueueDep, who: PrincipalDep) -> dict[str, Any]:
    """Create a sweep for each control of this sweep's presets whose points are not all stored
    yet (computed, or queued and running); calling it again while they compute creates nothing.
    Points that failed or were cancelled are retried from their own sweeps."""
    with db.read_session() as s:
        spec = SweepSpec.model_validate(sweep_or_404(s, sweep_id).spec)
        todo = []
        for preset, size in presets_of(spec):
            for variant, vspec in _variant_specs(preset, size).items():
                hashes = [p.content_hash for p in expand(vspec, settings.limits)]
                if variant != BASE and len(point_statuses(s, hashes)) < len(hashes):
                    todo.append(vspec)
    return {"created": [create_sweep(v, settings, db, queue, who)["id"] for v in todo]}
