"""The built wheel, installed outside the checkout, serves everything the page and the API docs load.

The wheel is built from a copy of the source tree (git's tracked and unignored files), installed
without dependencies into a fresh virtual environment in a temporary folder, and started as
`resphase up` from another temporary folder with its own data directory. Then `/`, every script the
page loads (index.html's scripts and, recursively, every ES module import), its stylesheet,
Plotly's bundle and every asset of /docs and /redoc must answer 200.

Dependencies: installing all of them afresh (torch included) would take minutes on every run, so
the fresh environment sees the test interpreter's site-packages through a .pth file placed after
its own. Only paths are added: .pth files there (such as an editable install of this checkout) are
not processed, so `backend` can only come from the wheel, which the test asserts. A file left out of
the wheel is therefore missing for real. The wheel's dependency metadata is checked separately.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
# ES module specifiers in static imports, re-exports and dynamic import() calls.
MODULE_IMPORT = re.compile(r"""(?:\bimport|\bexport)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]"""
                           r"""|\bimport\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)""")


def _clean_env(**extra: str) -> dict[str, str]:
    """No RESPHASE_ settings and no PYTHONPATH: nothing may point back into the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESPHASE_") and k != "PYTHONPATH"}
    return env | extra


def _copy_source(dest: Path) -> Path:
    """What a fresh clone would hold: tracked and unignored files (the whole tree, less caches, without git)."""
    try:
        names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                               capture_output=True, timeout=60).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "build", "dist",
                                        "resphase-data", "test-artifacts", ".*_cache")
        shutil.copytree(REPO, dest, ignore=ignore)
        return dest
    for name in filter(None, names):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = _copy_source(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("wheel")
    # -v: pip passes on the build backend's output, where setuptools prints its warnings.
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=600, env=_clean_env())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    warnings = [line for line in (done.stdout + done.stderr).splitlines() if "Warning:" in line]
    assert not warnings, warnings  # e.g. a deprecated license table, a data folder setuptools cannot place
    (built,) = out.glob("resphase-*.whl")
    return built


def _make_venv(wheel: Path, root: Path) -> Path:
    """A fresh environment at root with the wheel installed (no dependencies) and the deps .pth."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                           str(wheel)], capture_output=True, text=True, timeout=300, env=_clean_env())
    assert done.returncode == 0, done.stderr[-3000:]
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(site) / "zz-resphase-test-deps.pth").write_text("".join(f"{d}\n" for d in deps))
    return root


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_venv(wheel, tmp_path_factory.mktemp("venv"))


def test_wheel_metadata_keeps_torch_in_the_worker_extra(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        (meta,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        text = zf.read(meta).decode()
        names = zf.namelist()
    requires = re.findall(r"^Requires-Dist: (.+)$", text, re.M)
    torch = [r for r in requires if r.startswith("torch")]
    assert torch == ['torch==2.13.0; extra == "worker"'], torch
    assert "License-Expression: MIT" in text
    assert not any(n.startswith("frontend/") for n in names), "a top-level frontend package"
    assert "backend/frontend/index.html" in names and "backend/frontend/js/main.js" in names


def test_backend_comes_from_the_wheel(venv: Path, tmp_path: Path) -> None:
    probe = ("import backend, backend.main, sys; print(backend.__file__); print(backend.__version__); "
             "print(backend.main.check_assets()); print('\\n'.join(sys.path))")
    done = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True,
                          cwd=tmp_path, env=_clean_env(), timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    module, version, page, *path = done.stdout.splitlines()
    assert Path(module).is_relative_to(venv) and Path(page).is_relative_to(venv), (module, page)
    assert version == _project_version()
    assert not any(p and Path(p).resolve() == REPO for p in path), "the checkout is on sys.path"


def _project_version() -> str:
    match = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    assert match
    return match.group(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cwd = tmp_path_factory.mktemp("run")
    port, log = _free_port(), cwd / "up.log"
    cmd = [str(venv / "bin" / "resphase"), "up", "--port", str(port), "--data-dir", str(cwd / "data")]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=_clean_env(), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_worker(base, proc, log)
        yield base
    finally:
        _stop(proc)


def _wait_worker(base: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    """Until /health shows a live worker: the API and the worker (torch) both run from the wheel."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"resphase up exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).json().get("workers", {}).get("count", 0) >= 1:
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"no worker after {timeout} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: the worker goes too
            proc.wait(timeout=10)


class _Assets(HTMLParser):
    """The scripts (src) and stylesheets (href) an HTML page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.urls.append(str(a["src"]))
        elif tag == "link" and a.get("href") and not str(a["href"]).startswith("data:"):
            self.urls.append(str(a["href"]))


def _get(url: str) -> httpx.Response:
    r = httpx.get(url, timeout=30)
    assert r.status_code == 200, f"{url}: {r.status_code}"
    return r


def _page_assets(base: str, page: str) -> list[str]:
    parser = _Assets()
    parser.feed(_get(urljoin(base, page)).text)
    return [urljoin(urljoin(base, page), u) for u in parser.urls]


def _module_graph(entry: list[str]) -> set[str]:
    """Every ES module reachable from the entry scripts, each fetched (200, JavaScript)."""
    seen: set[str] = set()
    todo = [u for u in entry if u.endswith(".js")]
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        r = _get(url)
        assert "javascript" in r.headers["content-type"], (url, r.headers["content-type"])
        if "/vendor/" not in url:  # Plotly's bundle is not an ES module
            todo += [urljoin(url, next(filter(None, m))) for m in MODULE_IMPORT.findall(r.text)]
    return seen


def test_page_scripts_styles_and_docs_load_from_the_installed_wheel(served: str) -> None:
    page = _page_assets(served, "/")
    modules = _module_graph(page)
    paths = {urlsplit(u).path for u in modules}
    assert {"/js/main.js", "/vendor/plotly.min.js", "/js/state/store.js"} <= paths, sorted(paths)
    assert len(paths) >= 10, sorted(paths)
    for css in (u for u in page if u.endswith(".css")):
        assert "text/css" in _get(css).headers["content-type"]
    for docs in ("/docs", "/redoc"):
        assets = _page_assets(served, docs)
        assert any(u.endswith(".js") for u in assets), assets
        for url in assets:
            assert urlsplit(url).netloc == urlsplit(served).netloc, f"{docs} loads {url} from elsewhere"
            _get(url)
    _get(f"{served}/api/v1/openapi.json")


def test_missing_page_files_stop_the_app_with_one_clear_error(wheel: Path, tmp_path: Path) -> None:
    """An install of its own, whose page is then removed, as from a wheel built without it."""
    venv = _make_venv(wheel, tmp_path / "venv")
    probe = ("import backend.main as m\ntry:\n    m.check_assets()\nexcept m.MissingPageAssets as e:\n"
             "    print(e)\nelse:\n    print('no error')")
    site = next((venv / "lib").glob("python*/site-packages"))
    shutil.rmtree(site / "backend" / "frontend")
    done = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True,
                          cwd=tmp_path, env=_clean_env(), timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = done.stdout.splitlines()  # not "no error"
    assert "backend/frontend/index.html" in line and "reinstall" in line, line
