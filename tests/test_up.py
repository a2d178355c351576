"""`resphase up` as a user runs it: a quiet start (a few lines, the rest in its log file), its URL
recorded for clients and cleared on stop, a supervised worker (SIGKILL -> a new worker, a capped
number of times), and one line, before anything starts, for a taken port or an unsafe public bind.
Real processes on free ports, each in a data directory of its own."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.commands.flags import BadSettings, settings_env, settings_from_flags
from backend.commands.logs import log_file
from backend.commands.supervisor import WorkerSupervisor
from backend.settings import MIN_PUBLIC_TOKEN_CHARS, Settings, UnsafeConfig
from tests.conftest import REPO, free_port, start, stop, wait_sweep
from tests.processes import alive, embedded_env, health_names, processes_using, wait_for, worker_pids

QUICK = {"name": "after-restart", "grid": {"alpha": [1, 2], "D": [8], "L": [4], "M": [4]},
         "settings": {"seeds": 1, "steps": 3}}


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path, Path]]:
    """`resphase up` on a free port; yields (process, base URL, terminal output, data directory)
    once it announced its URL and its worker is on /health."""
    port, data, log = free_port(), tmp_path / "data", tmp_path / "up.log"
    proc = start(["up", "--port", str(port), "--data-dir", str(data)], embedded_env(data), log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for("the up line", lambda: "resphase is up at" in log.read_text() or proc.poll() is not None, 60, log)
        assert proc.poll() is None, log.read_text()
        first = wait_for("a worker pid", lambda: worker_pids(data), 30, log)[0]
        wait_for("the worker on /health", lambda: any(n.endswith(f":{first}") for n in health_names(base)), 60, log)
        yield proc, base, log, data
    finally:
        stop(proc)
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert processes_using(data) == [], "`resphase up` left processes behind"


@pytest.mark.slow
def test_up_restarts_a_killed_worker_and_a_later_sweep_finishes(
        up: tuple[subprocess.Popen[bytes], str, Path, Path]) -> None:
    proc, base, log, data = up
    text = log.read_text()
    assert text.count("resphase is up at") == 1
    assert re.search(rf"^resphase is up at {re.escape(base)}/$", text, re.M), text
    (first,) = worker_pids(data)
    os.kill(first, signal.SIGKILL)
    killed_at = time.monotonic()
    line = wait_for("the restart line", lambda: re.search(r"resphase up: worker pid (\d+) exited with code -9 "
                                                          r"\(killed by SIGKILL\); restarting .*\(restart 1\)",
                                                          log.read_text()), 10, log)
    assert int(line.group(1)) == first
    assert time.monotonic() - killed_at < 5  # noticed within a few seconds
    second = wait_for("a new worker", lambda: [p for p in worker_pids(data) if p != first], 10, log)[0]
    assert alive(second) and not alive(first)
    wait_for("the new worker on /health", lambda: any(n.endswith(f":{second}") for n in health_names(base)), 60, log)
    with httpx.Client(base_url=base, timeout=30) as client:
        sid = client.post("/api/v1/sweeps", json=QUICK).json()["id"]
        assert wait_sweep(client, sid, timeout=90)["counts"]["done"] == 2  # type: ignore[index]
    assert proc.poll() is None and worker_pids(data) == [first, second]


@pytest.mark.slow
def test_up_stops_restarting_after_the_cap_and_keeps_the_api_up(
        up: tuple[subprocess.Popen[bytes], str, Path, Path]) -> None:
    """Five restarts within a minute at most; the sixth death is reported and left dead."""
    proc, base, log, data = up
    for n in range(6):
        pids = worker_pids(data)
        os.kill(pids[-1], signal.SIGKILL)
        if n < 5:
            def restarted(k: int = n) -> bool:
                return len(worker_pids(data)) == k + 2

            wait_for(f"restart {n + 1}", restarted, 30, log)
    wait_for("the give-up line", lambda: "not restarting it again" in log.read_text(), 10, log)
    time.sleep(1.5)  # longer than a poll and the first backoff: nothing else starts
    assert len(worker_pids(data)) == 6 and not any(alive(p) for p in worker_pids(data))
    assert proc.poll() is None
    health = httpx.get(f"{base}/api/v1/health", timeout=5)
    assert health.status_code == 200  # the API stays up, and lists workers by heartbeat only
    stderr_lines = [ln for ln in log.read_text().splitlines() if ln.startswith("resphase up: ")]
    assert sum("restarting in" in ln for ln in stderr_lines) == 5


@pytest.mark.parametrize("command", ["up", "api"])
def test_a_taken_port_fails_with_one_line_and_starts_nothing(command: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "backend.cli", command, "--port", str(port)], cwd=REPO,
                              env=embedded_env(data), capture_output=True, text=True, timeout=60, check=False)
        elapsed = time.monotonic() - t0
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(port) in lines[0] and "already in use" in lines[0], proc.stderr
    assert "is up" not in proc.stdout and "worker pid" not in proc.stderr
    assert elapsed < 20
    assert processes_using(data) == []
    if command == "up":
        assert not data.exists()  # refused before it prepared anything


@pytest.mark.parametrize("command", ["up", "api"])
@pytest.mark.parametrize("token", ["", "x", "a" * (MIN_PUBLIC_TOKEN_CHARS - 1)])
def test_a_public_bind_needs_a_long_token_and_starts_nothing(command: str, token: str, tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "backend.cli", command, "--host", "0.0.0.0", "--port", str(port)],
                          cwd=REPO, env=embedded_env(data, RESPHASE_API_TOKEN=token), capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "0.0.0.0" in lines[0] and "RESPHASE_API_TOKEN" in lines[0], proc.stderr
    if token:
        assert f"at least {MIN_PUBLIC_TOKEN_CHARS}" in lines[0]
    assert proc.stdout == "" and time.monotonic() - t0 < 20
    assert processes_using(data) == []
    if command == "up":
        assert not data.exists()
    with socket.socket() as probe:  # nothing listens on the port
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_settings_refuse_an_unsafe_public_bind() -> None:
    long_token = "t" * MIN_PUBLIC_TOKEN_CHARS
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"):
        Settings(host=host).check_serving()  # loopback: no token needed
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.org"):
        for token in ("", " " * 20, "t" * (MIN_PUBLIC_TOKEN_CHARS - 1)):
            with pytest.raises(UnsafeConfig, match="RESPHASE_API_TOKEN"):
                Settings(host=host, api_token=token).check_serving()
        Settings(host=host, api_token=long_token).check_serving()


def test_supervisor_backs_off_caps_restarts_and_stops_its_worker(caplog: pytest.LogCaptureFixture) -> None:
    """The supervisor of `up` on stand-in workers: one that crashes at once, one that runs."""
    caplog.set_level(logging.INFO, logger="backend.commands.supervisor")

    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]

    crashing = WorkerSupervisor([sys.executable, "-c", "import sys; sys.exit(7)"], dict(os.environ),
                                max_restarts=3, window_s=60, base_delay_s=0.05, poll_s=0.05)
    t0 = time.monotonic()
    crashing.start()
    crashing.join(30)
    assert not crashing.is_alive() and crashing.restarts == 3
    restarts = [s for s in said() if "restarting in" in s]
    assert [s.split("restarting in ")[1] for s in restarts] == ["0.05 s (restart 1)", "0.1 s (restart 2)",
                                                                "0.2 s (restart 3)"]
    assert all("exited with code 7" in s for s in restarts)
    assert "not restarting it again" in said()[-1]
    assert time.monotonic() - t0 >= 0.35  # the backoff was waited

    caplog.clear()
    running = WorkerSupervisor([sys.executable, "-c", "import time; time.sleep(60)"], dict(os.environ),
                               poll_s=0.05)
    running.start()
    wait_for("the stand-in worker", lambda: running.proc is not None and alive(running.proc.pid), 10)
    assert running.proc is not None
    pid = running.proc.pid
    stopper = threading.Thread(target=running.stop)
    stopper.start()
    stopper.join(20)
    assert not running.is_alive() and not alive(pid)
    assert said() == []  # a stop is not a crash


def _quiet_env(home: Path) -> dict[str, str]:
    """A user's shell: no RESPHASE_* at all (so the data directory is ./resphase-data), this
    worktree's code on the path, the per-user record under `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESPHASE_")}
    return {**env, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "XDG_STATE_HOME": str(home / "state")}


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_clean_start_is_quiet_records_its_url_and_clears_it_on_stop(sig: int, tmp_path: Path) -> None:
    cwd, port = tmp_path / "project", free_port()
    cwd.mkdir()
    env, data, out = _quiet_env(tmp_path), cwd / "resphase-data", tmp_path / "terminal.txt"
    proc = subprocess.Popen([sys.executable, "-m", "backend.cli", "up", "--port", str(port)], cwd=cwd, env=env,
                            stdout=out.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for("the up lines", lambda: "stop:" in out.read_text() or proc.poll() is not None, 60, out)
        first = wait_for("a worker pid", lambda: worker_pids(data), 30, out)[0]
        base = f"http://127.0.0.1:{port}"
        wait_for("the worker on /health", lambda: any(n.endswith(f":{first}") for n in health_names(base)), 60, out)
        lines = out.read_text().splitlines()
        assert len(lines) <= 6 and lines[0] == f"resphase is up at {base}/", lines
        assert f"data:    {data}" in lines[1] and str(log_file(data)) in lines[3] and "Ctrl-C" in lines[4], lines
        logged = log_file(data).read_text()  # what the terminal did not show went here
        assert "uvicorn.access" in logged and f"worker pid {first} started" in logged
        record = json.loads((data / "server.json").read_text())
        assert record["url"] == base and record["pid"] == proc.pid, record
        assert (tmp_path / "state" / "resphase" / "last-server.json").exists()
        client = subprocess.run([sys.executable, "-c", "from backend.server_record import resolve_url; "
                                 "print(resolve_url())"], cwd=cwd, env=env, capture_output=True, text=True,
                                timeout=60, check=True)
        assert client.stdout.strip() == base, client.stderr
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0, out.read_text()
    finally:
        stop(proc)
    assert not (data / "server.json").exists()
    assert not (tmp_path / "state" / "resphase" / "last-server.json").exists()
    assert not alive(first) and processes_using(data) == []
    assert len(out.read_text().splitlines()) <= 6, out.read_text()  # a clean stop adds nothing


def test_flags_become_a_settings_object_and_a_child_gets_it_as_its_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPHASE_PORT", "1234")
    monkeypatch.setenv("RESPHASE_LEASE_TIMEOUT_S", "7.5")
    before = dict(os.environ)
    settings = settings_from_flags(data_dir=str(tmp_path / "d"), host="::1", port=9001)
    assert dict(os.environ) == before  # nothing written to this process's environment
    assert (settings.data_dir, settings.host, settings.port) == ((tmp_path / "d").resolve(), "::1", 9001)
    assert settings.lease_timeout_s == 7.5 and settings.cache_dir == (tmp_path / "d").resolve() / "cache"
    settings = settings.model_copy(update={"require_token_for_reads": True, "heartbeat_interval_s": 0.1 + 0.2})
    child = subprocess.run([sys.executable, "-c", "from backend.settings import Settings; "
                            "print(Settings().model_dump_json())"], cwd=REPO, capture_output=True, text=True,
                           env=settings_env(settings, os.environ), timeout=60, check=True)
    assert Settings.model_validate_json(child.stdout) == settings
    with pytest.raises(BadSettings, match="port"):
        monkeypatch.setenv("RESPHASE_PORT", "eighty")
        settings_from_flags()
