"""schemathesis over the whole OpenAPI of create_app: no 5xx, and every response (errors included)
in the shape and with the status codes the schema documents.

The app runs in process on a SQLite file of its own with the filesystem broker in a temp dir, so
nothing leaves the test (POST /sweeps enqueues there). One small sweep is computed by the real
worker code first, and a share of the generated ids is pointed at it, so that the slices, fits,
boundaries, claims and exports read real results and not only 404s.

Examples per operation: RESPHASE_OPENAPI_EXAMPLES (default 25: about a minute on 2 cores);
the fault-suite figure in docs/ is taken with 200. RESPHASE_OPENAPI_SEED fixes the seed (default
fixed, so a failure reproduces; set it to "random" to explore).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from backend.api import deps
from backend.main import API_PREFIX, create_app
from backend.settings import Settings

schemathesis = pytest.importorskip("schemathesis")

EXAMPLES = int(os.environ.get("RESPHASE_OPENAPI_EXAMPLES", "25"))
SEED = os.environ.get("RESPHASE_OPENAPI_SEED", "20260101")
TOKEN = "openapi-test-token-0123456789"
SPEC: dict[str, Any] = {"name": "seeded", "grid": {"alpha": [1, 4], "D": [8], "L": [4, 8], "M": [4]},
        "settings": {"seeds": 2, "steps": 3}}
WRITES = ("post", "put", "patch", "delete")


def _settings(root: Path, token: str = "") -> Settings:
    return Settings(data_dir=root / "data", database_url=f"sqlite:///{root / 'resphase.sqlite3'}",
                    broker_url="filesystem://", queue="openapi-test", api_token=token,
                    require_token_for_reads=False, costly_requests_per_minute=1_000_000)


def _config() -> Any:
    seed: dict[str, Any] = {} if SEED == "random" else {"seed": int(SEED)}
    return schemathesis.Config.from_dict({
        **seed,
        "generation": {"max-examples": EXAMPLES, "database": "none"},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
                   "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
        # Schema-valid requests that break a rule the schema cannot state (x equal to y, an empty
        # grid axis, an unknown metric) are rightly 422: the acceptance check would call them failures.
        "checks": {"positive_data_acceptance": {"enabled": False}},
    })


class Seeded:
    """An app with one computed sweep (`done`) and one queued one (`queued`)."""

    def __init__(self, root: Path, token: str = "") -> None:
        from worker.runner import WorkerContext, run_batch

        self.settings = _settings(root, token)
        self.app: FastAPI = create_app(self.settings, run_reaper=False)
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        with TestClient(self.app) as client:
            self.done = client.post(f"{API_PREFIX}/sweeps", json=SPEC, headers=auth).json()["id"]
            points = client.get(f"{API_PREFIX}/sweeps/{self.done}/points").json()["items"]
            self.point_ids = [p["id"] for p in points]
            ctx = WorkerContext.create(self.settings, "cpu")
            run_batch(ctx, self.point_ids)
            ctx.db.dispose()
            self.queued = client.post(f"{API_PREFIX}/sweeps", json={**SPEC, "name": "queued",
                                      "grid": {**SPEC["grid"], "M": [6]}}, headers=auth).json()["id"]

    def steer(self, case: Any) -> None:
        """Point about half of the generated (valid, integer) ids at the seeded sweeps: reads at the
        computed one, writes (cancel, retry, delete, controls) at the queued one, so the computed
        sweep outlives the run."""
        params = case.path_parameters or {}
        write = case.method.lower() in WRITES
        for name, value in params.items():
            if not isinstance(value, int) or isinstance(value, bool):
                continue
            if name == "sweep_id" and write and value == self.done:  # a generated id may be the seeded one
                params[name] = self.queued
            if value % 2:
                continue
            if name == "sweep_id":
                params[name] = self.queued if write else self.done
            elif name == "point_id":
                params[name] = self.point_ids[value % len(self.point_ids)]


@pytest.fixture(scope="module", autouse=True)
def own_rate_limiter() -> Iterator[None]:
    """The costly-route limiter is per process and keyed by client address: the thousands of
    requests made here get one of their own, so that later tests are not throttled by them."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(deps, "COSTLY", deps.RateLimiter())
        yield


@pytest.fixture(scope="module")
def open_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    seeded = Seeded(tmp_path_factory.mktemp("openapi-open"))
    yield seeded
    seeded.app.state.db.dispose()


@pytest.fixture(scope="module")
def token_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    seeded = Seeded(tmp_path_factory.mktemp("openapi-token"), token=TOKEN)
    yield seeded
    seeded.app.state.db.dispose()


