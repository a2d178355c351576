"""Dispatch owned by the database: points whose broker message never went out or was lost are sent
again by the reaper, by a resubmission and by /retry; a refused send is a 201 with dispatch
"pending", never a 500. The last test stops a Redis of its own (no persistence, as CI runs it)
during a submission and during a running sweep, with the real API and a real worker."""

from __future__ import annotations

import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.grid import SweepSpec, expand, expanded_axes
from backend.main import create_app
from backend.queue import TaskQueue
from backend.reaper import reap_once, redispatch_once
from backend.settings import Limits, Settings
from backend.store import Database
from backend.store import sweeps as repo
from backend.store.points import claim
from backend.store.tables import Point, Sweep, result_table, sweep_point
from tests.conftest import free_port, resphase_env, start, stop, truncate, wait_http, wait_sweep

LIMITS = Limits()
SMALL = {"name": "small", "grid": {"alpha": [1, 4], "D": [8], "L": [4, 8], "M": [4]},
         "settings": {"seeds": 1, "steps": 3}}
TIMEOUT = 2.0  # RESPHASE_DISPATCH_TIMEOUT_S in these tests: long enough that a loaded CI machine
# never takes it between two steps meant to fall inside it


def _spec(body: dict[str, Any]) -> SweepSpec:
    return SweepSpec.model_validate(body)


def _create(db: Database, body: dict[str, Any], dispatch_timeout_s: float | None = None) -> repo.CreatedSweep:
    spec = _spec(body)
    points, axes = expand(spec, LIMITS), expanded_axes(spec.grid, LIMITS)
    return repo.transact(db, lambda s: repo.create_sweep(s, spec, points, axes, dispatch_timeout_s))


def _ids(batches: list[list[int]]) -> list[int]:
    return sorted(i for b in batches for i in b)


def _purge(queue: TaskQueue) -> None:
    """Lose every message waiting in the broker queue (as a Redis restart without persistence)."""
    with queue.app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue.settings.queue)


@pytest.fixture
def fast(settings: Settings) -> Settings:
    """The test settings with a short dispatch timeout and the filesystem broker of tmp_path."""
    return settings.model_copy(update={"dispatch_timeout_s": TIMEOUT, "dispatch_max_wait_s": 30.0})


def test_reaper_resends_points_whose_message_was_lost(db: Database, fast: Settings) -> None:
    queue = TaskQueue(fast)
    created = _create(db, SMALL)  # stored and marked sent, but never sent: a lost message
    assert len(created.batches) == 2 and queue.pending() == 0
    assert redispatch_once(db, queue, fast) == 0  # not stale yet
    time.sleep(TIMEOUT + 0.3)
    assert reap_once(db, queue, fast) == 4
    assert queue.pending() == 2  # one task per shape, as the first send
    assert redispatch_once(db, queue, fast) == 0  # just sent
    time.sleep(TIMEOUT + 0.3)
    # still waiting in the broker (busy workers): no duplicates before dispatch_max_wait_s
    assert redispatch_once(db, queue, fast) == 0 and queue.pending() == 2
    _purge(queue)
    time.sleep(TIMEOUT + 0.3)
    assert redispatch_once(db, queue, fast) == 4 and queue.pending() == 2
    with db.session() as s:  # claimed points are never sent again
        claim(s, _ids(created.batches), "w", "h", "cpu", 60, 3)
    _purge(queue)
    time.sleep(TIMEOUT + 0.3)
    assert redispatch_once(db, queue, fast) == 0 and queue.pending() == 0


def test_busy_queue_is_not_flooded_but_a_long_wait_is_resent(db: Database, fast: Settings) -> None:
    queue = TaskQueue(fast)
    _create(db, SMALL)
    queue.send_batches([[10**6]])  # someone else's message keeps the queue busy
    time.sleep(TIMEOUT + 0.3)
    assert redispatch_once(db, queue, fast) == 0
    patient = fast.model_copy(update={"dispatch_max_wait_s": TIMEOUT})
    assert redispatch_once(db, queue, patient) == 4


def test_refused_send_is_a_201_with_dispatch_pending_then_the_reaper_sends(settings: Settings) -> None:
    down = settings.model_copy(update={"broker_url": f"redis://127.0.0.1:{free_port()}/0",
                                       "dispatch_timeout_s": 60.0})
    with TestClient(create_app(down, run_reaper=False)) as client:
        t0 = time.monotonic()
        r = client.post("/api/v1/sweeps", json=SMALL)
        took = time.monotonic() - t0
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["dispatch"] == "pending" and body["counts"]["queued"] == 4 and body["n_points"] == 4
        assert took < 10, took  # stops at the first refused task instead of retrying each
        assert client.get(f"/api/v1/sweeps/{body['id']}").json()["dispatch"] is None
        again = client.post("/api/v1/sweeps", json=SMALL).json()  # reuses the 4 points, still refused
        assert again["dispatch"] == "pending" and again["counts"]["queued"] == 4
        retried = client.post(f"/api/v1/sweeps/{body['id']}/retry")
        assert retried.status_code == 200 and retried.json()["dispatch"] == "pending"
    db = Database.connect(settings.resolved_database_url)
    try:
        with db.read_session() as s:
            assert list(s.scalars(select(Point.dispatched_at))) == [None] * 4  # marked never sent
        # the broker answers again: the reaper sends them at once, without waiting the timeout
        up = settings.model_copy(update={"dispatch_timeout_s": 60.0})
        queue = TaskQueue(up)
        assert redispatch_once(db, queue, up) == 4 and queue.pending() == 2
        assert redispatch_once(db, queue, up) == 0
    finally:
        db.dispose()


