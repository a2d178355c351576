"""The worker of `resphase up`: one child process, started again when it dies, within a cap.

The child is a `resphase worker` whose configuration is its environment (built from the Settings
object of `up` by backend.commands.flags.settings_env). It runs in a process group of its own, so
the Ctrl-C the terminal sends to `up` reaches only `up`, which then stops the worker; and it asks
the kernel (Linux) for SIGTERM when `up` dies, however `up` dies.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from typing import IO

log = logging.getLogger(__name__)

SUPERVISOR_PID_ENV = "RESPHASE_SUPERVISOR_PID"


def die_with_supervisor() -> None:
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
    forked), which runs until stop(). A start is logged at INFO (the log file), a death at WARNING
    (the terminal too). `output`: where the child's stdout and stderr go (None: this terminal)."""

    def __init__(self, cmd: list[str], env: dict[str, str], *, max_restarts: int = 5, window_s: float = 60.0,
                 base_delay_s: float = 0.5, poll_s: float = 0.5, output: IO[bytes] | None = None) -> None:
        super().__init__(name="resphase-worker-supervisor", daemon=True)
        self.cmd, self.env, self.output = cmd, env, output
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
            log.error("worker supervisor failed: %r", exc)
        finally:
            self._terminate()

    def _spawn(self) -> None:
        self.proc = subprocess.Popen(self.cmd, env={**self.env, SUPERVISOR_PID_ENV: str(os.getpid())},
                                     stdout=self.output, stderr=self.output, stdin=subprocess.DEVNULL,
                                     process_group=0)  # a terminal's Ctrl-C reaches `up` alone
        log.info("worker pid %d started", self.proc.pid)

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
                log.warning("%s; restarted %d times within %g s, not restarting it again: no sweep will "
                            "progress (the API stays up; fix the cause, then restart `resphase up`)",
                            what, len(self._recent), self.window_s)
                return
            delay = self.base_delay_s * 2 ** len(self._recent)
            self._recent.append(now)
            self.restarts += 1
            log.warning("%s; restarting in %g s (restart %d)", what, delay, self.restarts)
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


