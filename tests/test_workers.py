"""End to end with real processes: `resphase up` (SQLite + filesystem broker), and `resphase api`
with Celery workers on the machine's Redis and PostgreSQL, one of them killed mid-sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx
import pytest
import torch
from sqlalchemy import func, select

from backend.grid import PointSpec, RunSettings
from backend.queue import TASK_RUN_BATCH, make_celery
from backend.settings import Settings
from backend.store import Database
from backend.store.tables import Point, WorkerRecord, result_table
from tests.conftest import free_port, resphase_env, start, stop, truncate, wait_http, wait_sweep
from worker.engine import compute_points
from worker.reference import MemoryDiskReferenceStore

pytestmark = pytest.mark.slow

GRID_4X4 = {"name": "4x4", "grid": {"alpha": {"geom": [0.5, 16, 4]}, "D": [16], "L": [4, 8, 16, 32], "M": [32]},
            "settings": {"seeds": 2}}


def slice_matches_engine(client: httpx.Client, sweep_id: int, body: Mapping[str, object]) -> int:
    """Compare every cell of the alpha x L slice with compute_points on the same points."""
    ph = client.get(f"/api/v1/sweeps/{sweep_id}/phase", params={"x": "alpha", "y": "L",
                                                               "metric": "feature_update"}).json()
    settings = RunSettings.model_validate(body["settings"])
    D, M = int(ph["fixed"]["D"]), int(ph["fixed"]["M"])
    points = [PointSpec(a, D, int(L), M, settings) for L in ph["y"] for a in ph["x"]]
    outcomes = compute_points(points, torch.device("cpu"), MemoryDiskReferenceStore(None))
    finite = 0
    for k, outcome in enumerate(outcomes):
        i, j = divmod(k, len(ph["x"]))
        want = outcome.aggregates()["feature_update"].mean
        assert ph["z"][i][j] == pytest.approx(want, rel=1e-5), (i, j)
        finite += ph["z"][i][j] is not None
    return finite


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[tuple[httpx.Client, Settings]]:
    """`resphase up` in an empty directory, as a user starts it."""
    port = free_port()
    settings = Settings(data_dir=tmp_path / "data", lease_timeout_s=5, heartbeat_interval_s=0.5)
    env = resphase_env(settings)
    env.pop("RESPHASE_DATABASE_URL"), env.pop("RESPHASE_BROKER_URL")
    proc = start(["up", "--port", str(port), "--data-dir", str(settings.data_dir)], env, tmp_path / "up.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v1/health")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client, settings
    finally:
        stop(proc, signal.SIGINT)
    # Ctrl-C (SIGINT to the process group, as a terminal sends it) ends `up` cleanly: exit status 0
    # (stop() escalates to SIGKILL after 15 s, which reads -9), its worker gone with it (nothing is
    # left in the group) and taken off the /health list on its way out (its row retired, not aged out).
    log = (tmp_path / "up.log").read_text()[-3000:]
    assert proc.returncode == 0, log
    assert not group_alive(proc.pid), log
    db = Database.connect(f"sqlite:///{settings.data_dir / 'resphase.sqlite3'}", migrate=False)
    with db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(WorkerRecord)) == 0, log
    db.dispose()


def group_alive(pgid: int) -> bool:
    """Whether any process of the process group `pgid` still exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_up_embedded_4x4_sweep_matches_resphase_run(embedded: tuple[httpx.Client, Settings]) -> None:
    client, settings = embedded
    start_t = time.monotonic()
    sid = client.post("/api/v1/sweeps", json=GRID_4X4).json()["id"]
    s = wait_sweep(client, sid, timeout=60)
    assert s["counts"]["done"] == 16, s  # type: ignore[index]
    assert time.monotonic() - start_t < 60
    assert slice_matches_engine(client, sid, GRID_4X4) == 16
    assert (settings.data_dir / "resphase.sqlite3").exists()
    health = client.get("/api/v1/health").json()
    assert health["status"] == "ok" and health["workers"]["count"] == 1, health


def test_cancel_stops_a_running_batch(embedded: tuple[httpx.Client, Settings]) -> None:
    client, _ = embedded
    slow = {"name": "slow", "grid": {"alpha": [1, 2], "D": [32], "L": [64, 96, 128], "M": [64]},
            "settings": {"seeds": 4, "steps": 1000}}
    sid = client.post("/api/v1/sweeps", json=slow).json()["id"]
    deadline = time.monotonic() + 60
    while client.get(f"/api/v1/sweeps/{sid}").json()["counts"]["running"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    s = client.post(f"/api/v1/sweeps/{sid}/cancel").json()
    assert s["counts"]["cancelled"] == 6 and s["state"] == "cancelled"
    # the worker notices between two steps and is free again: a new small sweep completes
    quick = {"name": "after", "grid": {"alpha": [1], "D": [8], "L": [4], "M": [4]}, "settings": {"seeds": 1}}
    after = client.post("/api/v1/sweeps", json=quick).json()["id"]
    assert wait_sweep(client, after, timeout=30)["counts"]["done"] == 1  # type: ignore[index]


@pytest.fixture
def team(tmp_path: Path, postgres_url: str, redis_url: str) -> Iterator[tuple[httpx.Client, Settings, dict[str, str]]]:
    """`resphase api` on PostgreSQL and Redis; the test starts the workers it needs."""
    db = Database.connect(postgres_url)
    truncate(db)
    db.dispose()
    # a queue of its own: another test run on this machine may share the Redis server
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url, broker_url=redis_url,
                        lease_timeout_s=3, heartbeat_interval_s=0.5, queue=f"resphase-test-{uuid.uuid4().hex[:8]}")
    port = free_port()
    env = resphase_env(settings)
    api = start(["api", "--port", str(port)], env, tmp_path / "api.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v1/health")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client, settings, env
    finally:
        stop(api)


