"""Sweeps: create (validate, expand, reuse, commit, then enqueue), list and search, get, annotate
(tags, note), cancel, retry, delete.

Writes run with `repo.transact`, which runs a transaction again when PostgreSQL aborted it for a
concurrent change, so racing submissions, retries and deletions of the same points are never a
5xx. A broker that refuses a task is never a 5xx either: the work is committed first, the answer
says `"dispatch": "pending"`, and the reaper sends it once the broker answers.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy.orm import Session

from backend.api.deps import (
    MAX_ID,
    Auth,
    Costly,
    DbDep,
    PrincipalDep,
    QueueDep,
    ReadSession,
    SettingsDep,
    owned,
    sweep_or_404,
)
from backend.api.errors import responses
from backend.api.sweep_schemas import Dispatch, SweepPatch, SweepPublic, sweep_draft, sweep_public
from backend.designs import expansion
from backend.grid import LimitViolation, PointSpec, SweepSpec, check_limits, expand
from backend.memory import MemoryPeak, memory_violation, sweep_peak
from backend.queue import TaskQueue, dispatch
from backend.refine_spec import refine_violation
from backend.settings import Limits
from backend.store import Database
from backend.store import sweep_lifecycle as life
from backend.store import sweeps as repo
from backend.store.sweep_notes import set_note, set_tags
from backend.store.sweep_reads import SweepSearch, count_sweeps, sweep_record, sweep_records
from backend.store.tables import utcnow
from backend.store.transactions import transact
from backend.sweep_tags import MAX_TAG_CHARS

router = APIRouter(prefix="/sweeps", tags=["sweeps"], responses=responses(401, 422, 503))
log = logging.getLogger(__name__)


def _limit_detail(violations: list[LimitViolation]) -> list[dict[str, Any]]:
    return [{"loc": ["body", *v.field.split(".")], "msg": v.message, "type": "limit", "limit": v.limit,
             "limit_value": v.limit_value, "value": v.value} for v in violations]


def _validated_points(spec: SweepSpec, limits: Limits) -> tuple[list[PointSpec], dict[str, list[float]], MemoryPeak]:
    """The spec's points, achieved axes and peak memory per worker; 422 naming each limit it is over
    (the memory limit once the others hold: it needs the points)."""
    design = expansion(spec.grid, limits)  # once per request: expansion and checks share it
    axes = design.axes()
    # the design's own point count: a zipped, ray or point-list design has fewer than its axes' product
    over_budget = refine_violation(spec.refine, design.n_points, limits)
    violations = check_limits(spec, limits, axes) + ([LimitViolation(*over_budget)] if over_budget else [])
    if violations:
        raise HTTPException(422, _limit_detail(violations))
    points = expand(spec, limits, axes)
    peak = sweep_peak(points)
    too_big = memory_violation(peak, limits)
    if too_big is not None:
        raise HTTPException(422, _limit_detail([too_big]))
    return points, axes, peak


def _not_found(sweep_id: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"sweep {sweep_id} not found")


def _summary(session: Session, sweep_id: int, dispatch: Dispatch | None = None) -> SweepPublic:
    """The sweep's summary now; 404 when there is no such sweep (or it was deleted meanwhile)."""
    rec = sweep_record(session, sweep_id) if 1 <= sweep_id <= MAX_ID else None
    if rec is None:
        raise _not_found(sweep_id)
    return sweep_public(rec, utcnow(), dispatch)


@router.post("/validate", response_model=SweepPublic, dependencies=[Auth, Costly], responses=responses(400, 413, 429))
def validate_sweep(spec: SweepSpec, settings: SettingsDep, db: DbDep) -> SweepPublic:
    """Check a spec and report its point count, reuse, cost (FLOPs, estimated_s) and the peak memory
    of its largest ensemble on one worker, without creating anything. 422 names each limit it is
    over, max_memory_bytes_per_worker included."""
    points, axes, peak = _validated_points(spec, settings.limits)
    with db.read_session() as s:
        reused = repo.count_reusable(s, [p.content_hash for p in points])
    cost = repo.sweep_cost(points, spec.settings)
    draft = sweep_draft(spec.name, spec.tags, axes, spec.settings.model_dump(mode="json"), len(points), reused,
                        cost.flops, cost.seconds)
    return draft.model_copy(update={"peak_memory_bytes": peak.bytes, "peak_memory_shape": peak.shape})


def _dispatched(db: Database, queue: TaskQueue, sweep_id: int, batches: list[list[int]]) -> Dispatch:
    """Send the committed batches; "sent", or "pending" when the broker refused them."""
    if dispatch(db, queue, batches):
        return "sent"
    log.warning("sweep %d: %d points stored and queued, dispatch pending: the broker %s refused them; "
                "the reaper sends them once it answers", sweep_id, sum(len(b) for b in batches),
                queue.url_for_display)
    return "pending"


