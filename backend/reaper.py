"""The reaper: running points whose worker stopped heartbeating go back to the queue.

Both the API process and every worker run one; two reapers racing on the same point is safe,
since only one conditional UPDATE can move it, and only the ids it moved are re-sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from backend.queue import TaskQueue
from backend.settings import Settings
from backend.store import Database
from backend.store.points import reap

log = logging.getLogger(__name__)


def reap_once(db: Database, queue: TaskQueue, settings: Settings) -> int:
    """One pass; returns how many points were re-sent."""
    with db.session() as s:
        batches = reap(s, settings.lease_timeout_s, settings.max_attempts)
    queue.send_batches(batches)
    n = sum(len(b) for b in batches)
    if n:
        log.warning("reaper: %d points with a stale heartbeat went back to the queue", n)
    return n


class ReaperThread(threading.Thread):
    """Calls reap_once every interval until stop() (daemon: never holds a process open)."""

    def __init__(self, db: Database, queue: TaskQueue, settings: Settings, interval_s: float | None = None,
                 on_tick: Callable[[], None] | None = None) -> None:
        super().__init__(name="resphase-reaper", daemon=True)
        self.db, self.queue, self.settings, self.on_tick = db, queue, settings, on_tick
        self.interval_s = interval_s if interval_s is not None else max(settings.lease_timeout_s / 3, 0.5)
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
