"""Shared fixtures: real databases (SQLite file, the machine's PostgreSQL), real Redis, and
helpers to start resphase processes (those shared with the benchmarks live in
benchmarks/servers.py). Nothing here mocks a component."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from sqlalchemy import text

from backend.settings import Settings
from backend.store import Database
from benchmarks.servers import free_port as free_port  # re-exported: tests import process helpers from here
from benchmarks.servers import resphase_command, start_process, stop_process
from benchmarks.servers import wait_http as wait_http

PG_ADMIN = os.environ.get("RESPHASE_TEST_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("RESPHASE_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL for this test session, dropped afterwards."""
    name = f"resphase_test_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN} (tests/run.sh starts it): {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} (tests/run.sh starts it): {exc}")
    return REDIS_URL


def truncate(db: Database) -> None:
    tables = ["refinement", "sweep_tag", "result", "sweep_point", "point", "sweep", "reference", "worker", "api_token"]
    with db.session() as s:
        if db.is_sqlite:
            for t in tables:
                s.execute(text(f"DELETE FROM {t}"))
        else:
            s.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgres"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests run against SQLite (a file) and PostgreSQL (over TCP)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'resphase.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    db = Database.connect(url)
    truncate(db)
    db.dispose()
    return url


@pytest.fixture
def settings(tmp_path: Path, backend_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=backend_url, lease_timeout_s=3.0,
                    heartbeat_interval_s=0.5)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database.connect(settings.resolved_database_url)
    yield database
    database.dispose()


def resphase_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {**os.environ, "RESPHASE_DATA_DIR": str(settings.data_dir), "RESPHASE_DATABASE_URL": settings.database_url,
           "RESPHASE_QUEUE": settings.queue,
           "RESPHASE_BROKER_URL": settings.broker_url, "RESPHASE_LEASE_TIMEOUT_S": str(settings.lease_timeout_s),
           "RESPHASE_HEARTBEAT_INTERVAL_S": str(settings.heartbeat_interval_s),
           "RESPHASE_CACHE_DIR": str(settings.data_dir / "cache"), "PYTHONUNBUFFERED": "1"}
    env.update(extra)
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`resphase ARGS` in its own session (so a test can stop it and its children with `stop`)."""
    return start_process(resphase_command(*args), env, log)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """`sig` to the process group of a `start`ed process; SIGKILL after 15 s."""
    stop_process(proc, sig)


def wait_sweep(client: httpx.Client, sweep_id: int, timeout: float = 120.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s: dict[str, object] = client.get(f"/api/v1/sweeps/{sweep_id}").json()
        if s["state"] != "running":
            return s
        time.sleep(0.3)
    raise TimeoutError(f"sweep {sweep_id} not finished within {timeout} s: {s}")
