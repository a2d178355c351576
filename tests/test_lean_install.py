"""A lean install (no `worker` extra, so no torch): the API and the CLI's parser work, and a command
that needs torch says in one line what to install (backend/needs.py).

"No torch" is simulated in a fresh interpreter by sys.modules["torch"] = None, which makes both
`import torch` and importlib.util.find_spec("torch") behave as if it were not installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.needs import EXIT_MISSING_EXTRA, MissingExtra, require_worker_extra

REPO = Path(__file__).resolve().parent.parent
NO_TORCH = "import sys; sys.modules['torch'] = None\n"


def _python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESPHASE_")}
    env |= {"RESPHASE_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", NO_TORCH + code], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)


def test_require_worker_extra_passes_with_torch() -> None:
    require_worker_extra("run")  # the test environment has the worker extra


def test_require_worker_extra_says_what_to_install_in_one_line(tmp_path: Path) -> None:
    done = _python("from backend.needs import require_worker_extra\nrequire_worker_extra('up')", tmp_path)
    assert done.returncode == EXIT_MISSING_EXTRA, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # no traceback
    assert lines[0].startswith("resphase up: error:") and "pip install 'resphase[worker]'" in lines[0]


def test_missing_extra_is_a_system_exit_with_its_status(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingExtra) as caught:
        require_worker_extra("worker")
    assert caught.value.code == EXIT_MISSING_EXTRA and "resphase worker" in str(caught.value)


def test_api_serves_without_torch(tmp_path: Path) -> None:
    code = """
from fastapi.testclient import TestClient
import backend.cli
from backend.main import create_app
client = TestClient(create_app(run_reaper=False))
for path in ("/api/v1/meta", "/api/v1/health", "/", "/docs", "/api/v1/openapi.json"):
    assert client.get(path).status_code in (200, 503), path
print(backend.cli.build_parser().prog, "torch" in sys.modules and sys.modules["torch"] is not None)
"""
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-2:] == ["resphase", "False"], done.stdout
