"""Starting and stopping resphase processes (API, worker, `up`) for the tests and the benchmarks:
free loopback ports, processes in a session of their own with their output in a log file,
waiting until a URL answers, and stopping a process with everything it started.

One module for both, so the tests and the benchmarks start servers the same way. Nothing here
mocks anything: every helper runs or talks to the real processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
# The system Chromium the browser tests and the page benchmark drive (never a downloaded one).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
LOG_TAIL = 3000  # characters of a process's log quoted in an error


def free_port() -> int:
    """A loopback TCP port nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any RESPHASE_* variable (embedded defaults, no token),
    plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESPHASE_")}
    env.update(extra)
    return env


def resphase_command(*args: str) -> list[str]:
    """`resphase ARGS` run by this interpreter from the checkout (the one under test)."""
    return [sys.executable, "-m", "backend.cli", *args]


def start_process(cmd: Sequence[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`cmd` in its own session (so stop_process reaches its children too), run from the
    repository root, stdout and stderr into `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(list(cmd), env=dict(env), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Send `sig` to the process group of `proc` (started by start_process: the group is its own)
    and wait; SIGKILL to the group after `timeout` s. Its exit status is then proc.returncode."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        proc.wait()
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def log_tail(log: Path | None) -> str:
    """The end of a process's log (empty when there is none)."""
    if log is None or not log.exists():
        return ""
    return log.read_text(errors="replace")[-LOG_TAIL:]


def answers(resp: httpx.Response) -> bool:
    """Any answer that is not a server error: the process is up."""
    return resp.status_code < 500


def wait_http(url: str, timeout: float = 60.0, *, ready: Callable[[httpx.Response], bool] = answers,
              proc: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    """Poll GET `url` until `ready(response)`; raise RuntimeError when `proc` exits first and
    TimeoutError after `timeout` s, both with the end of `log`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}:\n{log_tail(log)}")
        with contextlib.suppress(httpx.HTTPError, ValueError):  # not listening yet; a body mid-write
            if ready(httpx.get(url, timeout=2)):
                return
        time.sleep(0.2)
    raise TimeoutError(f"{url} was not ready within {timeout} s:\n{log_tail(log)}")


def has_worker(resp: httpx.Response) -> bool:
    """GET /api/v1/health lists at least one live worker."""
    return resp.status_code == 200 and resp.json().get("workers", {}).get("count", 0) >= 1
