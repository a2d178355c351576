"""The Celery app and the task contract, torch-free: the API sends tasks by name and never
imports the worker. Brokers: Redis (team) or Celery's filesystem transport in the data directory
(embedded). The database, not the broker, is the source of truth: a lost message costs a delay
until the reaper re-sends its points, never a result.

Dispatch is owned by the database: whoever queues points (a submission, a retry, the reaper, a
worker giving points back) marks them sent (point.dispatched_at) in the transaction that queues
them and sends them after commit with `dispatch`. A send the broker refuses clears the mark; the
reaper (backend.reaper) sends again every queued point that was never sent, as soon as the broker
answers, and every queued point still unclaimed RESPHASE_DISPATCH_TIMEOUT_S after its last send
while the broker's queue is empty (a lost message), or RESPHASE_DISPATCH_MAX_WAIT_S after it
otherwise. Claims are conditional, so a duplicate message costs one no-op UPDATE.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from celery import Celery
from kombu.exceptions import ChannelError

from backend.settings import Settings
from backend.store import Database
from backend.store.sweeps import clear_dispatched

log = logging.getLogger(__name__)

TASK_RUN_BATCH = "resphase.run_batch"  # args: [point_ids] of one shape


def broker_folder(settings: Settings) -> Path:
    return (settings.data_dir / "broker").resolve()


def make_celery(settings: Settings) -> Celery:
    app = Celery("resphase", set_as_current=False)
    url = settings.broker_url or "filesystem://localhost/"  # a hostname: kombu warns on every connection without one
    options: dict[str, object] = {}
    if url.startswith("filesystem"):
        folder = broker_folder(settings)
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        options = {"data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
                   "processed_folder": str(folder / "processed"), "store_processed": False,
                   "control_folder": str(folder / "control")}
    elif url.startswith("redis"):
        # Bounded waits: an unreachable Redis (connections that time out rather than being refused)
        # costs a send a few seconds, not a hung request; the reaper sends it again later.
        options = {"visibility_timeout": 3600, "socket_connect_timeout": 3, "socket_timeout": 5,
                   "max_retries": 1}
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
        """One task per shape batch, in the given order (cheapest first); raises when the broker
        refuses one (those before it were sent)."""
        for ids in batches:
            if ids:
                self.app.send_task(TASK_RUN_BATCH, args=[list(ids)], queue=self.settings.queue)

    def try_send(self, batches: Sequence[Sequence[int]]) -> int:
        """Send the batches in order, stopping at the first the broker refuses (the rest would
        each wait out the publish retries); returns how many were sent."""
        sent = 0
        for ids in batches:
            try:
                self.send_batches([ids])
            except Exception as exc:  # kombu's OperationalError, a socket error, ...
                log.warning("broker %s refused a task (%s: %s); %d of %d batches left to the reaper",
                            self.url_for_display, type(exc).__name__, exc, len(batches) - sent, len(batches))
                return sent
            sent += 1
        return sent

    def pending(self) -> int | None:
        """Messages waiting in this deployment's broker queue (not those a worker has taken),
        or None when the broker does not answer."""
        try:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, interval_start=0.2, timeout=2)
                try:
                    return int(conn.default_channel.queue_declare(queue=self.settings.queue, passive=True)
                               .message_count)
                except ChannelError:  # Redis: no key yet, i.e. no message
                    return 0
        except Exception:
            return None

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


def dispatch(db: Database, queue: TaskQueue, batches: Sequence[Sequence[int]]) -> bool:
    """Send batches whose points the committed transaction marked as sent. When the broker
    refuses one, the points of it and of every later batch are marked never sent, so the reaper
    sends them as soon as the broker answers; returns whether everything was sent."""
    batches = [b for b in batches if b]
    sent = queue.try_send(batches)
    if sent == len(batches):
        return True
    unsent = [pid for ids in batches[sent:] for pid in ids]
    with db.session() as s:
        clear_dispatched(s, unsent)
    return False
