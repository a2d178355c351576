"""The API benchmark's backends: a scratch database per backend (SQLite: a file in the work
directory; PostgreSQL: a database `resphase_bench_<hex>` created through the admin URL and dropped
afterwards), and the real app served from it in a uvicorn subprocess on a free loopback port (the
filesystem broker in its data directory, no token, an answer cache of the given size)."""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from fastapi import FastAPI

from backend.main import create_app
from backend.settings import Settings
from benchmarks.api_timing import API
from benchmarks.servers import clean_env, free_port, start_process, stop_process, wait_http

ANSWER_CACHE_MB: float = Settings.model_fields["answer_cache_mb"].default  # the server's own default


def app_factory() -> FastAPI:
    """The app the uvicorn subprocess serves: settings from RESPHASE_* variables, no reaper."""
    return create_app(Settings(), run_reaper=False)


@contextlib.contextmanager
def scratch_database(backend: str, workdir: Path, pg_admin: str) -> Iterator[str]:
    """A SQLAlchemy URL of an empty database, removed afterwards."""
    if backend == "sqlite":
        path = workdir / "bench.sqlite3"
        yield f"sqlite:///{path}"
        return
    name = f"resphase_bench_{uuid.uuid4().hex[:10]}"
    _admin(pg_admin, f'CREATE DATABASE "{name}"')
    try:
        base = pg_admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}/{name}"
    finally:
        _admin(pg_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(pg_admin: str, statement: str) -> None:
    """One statement outside a transaction (CREATE / DROP DATABASE), on a connection of its own."""
    with psycopg.connect(pg_admin, autocommit=True, connect_timeout=5) as admin:
        admin.execute(statement)


def _server_env(url: str, data_dir: Path, answer_cache_mb: float) -> dict[str, str]:
    """The environment of the server: this database and data directory, the filesystem broker, no
    token, an answer cache of `answer_cache_mb` (0: off, every read computed)."""
    return clean_env(RESPHASE_DATABASE_URL=url, RESPHASE_DATA_DIR=str(data_dir), RESPHASE_BROKER_URL="",
                     RESPHASE_API_TOKEN="", RESPHASE_CACHE_DIR=str(data_dir / "cache"),
                     RESPHASE_ANSWER_CACHE_MB=f"{answer_cache_mb:g}", PYTHONUNBUFFERED="1")


@contextlib.contextmanager
def api_server(url: str, data_dir: Path, answer_cache_mb: float = ANSWER_CACHE_MB) -> Iterator[str]:
    """The app in a uvicorn subprocess on a free loopback port; yields its base URL once GET /meta
    answers 200."""
    port = free_port()
    log = data_dir / "server.log"
    cmd = [sys.executable, "-m", "uvicorn", "benchmarks.api_backends:app_factory", "--factory",
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    proc = start_process(cmd, _server_env(url, data_dir, answer_cache_mb), log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}{API}/meta", ready=lambda r: r.status_code == 200, proc=proc, log=log)
        yield base
    finally:
        stop_process(proc)
