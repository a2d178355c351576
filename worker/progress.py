"""Per-step loss curves while a point trains: the loss buffers of the ensembles training now
(ProgressBoard, fed by the engine's on_losses hook) and a thread that writes the curves so far to
the database every RESPHASE_PROGRESS_INTERVAL_S (2 s, Settings.progress_interval_s; ProgressWriter,
backend/store/progress.py), so that GET /points/{id}/progress shows a long point's loss as it trains.

The training loop pays nothing for it: it fills the buffer it always fills, and this thread reads
it (a float64 (E, K + 1) CPU tensor, NaN for the steps not done yet) on its own schedule.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import torch

from backend.grid import PointSpec
from backend.store import Database
from backend.store.progress import Progress, write_progress

log = logging.getLogger(__name__)

PROGRESS_SAMPLES = 200  # steps kept per curve (evenly spread, first and last included)


def sampled_steps(step: int, n: int = PROGRESS_SAMPLES) -> list[int]:
    """At most n of the steps 0..step, evenly spread, both ends included."""
    if step + 1 <= n:
        return list(range(step + 1))
    return sorted({round(i * step / (n - 1)) for i in range(n)})


class ProgressBoard:
    """Which loss buffer row holds each (point, seed) of the ensembles started so far."""

    def __init__(self, ids_by_hash: dict[str, int]) -> None:
        self._ids = ids_by_hash
        self._lock = threading.Lock()
        # point id -> {seed: (buffer (E_chunk, K + 1), row)}
        self._rows: dict[int, dict[int, tuple[torch.Tensor, int]]] = {}
        self._seeds: dict[int, int] = {}

    def on_losses(self, group: Sequence[PointSpec], start: int, buffer: torch.Tensor) -> None:
        """The engine's hook: a chunk of `group`'s members (point-major) starts at member `start`."""
        seeds = group[0].settings.seeds
        with self._lock:
            for row in range(buffer.shape[0]):
                member = start + row
                pid = self._ids.get(group[member // seeds].content_hash)
                if pid is None:
                    continue
                self._rows.setdefault(pid, {})[member % seeds] = (buffer, row)
                self._seeds[pid] = seeds

    def snapshot(self) -> list[Progress]:
        """The curve so far of every point whose seeds have all started (sampled steps)."""
        with self._lock:
            items = [(pid, dict(rows)) for pid, rows in self._rows.items() if len(rows) == self._seeds[pid]]
        out = []
        for pid, rows in items:
            curves = torch.stack([rows[s][0][rows[s][1]] for s in sorted(rows)])  # (seeds, K + 1), a copy
            done = torch.isfinite(curves).any(dim=0).nonzero()
            if done.numel() == 0:
                continue
            step = int(done.max())
            at = sampled_steps(step)
            out.append(Progress(pid, step, curves.shape[1] - 1, at, curves[:, at].tolist()))
        return out


class ProgressWriter(threading.Thread):
    """Writes the board's curves every `interval_s`, only those that moved since the last write."""

    def __init__(self, db: Database, board: ProgressBoard, owner: str, interval_s: float) -> None:
        super().__init__(name="resphase-progress", daemon=True)
        self.db, self.board, self.owner, self.interval_s = db, board, owner, interval_s
        self._stop_event = threading.Event()
        self._written: dict[int, int] = {}  # point id -> step last written

    def run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            rows = [p for p in self.board.snapshot() if self._written.get(p.point_id) != p.step]
            if not rows:
                continue
            try:
                with self.db.session() as s:
                    write_progress(s, rows, self.owner)
            except Exception:
                log.exception("progress write failed")
                continue
            self._written.update({p.point_id: p.step for p in rows})

    def stop(self) -> None:
        """Stop and wait for a write under way, so nothing is written after the result."""
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=30)
