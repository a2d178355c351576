"""`resphase up`, `resphase api`, `resphase worker`: the server parts, together or apart.

This module holds their flags and the `api` and `worker` commands; `up` lives in
backend.commands.up (the supervisor of its worker in backend.commands.supervisor), the checks and
the serving both share in backend.commands.listen, logging in backend.commands.logs. Flags become
a Settings object (backend.commands.flags), handed on explicitly; nothing is written to os.environ.
"""

from __future__ import annotations

import argparse
import os
import uuid
import warnings

from backend.commands import logs
from backend.commands.flags import BadSettings, settings_from_flags
from backend.commands.listen import (
    EXIT_CANNOT_LISTEN,
    EXIT_NOT_READY,
    EXIT_UNSAFE_CONFIG,
    CannotListen,
    Refused,
    bind_socket,
    build_app,
    check_page_assets,
    checked_socket,
    prepare_data_dir,
    run_uvicorn,
    say,
)
from backend.commands.supervisor import die_with_supervisor
from backend.commands.up import up
from backend.needs import require_worker_extra
from backend.settings import Settings

__all__ = ["EXIT_CANNOT_LISTEN", "EXIT_NOT_READY", "EXIT_UNSAFE_CONFIG", "CannotListen", "add_api_args",
           "add_worker_args", "api", "apply_env", "bind_socket", "run_worker", "serve_api", "up", "worker"]


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="SQLite, filesystem broker, caches and the log file live here "
                   "(default $RESPHASE_DATA_DIR or ./resphase-data)")
    p.add_argument("--verbose", action="store_true",
                   help="every log line on the terminal (uvicorn's access log, Celery's banner and chatter)")


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
    """The Settings the flags select: the RESPHASE_* variables with --data-dir, --host and --port
    over them (backend.commands.flags.settings_from_flags). The name is the one backend/cli.py
    calls; nothing is written to os.environ. Raises BadSettings when they do not validate."""
    return settings_from_flags(getattr(args, "data_dir", None), getattr(args, "host", None),
                               getattr(args, "port", None))


def serve_api(settings: Settings, verbose: bool = False) -> int:
    """`resphase api`: serve on the settings' host and port; an expected failure is one line."""
    logs.to_terminal("api", verbose)
    try:
        with checked_socket(settings) as sock:
            check_page_assets()
            prepare_data_dir(settings)
            app = build_app(settings)
            run_uvicorn(app, sock, logs.uvicorn_options(into_file=False, verbose=verbose))
    except Refused as exc:
        say("api", exc)
        return exc.code
    return 0


def api(args: argparse.Namespace) -> int:
    """`resphase api` from its parsed flags."""
    try:
        settings = apply_env(args)
    except BadSettings as exc:
        say("api", f"error: {exc}")
        return EXIT_UNSAFE_CONFIG
    return serve_api(settings, verbose=bool(getattr(args, "verbose", False)))


def run_worker(settings: Settings, device: str, concurrency: int, verbose: bool = False) -> int:
    """`resphase worker`: a Celery worker on the settings' broker and queue. Quiet unless verbose:
    no banner, warnings only (the banner and chatter of the worker of `up` go to its log file,
    since `up` starts it verbose with its output there)."""
    die_with_supervisor()
    prepare_data_dir(settings)
    logs.to_terminal("worker", verbose)
    if not verbose:
        # Celery warns about root on every start; the risk it names (running pickled messages as
        # root) does not apply: the workers accept JSON only (backend/queue.py).
        from celery.exceptions import SecurityWarning

        warnings.filterwarnings("ignore", category=SecurityWarning)
    from worker.tasks import make_worker_app

    app = make_worker_app(settings, device)
    pool = "solo" if concurrency <= 1 else "prefork"
    app.worker_main([*([] if verbose else ["--quiet"]), "worker", f"--loglevel={'INFO' if verbose else 'WARNING'}",
                     f"--pool={pool}", f"--concurrency={max(concurrency, 1)}", "-Q", settings.queue,
                     "-n", f"resphase-{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle"])
    return 0


def worker(args: argparse.Namespace) -> int:
    """`resphase worker` from its parsed flags."""
    require_worker_extra("worker")
    try:
        return run_worker(apply_env(args), args.device, args.concurrency, verbose=bool(args.verbose))
    except (BadSettings, Refused) as exc:
        say("worker", f"error: {exc}" if isinstance(exc, BadSettings) else exc)
        return exc.code if isinstance(exc, Refused) else EXIT_UNSAFE_CONFIG