def _schema() -> Any:
    """The OpenAPI of create_app, read at collection (schemathesis makes one test per operation
    from it); the tests call the seeded apps of the fixtures below, whose schema is the same."""
    root = Path(tempfile.mkdtemp(prefix="resphase-openapi-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    app = create_app(_settings(root), run_reaper=False)
    raw = app.openapi()
    app.state.db.dispose()
    return schemathesis.openapi.from_dict(raw, config=_config())


schema = _schema()


@pytest.mark.slow
@schema.parametrize()
def test_every_operation_without_a_token(case: Any, open_app: Seeded) -> None:
    """Open mode (no token configured): every check but positive_data_acceptance, not_a_server_error
    and response_schema_conformance included."""
    open_app.steer(case)
    case.call_and_validate(app=open_app.app)


@pytest.mark.slow
@schema.parametrize()
def test_every_operation_with_the_token(case: Any, token_app: Seeded) -> None:
    """Team mode, every request with the token (a generated `authorization` header is replaced)."""
    token_app.steer(case)
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    case.headers = {**headers, "Authorization": f"Bearer {TOKEN}"}
    case.call_and_validate(app=token_app.app)


def _operations(app: FastAPI) -> list[tuple[str, str]]:
    paths = app.openapi()["paths"]
    return [(method, path) for path, item in paths.items() for method in item]


def _concrete(path: str, sweep_id: int, point_id: int) -> str:
    return path.replace("{sweep_id}", str(sweep_id)).replace("{point_id}", str(point_id))


def test_writes_need_the_token_and_reads_do_not(token_app: Seeded) -> None:
    """Team mode: every state-changing route (POST /sweeps/validate included) is 401 without the
    token or with a wrong one, with a documented JSON body; reads stay open."""
    ops = _operations(token_app.app)
    writes = sorted((op for op in ops if op[0] in WRITES), key=lambda op: op[0] == "delete")  # delete last
    assert ("post", f"{API_PREFIX}/sweeps/validate") in writes and len(writes) >= 6, writes
    with TestClient(token_app.app) as client:
        target = client.post(f"{API_PREFIX}/sweeps", json={**SPEC, "grid": {**SPEC["grid"], "M": [7]}},
                             headers={"Authorization": f"Bearer {TOKEN}"}).json()["id"]
        for method, path in writes:
            url = _concrete(path, target, token_app.point_ids[0])
            body = SPEC if path.endswith(("/sweeps", "/validate")) else ({"note": "x"} if method == "patch" else None)
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                r = client.request(method.upper(), url, json=body, headers=headers)
                assert r.status_code == 401, (method, path, headers, r.status_code, r.text)
                assert isinstance(r.json()["detail"], str) and r.headers["www-authenticate"] == "Bearer"
            ok = client.request(method.upper(), url, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
            assert ok.status_code < 400, (method, path, ok.status_code, ok.text)
        for method, path in ops:
            if method == "get":
                r = client.get(_concrete(path, token_app.done, token_app.point_ids[0]),
                               params={"formula": "L"} if path.endswith("/evaluate") else {"L": "2"})
                assert r.status_code in (200, 422), (path, r.status_code, r.text)
                if r.status_code == 422:
                    assert path.endswith("/evaluate"), (path, r.text)


def test_error_shapes_are_the_documented_ones(open_app: Seeded) -> None:
    """Every 4xx is {"detail": ...}: a string, or (422 only) a list of {loc, msg, type}."""
    done = open_app.done
    with TestClient(open_app.app, raise_server_exceptions=False) as client:
        spec = client.get(f"{API_PREFIX}/openapi.json").json()
        assert "HTTPValidationError" not in spec["components"]["schemas"]  # every 422 documented as ours
        for item in spec["paths"].values():
            for op in item.values():
                if any(p["in"] in ("path", "query", "header") for p in op.get("parameters", [])):
                    assert op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
                        "/ValidationErrorBody")
        cases = {
            f"/sweeps/{done}/phase?x=L&y=L": (422, str),
            f"/sweeps/{done}/phase?x=alpha&y=D&fixed=L:3": (422, str),
            f"/sweeps/{done}/fit?n_boot=2001": (422, list),
            f"/sweeps/{done}/boundaries?n_boot=5000": (422, list),
            f"/sweeps/{done}/boundaries?threshold=nan": (422, list),
            f"/sweeps/{done}/fit?predicted=inf": (422, list),
            f"/sweeps/{done}/fit?fixed=D:nan": (422, str),
            f"/sweeps/{done}/boundaries?fixed=M:inf": (422, str),
            "/sweeps/999999/fit": (404, str),
            "/points/0": (404, str),
        }
        for url, (code, kind) in cases.items():
            r = client.get(API_PREFIX + url)
            assert r.status_code == code and isinstance(r.json()["detail"], kind), (url, r.status_code, r.text)
            if kind is list:
                assert all({"loc", "msg", "type"} <= set(d) for d in r.json()["detail"]), r.text
        capped = client.get(f"{API_PREFIX}/sweeps/{done}/fit", params={"n_boot": 2001}).json()["detail"][0]
        assert capped["loc"] == ["query", "n_boot"] and "2000" in capped["msg"], capped
        assert client.get(f"{API_PREFIX}/sweeps/{done}/fit", params={"n_boot": 2000}).status_code == 200
        bad = client.post(f"{API_PREFIX}/sweeps", content=b'{"name": "\xff"}',
                          headers={"content-type": "application/json"})
        assert bad.status_code == 400 and isinstance(bad.json()["detail"], str), bad.text


_ALLOWED = [("/sweeps", "GET, POST"), ("/sweeps/{id}", "DELETE, GET, PATCH"), ("/sweeps/{id}/cancel", "POST"),
            ("/sweeps/validate", "POST"), ("/meta", "GET"), ("/openapi.json", "GET, HEAD")]


@pytest.mark.parametrize(("path", "allowed", "method"), [
    (path, allowed, method) for path, allowed in _ALLOWED for method in ("OPTIONS", "PUT", "PATCH")
    if method not in allowed.split(", ")])
def test_unsupported_methods_are_405_listing_the_path_s_methods(open_app: Seeded, path: str, allowed: str,
                                                               method: str) -> None:
    with TestClient(open_app.app) as client:
        r = client.request(method, API_PREFIX + path.replace("{id}", str(open_app.done)))
    assert r.status_code == 405 and r.headers["allow"] == allowed, (r.status_code, r.headers, r.text)
    assert method in r.json()["detail"]


def test_the_page_and_unknown_api_paths_are_unchanged(open_app: Seeded) -> None:
    with TestClient(open_app.app) as client:
        assert client.get("/").status_code == 200
        assert client.options("/").status_code == 405  # the page's static files, as before
        missing = client.get(f"{API_PREFIX}/no-such-route")
        assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}  # api.js isMissing()
