"""Adaptive refinement survives its faults, with real processes: `resphase api` and Celery workers
on PostgreSQL and Redis; the worker is killed (SIGKILL) and the API restarted while the refinement
runs, and the refinement still runs to its end with every point computed once, its result stored."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from backend.settings import Settings
from backend.store import Database
from backend.store.tables import Point, result_table, sweep_point
from tests.conftest import free_port, resphase_env, start, stop, truncate, wait_http
from tests.test_refine import EXAMPLE, _assert_accounted


def _api(settings: Settings, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], httpx.Client]:
    port = free_port()
    proc = start(["api", "--port", str(port)], env, log)
    wait_http(f"http://127.0.0.1:{port}/api/v1/health")
    return proc, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)


def _wait_refinement(client: httpx.Client, sweep_id: int, ok: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        s: dict[str, Any] = client.get(f"/api/v1/sweeps/{sweep_id}").json()
        if ok(s):
            return s
        assert time.monotonic() < deadline, s
        time.sleep(0.1)


@pytest.mark.slow
def test_killed_worker_and_restarted_api_lose_nothing(tmp_path: Path, postgres_url: str, redis_url: str) -> None:
    database = Database.connect(postgres_url)
    truncate(database)
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url, broker_url=redis_url,
                        lease_timeout_s=3, heartbeat_interval_s=0.5, queue=f"resphase-test-{uuid.uuid4().hex[:8]}")
    env = resphase_env(settings)
    body = {**EXAMPLE, "settings": {**EXAMPLE["settings"], "seeds": 4}}
    api, client = _api(settings, env, tmp_path / "api1.log")
    worker = start(["worker"], env, tmp_path / "w1.log")
    try:
        sweep_id = client.post("/api/v1/sweeps", json=body).json()["id"]
        # mid-refinement: a round's points added, not all computed yet
        _wait_refinement(client, sweep_id, lambda s: s["refinement"]["rounds"] >= 1
                         and s["counts"]["running"] + s["counts"]["queued"] >= 1, 120)
        stop(worker, signal.SIGKILL)
        stop(api)
        client.close()
        api, client = _api(settings, env, tmp_path / "api2.log")
        worker = start(["worker"], env, tmp_path / "w2.log")
        s = _wait_refinement(client, sweep_id, lambda s: s["state"] != "running", 180)
    finally:
        stop(worker)
        stop(api)
        client.close()
    ref = s["refinement"]
    # the refinement ran to its end through the kill and the restart (converged, or its 2 seeds'
    # spread kept a line's interval above tol until no new alpha could be placed)
    assert s["state"] == "finished" and ref["state"] in ("converged", "budget_spent"), ref
    assert ref["rounds"] >= 1 and len(ref["lines"]) == 2
    assert all(line["width_rel"] <= 0.05 for line in ref["lines"] if line["converged"])
    _assert_accounted(database, sweep_id)
    with database.read_session() as session:
        rows = session.execute(select(Point.status, Point.attempts, result_table.c.point_id)
                               .join(sweep_point, sweep_point.c.point_id == Point.id)
                               .outerjoin(result_table, result_table.c.point_id == Point.id)
                               .where(sweep_point.c.sweep_id == sweep_id)).all()
    database.dispose()
    assert rows and all(st == "done" and rid is not None for st, _, rid in rows)  # each point has its result
    assert max(a for _, a, _ in rows) <= 2  # a killed batch ran again at most once
