"""Helpers for tests that run `resphase up` and its worker as real processes: the embedded
environment, waiting on a condition, and finding the processes a command started or left behind."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from backend.commands.logs import log_file

WORKER_LINE = re.compile(r"worker pid (\d+) started")


def embedded_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The embedded default (SQLite + filesystem broker in data_dir), whatever this shell has set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESPHASE_")}
    env.update({"RESPHASE_DATA_DIR": str(data_dir), "RESPHASE_HEARTBEAT_INTERVAL_S": "0.5",
                "RESPHASE_LEASE_TIMEOUT_S": "5", "RESPHASE_CACHE_DIR": str(data_dir / "cache"),
                "PYTHONUNBUFFERED": "1", **extra})
    return env


def wait_for(what: str, fn: Callable[[], Any], timeout: float, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    tail = log.read_text()[-3000:] if log is not None else ""
    raise AssertionError(f"{what}: not within {timeout} s\n{tail}")


def worker_pids(data_dir: Path) -> list[int]:
    """The worker pids `up` started, from its log file (the terminal does not show them)."""
    path = log_file(data_dir)
    return [int(m) for m in WORKER_LINE.findall(path.read_text())] if path.exists() else []


def alive(pid: int) -> bool:
    """Running (a zombie, killed and not yet reaped, does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def processes_using(data_dir: Path) -> list[int]:
    """Live processes whose environment names data_dir: whatever a command under test left behind."""
    needle = f"RESPHASE_DATA_DIR={data_dir}".encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "environ").read_bytes() and alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def health_names(base: str) -> list[str]:
    try:
        names: list[str] = httpx.get(f"{base}/api/v1/health", timeout=2).json()["workers"]["names"]
        return names
    except (httpx.HTTPError, ValueError, KeyError):
        return []
