"""The notebook client against a real `resphase up` (SQLite, filesystem broker, one worker) on a
free port: submit and wait, to_pandas / to_xarray, phase and fit, errors; URL discovery from the
server's record in a fresh interpreter; the CLI's client commands; docs/notebook.md's code."""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import resphase
from backend.grid import AXES
from backend.metrics import METRIC_NAMES
from backend.server_record import record_server, recorded_url
from tests.conftest import REPO, free_port, start, stop
from tests.processes import embedded_env, health_names, wait_for, worker_pids

NAME = "client test: a name well over twenty-four characters long"
SPEC: dict[str, Any] = {"name": NAME,
        "grid": {"alpha": [0.5, 1, 2], "D": [4], "L": [2], "M": [4, 8]},
        "settings": {"seeds": 2, "steps": 3, "n_samples": 4}}


class Server:
    def __init__(self, url: str, data_dir: Path, pid: int, env: dict[str, str]) -> None:
        self.url, self.data_dir, self.pid, self.env = url, data_dir, pid, env


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `resphase up` for the module, its record in its data directory (written here if `up`
    does not write one itself), the user's state directory inside the temp dir."""
    tmp = tmp_path_factory.mktemp("client")
    port, data, log = free_port(), tmp / "data", tmp / "up.log"
    env = embedded_env(data, XDG_STATE_HOME=str(tmp / "state"))
    proc = start(["up", "--port", str(port), "--data-dir", str(data)], env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("the up line", lambda: "resphase is up at" in log.read_text() or proc.poll() is not None, 60, log)
        assert proc.poll() is None, log.read_text()
        first = wait_for("a worker pid", lambda: worker_pids(data), 30, log)[0]
        wait_for("the worker on /health", lambda: any(n.endswith(f":{first}") for n in health_names(url)), 60, log)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("XDG_STATE_HOME", env["XDG_STATE_HOME"])
            if recorded_url(data) is None:
                record_server(data, url, pid=proc.pid)  # the record `up` writes: url, pid of the live server
        yield Server(url, data, proc.pid, env)
    finally:
        stop(proc)


def _fresh(code: str, env: dict[str, str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """`code` in a new interpreter that imports resphase from this checkout."""
    env = {**env, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def test_a_fresh_notebook_finds_the_server_submits_waits_and_gets_pandas_and_xarray(
        server: Server, tmp_path: Path) -> None:
    env = {k: v for k, v in server.env.items() if k != "RESPHASE_URL"}
    code = f"""
        import pickle, sys, resphase
        assert "torch" not in sys.modules and "worker" not in sys.modules
        c = resphase.connect()
        s = c.submit({SPEC!r}, wait=True, poll=0.3)
        df, ds = s.to_pandas(), s.to_xarray()
        assert "torch" not in sys.modules
        pickle.dump((c.url, s.id, s.status, s.axes, df, ds), open("out.pickle", "wb"))
    """
    done = _fresh(code, env, tmp_path)
    assert done.returncode == 0, done.stderr
    url, sweep_id, status, axes, df, ds = pickle.loads((tmp_path / "out.pickle").read_bytes())
    assert url == server.url and status == "finished"
    assert list(df.columns[:7]) == ["alpha", "D", "L", "M", "unit_seed", "status", "regime"]
    assert set(METRIC_NAMES) <= set(df.columns)
    assert len(df) == 6 * 2 and set(df["status"]) <= {"done", "diverged"}
    assert ds.sizes == {"alpha": 3, "D": 1, "L": 1, "M": 2, "seed": 2}
    for a in AXES:
        assert ds[a].values.tolist() == axes[a]
    assert ds["seed"].values.tolist() == [0, 1]
    assert ds.attrs["sweep_id"] == sweep_id and ds.attrs["server_url"] == server.url
    assert ds.attrs["name"] == SPEC["name"] and ds.attrs["settings_steps"] == 3
    assert ds.attrs["science_version"] and ds.attrs["resphase_version"] == resphase.__version__
    for row in df.itertuples():
        cell = ds.sel(alpha=row.alpha, D=row.D, L=row.L, M=row.M, seed=row.unit_seed)
        for name in ("loss_final", "feature_update", "laziness"):
            assert np.isclose(float(cell[name]), getattr(row, name), equal_nan=True), (name, row)
    assert np.isfinite(ds["loss_final"].values).all()


def test_the_record_is_what_connect_finds_and_an_explicit_url_wins(server: Server, tmp_path: Path) -> None:
    env = {k: v for k, v in server.env.items() if k != "RESPHASE_URL"}
    found = _fresh("import resphase; print(resphase.connect().url)", env, tmp_path)
    assert found.stdout.strip() == server.url, found.stderr
    # the user's state directory alone (another folder, no data dir of its own) finds it too
    elsewhere = {**env, "RESPHASE_DATA_DIR": str(tmp_path / "empty")}
    assert _fresh("import resphase; print(resphase.connect().url)", elsewhere, tmp_path).stdout.strip() == server.url
    explicit = _fresh("import resphase; print(resphase.connect('http://127.0.0.1:9/').url)", env, tmp_path)
    assert explicit.stdout.strip() == "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def finished(server: Server) -> resphase.Sweep:
    with resphase.connect(server.url) as c:
        return c.submit(SPEC, wait=True, poll=0.3, progress=False)


def test_phase_and_fit_come_back_as_typed_arrays(server: Server, finished: resphase.Sweep) -> None:
    c = resphase.connect(server.url)
    s = c.sweep(finished.id)
    ph = s.phase("alpha", "M", "loss_final", fixed={"D": 4, "L": 2}, agg="median")
    assert isinstance(ph, resphase.PhaseSlice) and ph.z.shape == (2, 3) and ph.z.dtype == float
    assert ph.x.tolist() == [0.5, 1, 2] and ph.y.tolist() == [4, 8] and ph.fixed == {"D": 4, "L": 2}
    df = s.to_pandas()
    want = df[(df.alpha == 1) & (df.M == 8)]["loss_final"].median()
    assert np.isclose(ph.z[1, 1], want)
    fit = s.fit("loss_final", along="alpha", group="M", n_boot=0)
    assert isinstance(fit, resphase.Fit) and [line.group_value for line in fit.lines] == [4, 8]
    assert all(isinstance(line.x, np.ndarray) and line.x.tolist() == [0.5, 1, 2] for line in fit.lines)
    assert all(np.isfinite(line.exponent) for line in fit.lines)
    assert [p.name for p in c.presets()] and all(p.quick["grid"] for p in c.presets())
    assert finished.id in [x.id for x in c.sweeps()]
    tagged = c.sweep(finished.id).annotate(tags=["client-test"], note="from the client")
    assert tagged.tags == ["client-test"] and c.sweep(finished.id).note == "from the client"
    assert [x.id for x in c.sweeps(tag="client-test")] == [finished.id]


def test_errors_are_one_line_api_errors_and_a_clear_connection_error(server: Server) -> None:
    c = resphase.connect(server.url)
    with pytest.raises(resphase.ApiError) as missing:
        c.sweep(2**30)
    assert missing.value.status == 404 and str(missing.value) == f"HTTP 404: sweep {2**30} not found"
    bad = {**SPEC, "grid": {**SPEC["grid"], "D": [5000]}}
    with pytest.raises(resphase.ApiError) as over:
        c.submit(bad)
    assert over.value.status == 422 and "max_dim" in str(over.value) and "\n" not in str(over.value)
    port = free_port()
    with pytest.raises(ConnectionError) as down:
        resphase.connect(f"http://127.0.0.1:{port}").sweeps()
    assert isinstance(down.value, resphase.ServerUnreachable)
    assert f"http://127.0.0.1:{port}" in str(down.value) and "resphase up" in str(down.value)


def test_run_in_process_gives_the_same_frames_without_a_server() -> None:
    local = resphase.run(alpha=[0.5, 1], D=4, L=2, M=4, seeds=2, steps=2, n_samples=4, progress=False)
    df, ds = local.to_pandas(), local.to_xarray()
    assert len(df) == 4 and set(df["unit_seed"]) == {0, 1}
    assert ds.sizes == {"alpha": 2, "D": 1, "L": 1, "M": 1, "seed": 2}
    assert np.isclose(float(ds["loss_final"].sel(alpha=1.0, D=4, L=2, M=4, seed=1)),
                      df[(df.alpha == 1) & (df.unit_seed == 1)]["loss_final"].iloc[0])
    with pytest.raises(ValueError, match="max_dim"):
        resphase.run(alpha=1, D=5000, L=2, M=4)


def _cli(server: Server, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "backend.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env=env or {k: v for k, v in server.env.items() if k != "RESPHASE_URL"}, timeout=120)


def test_cli_list_finds_the_recorded_server_prints_a_header_and_full_names(
        server: Server, finished: resphase.Sweep) -> None:
    out = _cli(server, "sweep", "list")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert re.match(r"\s+id\s+state\s+points", lines[0])
    assert any(line.startswith(f"{finished.id:>5}") and line.endswith(NAME) for line in lines[1:])
    found = _cli(server, "sweep", "list", "--name", NAME[1:].upper(), "--limit", "500").stdout.splitlines()
    assert any(line.startswith(f"{finished.id:>5}") for line in found[1:])
    assert _cli(server, "sweep", "list", "--tag", "no-such-tag").stdout.splitlines()[1:] == []
    status = _cli(server, "sweep", "status", str(finished.id), "--json")
    assert json.loads(status.stdout)["id"] == finished.id


def test_cli_survives_a_closed_pipe(server: Server, finished: resphase.Sweep) -> None:
    env = {k: v for k, v in server.env.items() if k != "RESPHASE_URL"}
    proc = subprocess.Popen([sys.executable, "-m", "backend.cli", "sweep", "list"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the command writes its first line (`| head -0`)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and err == ""


def test_cli_failures_are_one_line(server: Server) -> None:
    missing = _cli(server, "sweep", "status", str(2**30))
    assert missing.returncode == 2 and missing.stderr == f"resphase: error: HTTP 404: sweep {2**30} not found\n"
    port = free_port()
    down = _cli(server, "sweep", "list", "--url", f"http://127.0.0.1:{port}")
    assert down.returncode == 2 and len(down.stderr.splitlines()) == 1 and "resphase up" in down.stderr
    env = {**server.env, "RESPHASE_URL": f"http://127.0.0.1:{port}"}
    via_env = _cli(server, "sweep", "list", env=env)
    assert via_env.returncode == 2 and f"127.0.0.1:{port}" in via_env.stderr


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def test_the_notebook_doc_runs_against_the_live_server(server: Server, tmp_path: Path) -> None:
    blocks = _python_blocks((REPO / "docs" / "notebook.md").read_text())
    assert len(blocks) >= 4
    env = {**server.env, "RESPHASE_URL": server.url}
    done = _fresh("\n".join(blocks), env, tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "<Sweep " in done.stdout and "finished" in done.stdout
