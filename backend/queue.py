"""The Celery app and the task contract, torch-free: the API sends tasks by name and never
imports the worker. Brokers: Redis (team) or Celery's filesystem transport in the data directory
(embedded). The database, not the broker, is the source of truth: a lost message costs a delay
until the reaper re-sends its points, never a result.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from celery import Celery

from backend.settings import Settings

TASK_RUN_BATCH = "resphase.run_batch"  # args: [point_ids] of one shape


def broker_folder(settings: Settings) -> Path:
    return (settings.data_dir / "broker").resolve()


def make_celery(settings: Settings) -> Celery:
    app = Celery("resphase", set_as_current=False)
    url = settings.broker_url or "filesystem://"
    options: dict[str, object] = {}
    if url.startswith("filesystem"):
        folder = broker_folder(settings)
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        options = {"data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
                   "processed_folder": str(folder / "processed"), "store_processed": False,
                   "control_folder": str(folder / "control")}
    elif url.startswith("redis"):
        options = {"visibility_timeout": 3600}
    app.conf.update(
        broker_url=url,
        broker_transport_options=options,
        broker_connection_retry_on_startup=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_default_queue=settings.queue,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app


class TaskQueue:
    """Sends work by task name. One per process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = make_celery(settings)

    def send_batches(self, batches: Sequence[Sequence[int]]) -> None:
        """One task per shape batch, in the given order (cheapest first)."""
        for ids in batches:
            if ids:
                self.app.send_task(TASK_RUN_BATCH, args=[list(ids)], queue=self.settings.queue)

    def ping_broker(self) -> bool:
        try:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            return True
        except Exception:
            return False

    @property
    def url_for_display(self) -> str:
        url = self.app.conf.broker_url or ""
        return url.split("@")[-1] if "@" in url else url
