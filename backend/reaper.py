"""The reaper: running points whose worker stopped heartbeating go back to the queue, and queued
points whose broker message never went out or was lost are sent again, and sweeps that refine a
boundary get their next round once their points are finished (backend/store/refinements.py).

Both the API process and every worker run one; two reapers racing on the same point is safe,
since only one conditional UPDATE can move (or mark as sent) it, and only the ids it moved are
sent. See backend/queue.py for how dispatch is owned by the database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from backend.queue import TaskQueue, dispatch
from backend.settings import Settings
from backend.store import Database
from backend.store.points import reap
from backend.store.refinements import refine_once
from backend.store.sweeps import _batches_for, dispatch_due, take_undispatched

log = logging.getLogger(__name__)


def redispatch_once(db: Database, queue: TaskQueue, settings: Settings) -> int:
    """Send again the queued points that were never sent (their send failed), and those still
    unclaimed RESPHASE_DISPATCH_TIMEOUT_S after their last send when the broker's queue holds no
    message (so theirs was lost), or RESPHASE_DISPATCH_MAX_WAIT_S after it when it does (busy
    workers: the queue is not flooded with duplicates). Nothing while the broker does not answer.
    Returns how many points were sent."""
    with db.read_session() as s:
        if not dispatch_due(s, settings.dispatch_timeout_s):
            return 0
    waiting = queue.pending()
    if waiting is None:
        log.debug("reaper: the broker does not answer; queued points wait for it")
        return 0
    older_than = settings.dispatch_timeout_s if waiting == 0 else settings.dispatch_max_wait_s
    if older_than != settings.dispatch_timeout_s:
        with db.read_session() as s:
            if not dispatch_due(s, older_than):
                return 0
    with db.session() as s:
        ids = take_undispatched(s, older_than)
        batches = _batches_for(s, ids)
    if not ids:
        return 0
    if not dispatch(db, queue, batches):
        return 0
    log.warning("reaper: sent %d queued points again (never sent, or their message was lost)", len(ids))
    return len(ids)


def reap_once(db: Database, queue: TaskQueue, settings: Settings) -> int:
    """One pass; returns how many points were sent (again), or added by adaptive refinement
    (backend/store/refinements.py: a round for every refining sweep whose points are finished)."""
    with db.session() as s:
        batches = reap(s, settings.lease_timeout_s, settings.max_attempts)
    n = sum(len(b) for b in batches)
    if n:
        log.warning("reaper: %d points with a stale heartbeat went back to the queue", n)
        dispatch(db, queue, batches)
    return n + redispatch_once(db, queue, settings) + refine_once(db, queue, settings)


class ReaperThread(threading.Thread):
    """Calls reap_once every interval until stop() (daemon: never holds a process open)."""

    def __init__(self, db: Database, queue: TaskQueue, settings: Settings, interval_s: float | None = None,
                 on_tick: Callable[[], None] | None = None) -> None:
        super().__init__(name="resphase-reaper", daemon=True)
        self.db, self.queue, self.settings, self.on_tick = db, queue, settings, on_tick
        shortest = min(settings.lease_timeout_s, settings.dispatch_timeout_s)
        self.interval_s = interval_s if interval_s is not None else max(shortest / 3, 0.5)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            try:
                if self.on_tick is not None:
                    self.on_tick()
                reap_once(self.db, self.queue, self.settings)
            except Exception:  # a database hiccup must not kill the thread
                log.exception("reaper pass failed")

    def stop(self) -> None:
        self._stop_event.set()
