"""What a worker does with one task: claim -> compute -> record, under a heartbeated lease.

Kept apart from Celery (worker/tasks.py is the thin wrapper), so it runs the same in a test.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from backend.queue import TaskQueue, dispatch
from backend.settings import Settings
from backend.store import Database
from backend.store.points import claim, heartbeat, point_spec, record, release
from backend.store.progress import clear_progress
from backend.store.references import get_reference, put_reference
from worker.engine import compute_points, resolve_device
from worker.progress import ProgressBoard, ProgressWriter
from worker.reference import ReferenceLimit

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """Every point of the batch lost its lease (cancelled or reaped): stop training."""


class DbReferenceStore:
    """References in the shared database, so every worker and sweep reuses them."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._memory: dict[str, ReferenceLimit] = {}

    def get(self, key: str) -> ReferenceLimit | None:
        if key not in self._memory:
            with self.db.read_session() as s:
                data = get_reference(s, key)
            if data is None:
                return None
            self._memory[key] = ReferenceLimit.from_bytes(data)
        return self._memory[key]

    def put(self, key: str, ref: ReferenceLimit) -> None:
        self._memory[key] = ref
        with self.db.session() as s:
            put_reference(s, key, alpha=ref.alpha, D=int(ref.h.shape[1]), n_seeds=ref.n_seeds, data=ref.to_bytes())


@dataclass
class WorkerContext:
    """Per-process worker state, made in the process that runs tasks (after any fork)."""

    settings: Settings
    db: Database
    queue: TaskQueue
    device: torch.device
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")

    @classmethod
    def create(cls, settings: Settings, device: str = "auto") -> WorkerContext:
        db = Database.connect(settings.resolved_database_url)
        return cls(settings, db, TaskQueue(settings), resolve_device(device))


class LeaseKeeper(threading.Thread):
    """Heartbeats the batch's points; notices when none are held any more."""

    def __init__(self, ctx: WorkerContext, ids: Sequence[int]) -> None:
        super().__init__(name="resphase-lease", daemon=True)
        self.ctx, self.held = ctx, set(ids)
        self.lost_all = threading.Event()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.ctx.settings.heartbeat_interval_s):
            try:
                with self.ctx.db.session() as s:
                    self.held = heartbeat(s, sorted(self.held), self.ctx.name)
            except Exception:
                log.exception("heartbeat failed")
                continue
            if not self.held:
                self.lost_all.set()
                return

    def stop(self) -> None:
        self._stop_event.set()


def run_batch(ctx: WorkerContext, point_ids: Sequence[int]) -> dict[str, Any]:
    """Claim what is free of `point_ids`, train it as one ensemble, record what is still ours."""
    s_ = ctx.settings
    with ctx.db.session() as s:
        points = claim(s, point_ids, ctx.name, socket.gethostname(), str(ctx.device),
                       s_.lease_timeout_s, s_.max_attempts)
        ids = [p.id for p in points]
        specs = [point_spec(p) for p in points]
    if not ids:
        return {"claimed": 0, "recorded": 0}
    keeper = LeaseKeeper(ctx, ids)
    keeper.start()
    board = ProgressBoard({spec.content_hash: pid for pid, spec in zip(ids, specs, strict=True)})
    # the loss so far, every progress_interval_s (2 s; worker/progress.py)
    writer = ProgressWriter(ctx.db, board, ctx.name, s_.progress_interval_s)
    writer.start()

    def on_step(_step: int, _steps: int) -> None:
        if keeper.lost_all.is_set():
            raise Cancelled()

    try:
        outcomes = compute_points(specs, ctx.device, DbReferenceStore(ctx.db), on_step=on_step,
                                  on_losses=board.on_losses)
    except Cancelled:
        log.info("batch of %d points cancelled", len(ids))
        writer.stop()
        with ctx.db.session() as s:
            clear_progress(s, ids)
        return {"claimed": len(ids), "recorded": 0, "cancelled": True}
    except Exception:
        error = traceback.format_exc()
        log.error("batch failed: %s", error)
        writer.stop()
        with ctx.db.session() as s:
            clear_progress(s, ids)
            batches = release(s, ids, ctx.name, error, s_.max_attempts)
        dispatch(ctx.db, ctx.queue, batches)  # what the broker refuses, the reaper sends later
        return {"claimed": len(ids), "recorded": 0, "error": error.splitlines()[-1]}
    finally:
        keeper.stop()
        writer.stop()
    with ctx.db.session() as s:
        written = record(s, list(zip(ids, outcomes, strict=True)), ctx.name)
        clear_progress(s, ids)  # the result's loss_curves are the whole curves now
    return {"claimed": len(ids), "recorded": len(written)}
