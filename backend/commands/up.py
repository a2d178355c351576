"""`resphase up`: the API and one supervised worker process on SQLite and the filesystem broker.

On a clean start it prints five lines once the API answers (URL, data directory, worker, log file,
how to stop) and records its URL (backend.server_record) so that clients started anywhere find it;
everything else goes to the log file (backend.commands.logs) unless --verbose. Nothing starts
unless the configuration is safe (exit 2), the port is free (exit 3), and the page's files and the
database are usable (exit 4); each refusal is one line on stderr.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import sys
import threading
from contextlib import ExitStack
from types import FrameType
from typing import IO, TYPE_CHECKING

from backend.commands import logs
from backend.commands.flags import BadSettings, settings_env, settings_from_flags
from backend.commands.listen import (
    EXIT_UNSAFE_CONFIG,
    Refused,
    build_app,
    check_page_assets,
    checked_socket,
    prepare_data_dir,
    probe_host,
    run_uvicorn,
    say,
    server_url,
)
from backend.commands.supervisor import WorkerSupervisor
from backend.needs import require_worker_extra
from backend.server_record import clear_record, record_server
from backend.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI


def ready_lines(url: str, settings: Settings, device: str, log_path: str | None) -> list[str]:
    """What `up` prints once it answers: at most six lines, the first one the URL."""
    return [f"resphase is up at {url}",
            f"  data:    {settings.data_dir}",
            f"  worker:  1 process, device {device}",
            f"  log:     {log_path or 'this terminal (--verbose)'}",
            "  stop:    Ctrl-C (stops the worker too)"]


def _announce_when_ready(settings: Settings, port: int, lines: list[str], stop: threading.Event) -> None:
    """Once /api/v1/health answers (any status: a 503 is an answer), record the server's URL, then
    print `lines`: a client that reads the record after the lines finds it."""
    host = probe_host(settings.host)
    while not stop.is_set():
        conn = http.client.HTTPConnection(host, port, timeout=2)
        try:
            conn.request("GET", "/api/v1/health")
            conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            stop.wait(0.1)
            continue
        finally:
            conn.close()
        record_server(settings.data_dir, server_url(host, port).rstrip("/"))
        print("\n".join(lines), flush=True)
        return


def up(args: argparse.Namespace) -> int:
    require_worker_extra("up")  # it runs a worker
    verbose = bool(getattr(args, "verbose", False))
    try:
        settings = settings_from_flags(args.data_dir, args.host, args.port)
    except BadSettings as exc:
        say("up", f"error: {exc}")
        return EXIT_UNSAFE_CONFIG
    with ExitStack() as stack:
        try:
            sock = stack.enter_context(checked_socket(settings))
            check_page_assets()
            prepare_data_dir(settings)  # only now: a refused start leaves no trace
            log_path = None if verbose else logs.log_file(settings.data_dir)
            if log_path is None:
                logs.to_terminal("up", verbose=True)
            else:
                logs.to_file("up", log_path)
            app = build_app(settings)  # connects and migrates once, before the worker starts
        except Refused as exc:
            say("up", exc)
            return exc.code
        output = None if log_path is None else stack.enter_context(log_path.open("ab"))
        port = int(sock.getsockname()[1])
        lines = ready_lines(server_url(settings.host, port), settings, args.device, str(log_path or ""))
        try:
            return _serve(settings, sock, app, lines, args.device, verbose, output)
        finally:
            clear_record(settings.data_dir)


def _serve(settings: Settings, sock: socket.socket, app: FastAPI, lines: list[str], device: str, verbose: bool,
           output: IO[bytes] | None) -> int:
    """Run the worker's supervisor, the announcement and uvicorn until a signal; stop them all."""
    cmd = [sys.executable, "-m", "backend.cli", "worker", "--device", device, "--verbose"]
    # The child's configuration is its environment, made from this process's Settings object.
    supervisor = WorkerSupervisor(cmd, settings_env(settings, os.environ), output=output)
    stopping = threading.Event()
    ready = threading.Thread(target=_announce_when_ready, args=(settings, int(sock.getsockname()[1]), lines,
                                                                  stopping), name="resphase-ready", daemon=True)

    def begin_stop() -> None:
        supervisor.request_stop()
        stopping.set()

    def on_signal(sig: int, _frame: FrameType | None) -> None:
        begin_stop()
        if sig == signal.SIGINT:
            raise KeyboardInterrupt
        sys.exit(0)

    # Until uvicorn takes them over (and after it re-raises the one it caught at shutdown), these
    # end `up` through the `finally` below, which stops the worker.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        supervisor.start()
        ready.start()
        run_uvicorn(app, sock, logs.uvicorn_options(into_file=output is not None, verbose=verbose),
                    on_exit=begin_stop)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        stopping.set()
        supervisor.stop()