@router.post("", response_model=SweepPublic, status_code=status.HTTP_201_CREATED, responses=responses(400, 413))
def create_sweep(spec: SweepSpec, settings: SettingsDep, db: DbDep, queue: QueueDep,
                 who: PrincipalDep) -> dict[str, Any]:
    """Store the sweep and its points in one transaction (commit first), then send one task per
    shape by name.

    201 whenever the sweep is stored, with `dispatch`: "sent" when the broker took every task,
    "pending" when it refused them (broker down, logged as a warning): the sweep and its points
    are committed and queued all the same, and the reaper sends them as soon as the broker
    answers, so nothing needs to be submitted again. Points already stored (same content hash,
    whoever submitted them, even concurrently) are reused: failed and cancelled ones are queued
    again, and queued ones that are stuck (never sent, or still unclaimed
    RESPHASE_DISPATCH_TIMEOUT_S after their last send) are sent again. (A plain dict: the claims
    route calls this function to create its control sweeps.)"""
    points, axes, _peak = _validated_points(spec, settings.limits)
    created = transact(db, lambda s: repo.create_sweep(s, spec, points, axes, settings.dispatch_timeout_s,
                                                       owner=who.name))
    sent = _dispatched(db, queue, created.sweep_id, created.batches)
    with db.read_session() as s:
        return _summary(s, created.sweep_id, sent).model_dump(mode="json")


_TOTAL = {"X-Total-Count": {"description": "How many sweeps match the filters (all pages)",
                             "schema": {"type": "integer"}}}


@router.get("", response_model=list[SweepPublic], responses={200: {"headers": _TOTAL}})
def list_sweeps(session: ReadSession, response: Response, limit: int = Query(50, ge=1, le=500),
                offset: int = Query(0, ge=0, le=MAX_ID),
                name: str | None = Query(None, max_length=200, description="Case-insensitive substring of the name"),
                tag: str | None = Query(None, max_length=MAX_TAG_CHARS, description="One exact tag (run:<id>: "
                                                                                   "the sweeps of one reproduce run)"),
                owner: str | None = Query(None, max_length=100, description="The token name that created it"),
                ) -> list[SweepPublic]:
    """The newest sweeps matching every filter given, newest first, `offset` skipped; the
    X-Total-Count header says how many match in all (five queries however many)."""
    search = SweepSearch(name=name, tag=tag, owner=owner)
    response.headers["X-Total-Count"] = str(count_sweeps(session, search))
    now = utcnow()
    return [sweep_public(rec, now) for rec in sweep_records(session, limit, offset, search)]


@router.get("/{sweep_id}", response_model=SweepPublic, responses=responses(404))
def get_sweep(sweep_id: int, session: ReadSession) -> SweepPublic:
    return _summary(session, sweep_id)


@router.patch("/{sweep_id}", response_model=SweepPublic, responses=responses(400, 403, 404, 413))
def annotate_sweep(sweep_id: int, body: SweepPatch, db: DbDep, who: PrincipalDep) -> SweepPublic:
    """Replace the sweep's tags and/or note (the fields given; 422 naming max_tags, max_tag_chars or
    max_note_chars when over). Only the sweep's owner or an admin may (403 otherwise)."""

    def work(s: Session) -> None:
        sweep = owned(sweep_or_404(s, sweep_id), who, "annotate")
        if body.tags is not None:
            set_tags(s, sweep.id, body.tags)
        if body.note is not None:
            set_note(s, sweep, body.note)

    transact(db, work)
    with db.read_session() as s:
        return _summary(s, sweep_id)


@router.post("/{sweep_id}/cancel", response_model=SweepPublic, responses=responses(403, 404))
def cancel_sweep(sweep_id: int, db: DbDep, who: PrincipalDep) -> SweepPublic:
    """Queued and running points become cancelled; running ones stop between two steps. Only the
    sweep's owner or an admin may (403 otherwise)."""
    try:
        transact(db, lambda s: life.cancel_sweep(s, owned(sweep_or_404(s, sweep_id), who, "cancel")))
    except life.SweepGone:
        raise _not_found(sweep_id) from None
    with db.read_session() as s:
        return _summary(s, sweep_id)


@router.post("/{sweep_id}/retry", response_model=SweepPublic, dependencies=[Auth], responses=responses(404))
def retry_sweep(sweep_id: int, settings: SettingsDep, db: DbDep, queue: QueueDep) -> SweepPublic:
    """Failed and cancelled points are queued again, and queued points that are stuck (never
    sent, or still unclaimed RESPHASE_DISPATCH_TIMEOUT_S after their last send: a lost broker
    message) are sent again. `dispatch` as for POST /sweeps."""

    def work(s: Session) -> list[list[int]]:
        return life.retry_sweep(s, sweep_or_404(s, sweep_id), settings.dispatch_timeout_s)

    try:
        batches = transact(db, work)
    except life.SweepGone:
        raise _not_found(sweep_id) from None
    sent = _dispatched(db, queue, sweep_id, batches)
    with db.read_session() as s:
        return _summary(s, sweep_id, sent)


@router.delete("/{sweep_id}", status_code=status.HTTP_204_NO_CONTENT, response_model=None,
               responses={204: {"description": "Deleted (no body)"}, **responses(403, 404)})
def delete_sweep(sweep_id: int, db: DbDep, who: PrincipalDep) -> Response:
    """Remove the sweep, and the points (with their results) that no other sweep uses; safe
    against a concurrent submission that reuses those points (it keeps or re-creates them)."""
    try:
        transact(db, lambda s: life.delete_sweep(s, owned(sweep_or_404(s, sweep_id), who, "delete")))
    except life.SweepGone:
        raise _not_found(sweep_id) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)
