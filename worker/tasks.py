"""Thin Celery tasks: claim -> compute -> record lives in worker/runner.py.

Importing this module must not load torch: the prefork parent imports it to register the tasks,
and on CUDA nothing may touch the GPU in a process that forks. The runner (and torch) is
imported in the process that executes a task, at the first task.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from celery import Celery
from celery.signals import worker_process_shutdown, worker_ready, worker_shutdown

from backend.queue import TASK_RUN_BATCH, make_celery
from backend.settings import Settings, get_settings

if TYPE_CHECKING:
    from backend.reaper import ReaperThread
    from backend.store import Database
    from worker.runner import WorkerContext

log = logging.getLogger(__name__)


@dataclass
class _ProcessState:
    """This worker process's state: the device asked for, the task context (made in the process
    that runs tasks, after any fork), and the main process's reaper and /health registration."""

    device: str = field(default_factory=lambda: os.environ.get("RESPHASE_WORKER_DEVICE", "auto"))
    # The settings make_worker_app was given (prefork children inherit them by fork); None when
    # Celery imported this module on its own (`celery -A ...`): then the RESPHASE_* environment.
    settings: Settings | None = None
    pid: int | None = None  # the process `ctx` was made in
    ctx: WorkerContext | None = None
    reapers: list[ReaperThread] = field(default_factory=list)
    registration: tuple[Database, str] | None = None  # (database, worker name) while announced


_state = _ProcessState()


def _settings() -> Settings:
    return _state.settings if _state.settings is not None else get_settings()


def _context() -> WorkerContext:
    """The per-process worker context, made after any fork (engines and CUDA are per process)."""
    if _state.ctx is None or _state.pid != os.getpid():
        from worker.runner import WorkerContext

        _state.ctx = WorkerContext.create(_settings(), _state.device)
        _state.pid = os.getpid()
    return _state.ctx


def run_batch(point_ids: list[int]) -> dict[str, Any]:
    from worker.runner import run_batch as run

    result = run(_context(), point_ids)
    log.info("batch %s: %s", point_ids[:3], result)
    return result


def register(app: Celery) -> None:
    app.task(name=TASK_RUN_BATCH, acks_late=True, reject_on_worker_lost=True)(run_batch)


def make_worker_app(settings: Settings, device: str) -> Celery:
    _state.device = device
    _state.settings = settings
    app = make_celery(settings)
    register(app)
    return app


@worker_ready.connect
def _start_reaper(sender: Any = None, **_: Any) -> None:
    """Each worker's main process announces itself (for /health) and reaps, so a lost worker's
    points come back even when no API process runs."""
    from backend.queue import TaskQueue
    from backend.reaper import ReaperThread
    from backend.store import Database
    from backend.store.workers import announce

    settings = _settings()
    db = Database.connect(settings.resolved_database_url)
    name = f"{getattr(sender, 'hostname', 'worker')}:{os.getpid()}"

    def beat() -> None:
        with db.session() as s:
            announce(s, name, _state.device)

    beat()
    thread = ReaperThread(db, TaskQueue(settings), settings, interval_s=settings.heartbeat_interval_s, on_tick=beat)
    thread.start()
    _state.reapers.append(thread)
    _state.registration = (db, name)


@worker_shutdown.connect
@worker_process_shutdown.connect
def _stop_reaper(**_: Any) -> None:
    """Stop reaping and take this worker off the /health list (a killed one ages out instead)."""
    for thread in _state.reapers:
        thread.stop()
    registration, _state.registration = _state.registration, None
    if registration is not None:
        from backend.store.workers import retire

        db, name = registration
        with db.session() as s:
            retire(s, name)
