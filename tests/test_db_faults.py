"""A frozen and a stopped database (a PostgreSQL of the test's own, SIGSTOPped, then killed): the
API keeps answering, with bounded waits and JSON 503s, and never a 5xx other than 503."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, resphase_env, start, stop, wait_http

PG_BIN = next(Path("/usr/lib/postgresql").glob("*/bin"), Path("/usr/lib/postgresql/15/bin"))


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture
def own_postgres() -> Iterator[tuple[str, int]]:
    """A PostgreSQL server of this test's own on a free port; yields (url, postmaster pid). Its
    directory is outside pytest's (root-only) temp tree, so the postgres user can reach it."""
    tmp_path = Path(tempfile.mkdtemp(prefix="resphase-pg-"))
    data = tmp_path / "pg"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(tmp_path, "postgres")
        shutil.chown(data, "postgres")
    subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
                   check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen(_as_postgres([str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port),
                                          "-k", str(tmp_path), "-c", "listen_addresses=127.0.0.1"]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if subprocess.run([str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                          capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    pid = int((data / "postmaster.pid").read_text().split()[0])
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", pid
    finally:
        _signal_tree(pid, signal.SIGCONT)
        _signal_tree(pid, signal.SIGKILL)
        proc.kill()  # runuser, when it wraps the postmaster
        proc.wait(timeout=30)
        shutil.rmtree(tmp_path, ignore_errors=True)


def _signal_tree(pid: int, sig: int) -> None:
    """The postmaster and every backend it forked."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for p in [pid, *map(int, children)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, sig)


def test_frozen_then_stopped_database(own_postgres: tuple[str, int], tmp_path: Path) -> None:
    url, pid = own_postgres
    from backend.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", database_url=url, broker_url="filesystem://")
    port = free_port()
    api = start(["api", "--port", str(port)], resphase_env(settings), tmp_path / "api.log")
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        wait_http(f"{base}/health")
        sweep = httpx.post(f"{base}/sweeps", json={"grid": {"alpha": [1], "D": [4], "L": [2], "M": [2]}}, timeout=30)
        assert sweep.status_code == 201, sweep.text
        _signal_tree(pid, signal.SIGSTOP)  # frozen: connections hang, nothing answers
        with ThreadPoolExecutor(64) as pool:  # more hung data requests than the API has threads (40)
            hung = [pool.submit(httpx.get, f"{base}/sweeps", timeout=120) for _ in range(64)]
            time.sleep(1.0)
            t0 = time.perf_counter()
            health = httpx.get(f"{base}/health", timeout=10)
            health_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            meta = httpx.get(f"{base}/meta", timeout=10)
            meta_s = time.perf_counter() - t0
            assert health.status_code == 503 and health_s < 2.0, (health.status_code, health_s)
            assert "did not answer" in health.json()["database"]["error"]
            # /meta must not queue behind the hung data requests: those hold every thread for the
            # statement/lock timeouts (20 s and more); 1 s leaves room for a loaded CI machine.
            assert meta.status_code == 200 and meta_s < 1.0, meta_s
            _signal_tree(pid, signal.SIGKILL)  # now stopped for good: the hung requests end as 503s
            codes = [f.result().status_code for f in hung]
        assert set(codes) <= {200, 503}, codes
        assert 503 in codes
        down = httpx.get(f"{base}/sweeps", timeout=30)
        assert down.status_code == 503 and down.json()["detail"].startswith("database unavailable")
        assert httpx.get(f"{base}/meta", timeout=5).status_code == 200
    finally:
        stop(api)
