"""What `resphase up` and `resphase api` check before they serve, and the serving itself.

Every expected failure is a `Refused` with an exit status and ONE line to print; the commands print
it on stderr without a traceback. Exit statuses a script can tell apart: 2 unsafe or invalid
configuration, 3 the address cannot be bound, 4 the page's files or the database are not usable.
"""

from __future__ import annotations

import errno
import socket
import sys
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from backend.settings import Settings, UnsafeConfig

if TYPE_CHECKING:
    from fastapi import FastAPI

EXIT_UNSAFE_CONFIG = 2
EXIT_CANNOT_LISTEN = 3
EXIT_NOT_READY = 4


class Refused(Exception):
    """An expected reason not to start: `code` is the exit status, str() the one line to print."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class CannotListen(OSError):
    """The address cannot be bound; str() is the one line to print."""


def say(command: str, message: object) -> None:
    print(f"resphase {command}: {message}", file=sys.stderr, flush=True)


def bind_socket(host: str, port: int) -> socket.socket:
    """The listening socket, bound here rather than inside uvicorn, so that a port already taken is
    known before anything else starts (and nothing can take it between the check and the use)."""
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT only; never a live listener
        sock.bind((bare, port))
        sock.listen(2048)
    except (OSError, OverflowError) as exc:
        sock.close()
        if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
            raise CannotListen(f"error: port {port} on {host} is already in use (another resphase?); "
                               "choose another with --port") from None
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CannotListen(f"error: cannot listen on {host} port {port}: {reason}") from None
    return sock


def checked_socket(settings: Settings) -> socket.socket:
    """Settings.check_serving, then the bind; raises Refused (exit 2 or 3)."""
    try:
        settings.check_serving()
    except UnsafeConfig as exc:
        raise Refused(EXIT_UNSAFE_CONFIG, f"error: {exc}") from None
    try:
        return bind_socket(settings.host, settings.port)
    except CannotListen as exc:
        raise Refused(EXIT_CANNOT_LISTEN, str(exc)) from None


def check_page_assets() -> None:
    """Every file the server serves (the page, Plotly.js, the API docs) is installed; else Refused (exit 4)."""
    from backend.main import MissingPageAssets, check_assets

    try:
        check_assets()
    except MissingPageAssets as exc:
        raise Refused(EXIT_NOT_READY, f"error: {exc}") from None


def prepare_data_dir(settings: Settings) -> None:
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Refused(EXIT_NOT_READY, f"error: cannot create the data directory {settings.data_dir}: "
                                      f"{exc.strerror or exc}") from None


def database_error(settings: Settings, exc: SQLAlchemyError) -> Refused:
    """One line naming the database (without its password) and the driver's first line."""
    url = settings.resolved_database_url
    shown = url.split("@")[-1] if "@" in url else url
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return Refused(EXIT_NOT_READY, f"error: the database {shown} is not usable: {reason}")


def build_app(settings: Settings) -> FastAPI:
    """create_app(settings), which connects to and migrates the database: done before serving, so
    an unreachable database is one line rather than a traceback out of uvicorn."""
    from backend.main import create_app

    try:
        return create_app(settings)
    except SQLAlchemyError as exc:
        raise database_error(settings, exc) from None


def run_uvicorn(app: FastAPI, sock: socket.socket, log_options: dict[str, Any],
                on_exit: Callable[[], None] | None = None) -> None:
    """Serve `app` on the bound `sock` until a signal; `log_options` from backend.commands.logs."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if on_exit is not None:
                on_exit()  # before the graceful shutdown starts: the worker is not restarted meanwhile
            super().handle_exit(sig, frame)

    with sock:
        Server(uvicorn.Config(app, **log_options)).run(sockets=[sock])


def probe_host(host: str) -> str:
    """Where to reach a server listening on `host` from this machine."""
    bare = host.strip("[]")
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(bare, bare)


def server_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/"