def test_redis_postgres_workers_compute_a_sweep(team: tuple[httpx.Client, Settings, dict[str, str]],
                                               tmp_path: Path) -> None:
    client, settings, env = team
    workers = [start(["worker"], env, tmp_path / f"w{i}.log") for i in range(2)]
    try:
        # both consume before the 4 tasks (one per L) exist; with a prefetch of one, each takes a task
        wait_until(lambda: client.get("/api/v1/health").json()["workers"]["count"] == 2, 90, "two workers")
        sid = client.post("/api/v1/sweeps", json=GRID_4X4).json()["id"]
        assert wait_sweep(client, sid, timeout=90)["counts"]["done"] == 16  # type: ignore[index]
        assert slice_matches_engine(client, sid, GRID_4X4) == 16
        ran = tasks_run(settings, {w.pid for w in workers})
    finally:
        for w in workers:
            stop(w)
    assert set(ran) == {w.pid for w in workers} and min(ran.values()) >= 1, ran  # both computed points
    db = Database.connect(settings.database_url, migrate=False)
    with db.read_session() as session:
        attempts = list(session.scalars(select(Point.attempts)))
        results = session.scalar(select(func.count()).select_from(result_table))
    db.dispose()
    assert attempts == [1] * 16 and results == 16  # every point claimed once, recorded once


def wait_until(ok: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.2)


def tasks_run(settings: Settings, pids: set[int]) -> dict[int, int]:
    """Per worker process (pid): the run_batch tasks it has run, from Celery's remote-control stats
    over the broker. Both workers share a host, so the points' worker_host cannot tell them apart;
    other test runs' workers on the same Redis answer too and are left out by pid."""
    stats = make_celery(settings).control.inspect(timeout=3).stats() or {}
    return {int(s["pid"]): int(s.get("total", {}).get(TASK_RUN_BATCH, 0)) for s in stats.values()
            if int(s["pid"]) in pids}


def test_sigkill_mid_sweep_loses_no_work_and_duplicates_no_result(
        team: tuple[httpx.Client, Settings, dict[str, str]], tmp_path: Path) -> None:
    client, settings, env = team
    # ~1 s a shape on the compiled kernel (worker/native.py): the kill lands in the middle of one
    body = {"name": "kill", "grid": {"alpha": [1, 2], "D": [32], "L": [32, 48, 64, 80], "M": [64]},
            "settings": {"seeds": 4, "steps": 400}}
    first = start(["worker"], env, tmp_path / "first.log")
    try:
        sid = client.post("/api/v1/sweeps", json=body).json()["id"]
        deadline = time.monotonic() + 90
        while True:  # kill once it has finished something and is in the middle of something else
            counts = client.get(f"/api/v1/sweeps/{sid}").json()["counts"]
            if counts["done"] >= 2 and counts["running"] >= 1:
                break
            assert time.monotonic() < deadline, counts
            time.sleep(0.1)
    finally:
        stop(first, signal.SIGKILL)
    second = start(["worker"], env, tmp_path / "second.log")
    try:
        s = wait_sweep(client, sid, timeout=150)
    finally:
        stop(second)
    assert s["counts"]["done"] == 8, s  # type: ignore[index]
    db = Database.connect(settings.database_url, migrate=False)
    with db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(result_table)) == 8
        attempts = list(session.scalars(select(Point.attempts)))
    db.dispose()
    assert max(attempts) == 2 and min(attempts) == 1  # the interrupted batch ran again, once


def test_cli_clients_against_a_live_server(embedded: tuple[httpx.Client, Settings], tmp_path: Path) -> None:
    """`resphase sweep submit --wait`, `sweep list`, `sweep status`, `export` as a user types them."""
    client, _ = embedded
    url = str(client.base_url)
    spec = tmp_path / "sweep.json"
    spec.write_text(json.dumps({"name": "cli", "grid": {"alpha": [1, 2], "D": [8], "L": [4], "M": [4]},
                                "settings": {"seeds": 2, "steps": 3}}))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "backend.cli", *args, "--url", url], capture_output=True,
                              text=True, timeout=120, check=False)

    submitted = cli("sweep", "submit", str(spec), "--wait", "--poll", "0.2")
    assert submitted.returncode == 0, submitted.stderr
    assert "2 points" in submitted.stdout and "finished" in submitted.stdout
    sweep_id = submitted.stdout.split()[1].rstrip(":")
    assert sweep_id in cli("sweep", "list").stdout
    status = json.loads(cli("sweep", "status", sweep_id, "--json").stdout)
    assert status["counts"]["done"] == 2
    out = tmp_path / "out.csv"
    assert cli("export", sweep_id, "--format", "csv", "-o", str(out)).returncode == 0
    assert len(out.read_text().splitlines()) == 1 + 4  # header + 2 points x 2 seeds
    missing = cli("sweep", "status", "999")
    assert missing.returncode == 2 and "sweep 999 not found" in missing.stderr


def test_api_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    env = {**os.environ, "RESPHASE_DATA_DIR": str(tmp_path), "RESPHASE_API_TOKEN": ""}
    proc = subprocess.run([sys.executable, "-m", "backend.cli", "api", "--host", "0.0.0.0", "--port", "0"],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 2 and "RESPHASE_API_TOKEN" in proc.stderr