def test_resubmission_and_retry_resend_stuck_queued_points(db: Database, fast: Settings) -> None:
    first = _create(db, SMALL)  # message lost
    assert _create(db, SMALL, TIMEOUT).batches == []  # fresh: another submitter's send is in flight
    time.sleep(TIMEOUT + 0.3)
    again = _create(db, SMALL, TIMEOUT)
    assert _ids(again.batches) == _ids(first.batches) and len(again.batches) == 2
    assert _create(db, SMALL, TIMEOUT).batches == []  # the resubmission above just sent them
    time.sleep(TIMEOUT + 0.3)
    with TestClient(create_app(fast, run_reaper=False)) as client:
        r = client.post(f"/api/v1/sweeps/{first.sweep_id}/retry")
        assert r.status_code == 200 and r.json()["dispatch"] == "sent"
        assert TaskQueue(fast).pending() == 2
        assert client.post(f"/api/v1/sweeps/{first.sweep_id}/retry").json()["dispatch"] == "sent"
        assert TaskQueue(fast).pending() == 2  # nothing stuck any more: nothing sent
        assert client.post("/api/v1/sweeps/999999/retry").status_code == 404


# --- the real thing: a Redis of the test's own, stopped during a submission and during a sweep ---


class OwnRedis:
    """A redis-server on a free port under a temporary directory, without persistence (as CI
    runs it), so that stopping it loses every message; stopped by its PID."""

    def __init__(self, folder: Path) -> None:
        self.port, self.folder = free_port(), folder
        folder.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.folder / "redis.log").open("ab")
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.folder)],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            stop(self.proc, signal.SIGKILL)
            self.proc = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.kill()


def _counts(client: httpx.Client, sweep_id: int) -> dict[str, int]:
    counts: dict[str, int] = client.get(f"/api/v1/sweeps/{sweep_id}").json()["counts"]
    return counts


@pytest.mark.slow
def test_broker_lost_during_a_submission_and_during_a_sweep(tmp_path: Path, postgres_url: str,
                                                           own_redis: OwnRedis) -> None:
    """Redis down while a sweep is submitted (201, dispatch pending), then Redis killed and
    restarted empty while another sweep runs: once it is back, a real worker computes every
    point of both exactly once and none stays queued."""
    db = Database.connect(postgres_url)
    truncate(db)
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url, broker_url=own_redis.url,
                        lease_timeout_s=5, heartbeat_interval_s=0.5, queue=f"resphase-test-{uuid.uuid4().hex[:8]}")
    env = resphase_env(settings, RESPHASE_DISPATCH_TIMEOUT_S="1.5")
    port = free_port()
    api = start(["api", "--port", str(port)], env, tmp_path / "api.log")
    worker: subprocess.Popen[bytes] | None = None
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v1/health")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            # 1. the broker is down during the submission
            own_redis.kill()
            r = client.post("/api/v1/sweeps", json=SMALL)
            assert r.status_code == 201, r.text
            a = r.json()
            assert a["dispatch"] == "pending" and a["counts"]["queued"] == 4
            time.sleep(2)  # longer than the dispatch timeout: nothing to send it to yet
            own_redis.start()
            worker = start(["worker"], env, tmp_path / "worker.log")
            assert wait_sweep(client, a["id"], timeout=90)["counts"]["done"] == 4  # type: ignore[index]

            # 2. the broker dies, and comes back empty, while a sweep is running
            body = {"name": "during", "grid": {"alpha": [1, 2], "D": [16], "L": [8, 16, 24, 32, 40, 48], "M": [32]},
                    "settings": {"seeds": 2, "steps": 60}}
            b = client.post("/api/v1/sweeps", json=body).json()
            assert b["dispatch"] == "sent"
            deadline = time.monotonic() + 60
            while (c := _counts(client, b["id"]))["done"] < 2 or c["queued"] < 4:
                assert time.monotonic() < deadline and c["queued"] >= 4, c
                time.sleep(0.05)
            own_redis.kill()  # the messages of the queued shapes are gone
            time.sleep(1)
            own_redis.start()
            s = wait_sweep(client, b["id"], timeout=120)
            assert s["counts"]["done"] == 12, s  # type: ignore[index]

            # the final invariant, once the worker is idle
            time.sleep(2)
            for sweep_id in (a["id"], b["id"]):
                summary = client.get(f"/api/v1/sweeps/{sweep_id}").json()
                assert sum(summary["counts"].values()) == summary["n_points"], summary
        with db.read_session() as session:
            statuses = dict(session.execute(select(Point.status, func.count()).group_by(Point.status)).all())
            assert statuses == {"done": 16}, statuses
            assert session.scalar(select(func.count()).select_from(result_table)) == 16
            assert set(session.scalars(select(Point.attempts))) == {1}  # each point trained once
            links = {sid: n for sid, n in session.execute(
                select(sweep_point.c.sweep_id, func.count()).group_by(sweep_point.c.sweep_id))}
            assert links == {sw.id: sw.n_points for sw in session.scalars(select(Sweep))}
        # and it was the reapers that sent the lost points: the 4 never sent, then the >= 4 whose
        # messages the restart lost
        logs = (tmp_path / "api.log").read_text() + (tmp_path / "worker.log").read_text()
        resent = [int(n) for n in re.findall(r"reaper: sent (\d+) queued points again", logs)]
        assert sum(resent) >= 8, logs[-3000:]
    finally:
        if worker is not None:
            stop(worker)
        stop(api)
        db.dispose()
