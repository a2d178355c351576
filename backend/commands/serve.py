"""`resphase up`, `resphase api`, `resphase worker`: the server parts, together or apart."""

from __future__ import annotations

import argparse
import ctypes
import errno
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from backend.settings import Settings, UnsafeConfig, get_settings


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


def _env_settings(args: argparse.Namespace) -> Settings:
    """Flags become RESPHASE_* variables, so child processes (the worker of `up`) see them too."""
    if getattr(args, "data_dir", None):
        os.environ["RESPHASE_DATA_DIR"] = str(Path(args.data_dir).resolve())
    if getattr(args, "host", None):
        os.environ["RESPHASE_HOST"] = args.host
    if getattr(args, "port", None) is not None:
        os.environ["RESPHASE_PORT"] = str(args.port)
    get_settings.cache_clear()
    return get_settings()


def _prepare_data_dir(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not settings.cache_dir:
        os.environ.setdefault("RESPHASE_CACHE_DIR", str((settings.data_dir / "cache").resolve()))


def apply_env(args: argparse.Namespace) -> Settings:
    settings = _env_settings(args)
    _prepare_data_dir(settings)
    return settings


# Exit statuses of `up` and `api` that a script can tell apart.
EXIT_UNSAFE_CONFIG = 2
EXIT_CANNOT_LISTEN = 3


def _say(command: str, message: object) -> None:
    print(f"resphase {command}: {message}", file=sys.stderr, flush=True)


class CannotListen(OSError):
    """The address cannot be bound; str() is the one line to print."""


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


def _checked_socket(command: str, settings: Settings) -> socket.socket | int:
    """Settings.check_serving, then the bind: the socket, or the exit status after one line."""
    try:
        settings.check_serving()
    except UnsafeConfig as exc:
        _say(command, f"error: {exc}")
        return EXIT_UNSAFE_CONFIG
    try:
        return bind_socket(settings.host, settings.port)
    except CannotListen as exc:
        _say(command, exc)
        return EXIT_CANNOT_LISTEN


def _run_uvicorn(settings: Settings, sock: socket.socket, on_exit: Callable[[], None] | None = None) -> None:
    import uvicorn

    from backend.main import create_app

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if on_exit is not None:
                on_exit()  # before the graceful shutdown starts: the worker is not restarted meanwhile
            super().handle_exit(sig, frame)

    with sock:
        Server(uvicorn.Config(create_app(settings), log_level="warning")).run(sockets=[sock])


def serve_api(settings: Settings) -> int:
    sock = _checked_socket("api", settings)
    if isinstance(sock, int):
        return sock
    _run_uvicorn(settings, sock)
    return 0


def run_worker(settings: Settings, device: str, concurrency: int) -> int:
    _die_with_supervisor()
    from worker.tasks import make_worker_app

    app = make_worker_app(settings, device)
    pool = "solo" if concurrency <= 1 else "prefork"
    app.worker_main(["worker", "--loglevel=WARNING", f"--pool={pool}", f"--concurrency={max(concurrency, 1)}",
                     "-Q", settings.queue, "-n", f"resphase-{uuid.uuid4().hex[:6]}@%h", "--without-gossip",
                     "--without-mingle"])
    return 0


SUPERVISOR_PID_ENV = "RESPHASE_SUPERVISOR_PID"


def _die_with_supervisor() -> None:
    """In the worker child of `up` (Linux): get SIGTERM when `up` dies, however it dies. Done here,
    in the child's own startup, not in a preexec_fn (unsafe in `up`, which has threads)."""
    parent = os.environ.pop(SUPERVISOR_PID_ENV, "")
    if not parent or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != int(parent):  # `up` died before the line above
        sys.exit(0)


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"exited with code {code} (killed by {name})"
    return f"exited with code {code}"


class WorkerSupervisor(threading.Thread):
    """Runs the worker of `up`, and starts it again when it dies, after a backoff (base_delay_s,
    doubling with each restart within window_s), at most max_restarts times within window_s; past
    that it says so and leaves the worker dead (the API stays up, /api/v1/health shows no worker).
    All spawning and reaping happens on this thread (PR_SET_PDEATHSIG follows the thread that
    forked), which runs until stop()."""

    def __init__(self, cmd: list[str], env: dict[str, str], *, max_restarts: int = 5, window_s: float = 60.0,
                 base_delay_s: float = 0.5, poll_s: float = 0.5, say: Callable[[str], None]) -> None:
        super().__init__(name="resphase-worker-supervisor", daemon=True)
        self.cmd, self.env, self.say = cmd, env, say
        self.max_restarts, self.window_s, self.base_delay_s, self.poll_s = max_restarts, window_s, base_delay_s, poll_s
        self.restarts = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._recent: deque[float] = deque()

    def request_stop(self) -> None:
        """Safe in a signal handler: only sets a flag; this thread then stops the worker."""
        self._stopping.set()

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        try:
            self._supervise()
        except Exception as exc:  # never leave a worker behind, never die silently
            self.say(f"worker supervisor failed: {exc!r}")
        finally:
            self._terminate()

    def _spawn(self) -> None:
        self.proc = subprocess.Popen(self.cmd, env={**self.env, SUPERVISOR_PID_ENV: str(os.getpid())})
        self.say(f"worker pid {self.proc.pid} started")

    def _supervise(self) -> None:
        self._spawn()
        while not self._stopping.is_set():
            assert self.proc is not None
            try:
                code = self.proc.wait(timeout=self.poll_s)
            except subprocess.TimeoutExpired:
                continue
            if self._stopping.is_set():
                return
            now = time.monotonic()
            while self._recent and now - self._recent[0] > self.window_s:
                self._recent.popleft()
            what = f"worker pid {self.proc.pid} {_describe_exit(code)}"
            if len(self._recent) >= self.max_restarts:
                self.say(f"{what}; restarted {len(self._recent)} times within {self.window_s:g} s, not restarting "
                         "it again: no sweep will progress (the API stays up; fix the cause, then restart "
                         "`resphase up`)")
                return
            delay = self.base_delay_s * 2 ** len(self._recent)
            self._recent.append(now)
            self.restarts += 1
            self.say(f"{what}; restarting in {delay:g} s (restart {self.restarts})")
            if self._stopping.wait(delay):
                return
            self._spawn()

    def _terminate(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _probe_host(host: str) -> str:
    bare = host.strip("[]")
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(bare, bare)


def _announce_when_ready(host: str, port: int, line: str, stop: threading.Event) -> None:
    """Print `line` once /api/v1/health answers (any status: a 503 is an answer)."""
    while not stop.is_set():
        conn = http.client.HTTPConnection(_probe_host(host), port, timeout=2)
        try:
            conn.request("GET", "/api/v1/health")
            conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            stop.wait(0.1)
            continue
        finally:
            conn.close()
        print(line, flush=True)
        return


def up(args: argparse.Namespace) -> int:
    """API + one supervised worker process on SQLite and the filesystem broker; Ctrl-C stops both.
    Nothing starts unless the configuration is safe (exit 2) and the port is free (exit 3)."""
    settings = _env_settings(args)
    sock = _checked_socket("up", settings)
    if isinstance(sock, int):
        return sock
    with sock:
        _prepare_data_dir(settings)
        from backend.store import Database

        Database.connect(settings.resolved_database_url).dispose()  # migrate once, before both start
        port = int(sock.getsockname()[1])
        shown = f"[{settings.host}]" if ":" in settings.host and not settings.host.startswith("[") else settings.host
        url = f"http://{shown}:{port}/"
        supervisor = WorkerSupervisor([sys.executable, "-m", "backend.cli", "worker", "--device", args.device],
                                      os.environ.copy(), say=lambda m: _say("up", m))
        stopping = threading.Event()
        line = f"resphase is up at {url}  (data in {settings.data_dir.resolve()}; Ctrl-C stops)"
        ready = threading.Thread(target=_announce_when_ready, args=(settings.host, port, line, stopping),
                                 name="resphase-ready", daemon=True)

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
            _run_uvicorn(settings, sock, on_exit=begin_stop)
            return 0
        except KeyboardInterrupt:
            return 0
        finally:
            stopping.set()
            supervisor.stop()
