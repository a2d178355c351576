"""`resphase up`, `resphase api`, `resphase worker`: the server parts, together or apart."""

from __future__ import annotations

import argparse
import ctypes
import ipaddress
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from backend.settings import Settings, get_settings


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="SQLite, filesystem broker and caches live here "
                   "(default $RESPHASE_DATA_DIR or ./resphase-data)")


def add_api_args(p: argparse.ArgumentParser) -> None:
    add_common(p)
    p.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default 8000)")


def add_worker_args(p: argparse.ArgumentParser) -> None:
    add_common(p)
    p.add_argument("--device", default=os.environ.get("RESPHASE_WORKER_DEVICE", "auto"),
                   help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--concurrency", type=int, default=1, help="tasks at once (1: no fork, CUDA-safe)")


def apply_env(args: argparse.Namespace) -> Settings:
    """Flags become RESPHASE_* variables, so child processes (the worker of `up`) see them too."""
    if getattr(args, "data_dir", None):
        os.environ["RESPHASE_DATA_DIR"] = str(Path(args.data_dir).resolve())
    if getattr(args, "host", None):
        os.environ["RESPHASE_HOST"] = args.host
    if getattr(args, "port", None) is not None:
        os.environ["RESPHASE_PORT"] = str(args.port)
    get_settings.cache_clear()
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not settings.cache_dir:
        os.environ.setdefault("RESPHASE_CACHE_DIR", str((settings.data_dir / "cache").resolve()))
    return settings


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_api(settings: Settings) -> int:
    if not _is_loopback(settings.host) and not settings.api_token:
        print(f"resphase api: error: refusing to listen on non-loopback address {settings.host} without "
              "RESPHASE_API_TOKEN (writes would be open to the network)", file=sys.stderr)
        return 2
    import uvicorn

    from backend.main import create_app

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")
    return 0


def run_worker(settings: Settings, device: str, concurrency: int) -> int:
    from worker.tasks import make_worker_app

    app = make_worker_app(settings, device)
    pool = "solo" if concurrency <= 1 else "prefork"
    app.worker_main(["worker", "--loglevel=WARNING", f"--pool={pool}", f"--concurrency={max(concurrency, 1)}",
                     "-Q", settings.queue, "-n", f"resphase-{uuid.uuid4().hex[:6]}@%h", "--without-gossip",
                     "--without-mingle"])
    return 0


def _die_with_parent() -> None:
    """In the worker child of `up` (Linux): get SIGTERM when `up` dies, however it dies."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def up(args: argparse.Namespace) -> int:
    """API + one worker process on SQLite and the filesystem broker; Ctrl-C stops both."""
    settings = apply_env(args)
    from backend.store import Database

    Database.connect(settings.resolved_database_url).dispose()  # migrate once, before both start
    worker = subprocess.Popen([sys.executable, "-m", "backend.cli", "worker", "--device", args.device],
                              env=os.environ.copy(), preexec_fn=_die_with_parent)
    url = f"http://{settings.host}:{settings.port}/"
    print(f"resphase is up: {url}  (data in {settings.data_dir.resolve()}; Ctrl-C stops)", flush=True)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it: with this handler that ends in
    # SystemExit, so the `finally` below still stops the worker.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        return serve_api(settings)
    except KeyboardInterrupt:
        return 0
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
