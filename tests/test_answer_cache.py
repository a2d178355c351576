"""The answer cache of sweep reads (backend/api/answer_cache.py) on SQLite and PostgreSQL: a
cached answer is byte for byte the uncached one, and after every write path that changes a
point (claim, record, release, reap, cancel, retry, a second submission that requeues, a
refinement that adds points) the next read shows the change. Each of these fails when that
path's revision bump (backend/store/tables.py `bump`) is removed: the stale answer is served."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.api.answer_cache import ENTRY_OVERHEAD, Answer, AnswerCache
from backend.grid import PointSpec, RunSettings, SweepSpec, expand, expanded_axes
from backend.main import create_app
from backend.results import PointOutcome, Provenance, SeedRun
from backend.settings import Limits, Settings
from backend.store import Database
from backend.store import sweeps as repo
from backend.store.copy import copy_store
from backend.store.points import claim, heartbeat, point_spec, reap, record, release
from backend.store.refinements import extend_sweep
from backend.store.sweep_version import sweep_version
from backend.store.tables import Point, Sweep

GRID = {"name": "c", "grid": {"alpha": [1, 2, 4], "D": [8], "L": [4, 8], "M": [4]},
        "settings": {"seeds": 2, "steps": 2}}  # 6 points
PHASE = {"x": "alpha", "y": "L", "metric": "feature_update"}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, run_reaper=False)) as c:
        yield c


def _db(client: TestClient) -> Database:
    db: Database = client.app.state.db  # type: ignore[attr-defined]
    return db


def _cache(client: TestClient) -> AnswerCache:
    cache: AnswerCache = client.app.state.answer_cache  # type: ignore[attr-defined]
    return cache


def _submit(client: TestClient, body: dict[str, Any] = GRID) -> tuple[int, list[int]]:
    r = client.post("/api/v1/sweeps", json=body)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    items = client.get(f"/api/v1/sweeps/{sid}/points", params={"limit": 100}).json()["items"]
    return sid, [p["id"] for p in items]


def _outcome(db: Database, point_id: int, value: float) -> PointOutcome:
    with db.read_session() as s:
        spec = point_spec(s.get(Point, point_id))  # type: ignore[arg-type]
    seeds = [SeedRun(i, {"feature_update": value + i, "init_deviation": 1e-5 * (i + 1)}, [1.0, 0.5], None)
             for i in range(2)]
    return PointOutcome(spec, seeds, 0.01, Provenance("0", "t", "cpu", "float32"))


def _finish(db: Database, ids: list[int], value: float = 0.25) -> None:
    with db.session() as s:
        claim(s, ids, "w", "h", "cpu", 60, 3)
    outcomes = [(i, _outcome(db, i, value)) for i in ids]
    with db.session() as s:
        record(s, outcomes, "w")


def _phase(client: TestClient, sid: int, **params: Any) -> dict[str, Any]:
    r = client.get(f"/api/v1/sweeps/{sid}/phase", params={**PHASE, **params})
    assert r.status_code == 200, r.text
    return r.json()


def _statuses(client: TestClient, sid: int) -> list[str]:
    return [s for row in _phase(client, sid)["status"] for s in row]


def _warm(client: TestClient, sid: int) -> list[str]:
    """Read the slice twice (the second from the cache) and return its statuses."""
    hits = _cache(client).hits
    first = _statuses(client, sid)
    assert _statuses(client, sid) == first and _cache(client).hits == hits + 1
    return first


def test_the_cached_answer_is_the_uncached_one_byte_for_byte(settings: Settings) -> None:
    off = settings.model_copy(update={"answer_cache_mb": 0.0})
    with TestClient(create_app(settings, run_reaper=False)) as on, \
            TestClient(create_app(off, run_reaper=False)) as plain:
        sid, ids = _submit(on)
        _finish(_db(on), ids[:4], value=0.1)  # computed and queued cells, None and tiny values
        queries = [("phase", PHASE), ("phase", {**PHASE, "metric": "err_out", "agg": "median"}),
                   ("phase", {"x": "L", "y": "alpha", "fixed": "M:4.0,D:8"}),
                   ("cells", {}), ("cells", {"fixed": "L:4,D:8", "metric": "err_out"}),
                   ("cells", {"after": "2000-01-01T00:00:00Z"}),
                   ("table", {}), ("table", {"sort": "feature_update", "order": "desc", "limit": 3}),
                   ("table", {"status": "done", "metrics": "feature_update,laziness", "offset": 1})]
        gzipped = 0
        for route, params in queries:
            url = f"/api/v1/sweeps/{sid}/{route}"
            want = plain.get(url, params=params)
            for _ in range(2):  # computed and kept, then from the cache
                got = on.get(url, params=params)
                assert got.status_code == want.status_code == 200, got.text
                assert got.content == want.content, (route, params)
                assert got.headers["etag"] == want.headers["etag"] and got.headers["cache-control"] == "no-cache"
                for header in ("content-type", "content-encoding", "vary"):
                    assert got.headers.get(header) == want.headers.get(header), (route, params, header)
                gzipped += got.headers.get("content-encoding") == "gzip"
            again = on.get(url, params=params, headers={"if-none-match": want.headers["etag"]})
            assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == want.headers["etag"]
        assert _cache(on).hits >= len(queries) * 2 and len(_cache(plain)) == 0
        assert gzipped >= 4  # the larger answers, from the cache's gzip as GZipMiddleware sends them
        plain_body = on.get(f"/api/v1/sweeps/{sid}/cells", headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain_body.headers and plain_body.content == plain.get(
            f"/api/v1/sweeps/{sid}/cells").content
        r = plain.get(f"/api/v1/sweeps/{sid}/phase", params=PHASE, headers={"if-none-match": want.headers["etag"]})
        assert r.status_code == 200  # another answer's ETag: the body


def test_a_recorded_result_and_a_claim_show_at_once(client: TestClient) -> None:
    sid, ids = _submit(client)
    assert set(_warm(client, sid)) == {"queued"}
    with _db(client).session() as s:
        claim(s, ids[:1], "w", "h", "cpu", 60, 3)
    assert _warm(client, sid).count("running") == 1
    before = client.get(f"/api/v1/sweeps/{sid}/cells").json()
    _finish_claimed(_db(client), ids[:1])
    assert _warm(client, sid).count("done") == 1
    after = client.get(f"/api/v1/sweeps/{sid}/cells").json()
    assert [c["status"] for c in after["cells"]].count("done") == 1 and after != before
    table = client.get(f"/api/v1/sweeps/{sid}/table", params={"status": "done"}).json()
    assert table["total"] == 1 and table["items"][0]["metrics"]["feature_update"]["mean"] == pytest.approx(0.75)


def _finish_claimed(db: Database, ids: list[int]) -> None:
    outcomes = [(i, _outcome(db, i, 0.25)) for i in ids]
    with db.session() as s:
        assert record(s, outcomes, "w") == ids


def test_release_and_reap_show_at_once(client: TestClient) -> None:
    sid, ids = _submit(client)
    with _db(client).session() as s:
        claim(s, ids[:3], "w", "h", "cpu", 60, 3)
    assert _warm(client, sid).count("running") == 3
    with _db(client).session() as s:
        release(s, ids[:1], "w", "boom", max_attempts=1)  # out of attempts: failed
    assert _warm(client, sid).count("failed") == 1
    with _db(client).session() as s:
        release(s, ids[1:2], "w", "boom", max_attempts=3)  # attempts left: queued again
    assert _warm(client, sid).count("running") == 1
    with _db(client).session() as s:
        reap(s, lease_timeout_s=-1.0, max_attempts=1)  # every heartbeat stale, out of attempts: failed
    assert _warm(client, sid).count("failed") == 2
    with _db(client).session() as s:
        claim(s, ids[3:4], "w", "h", "cpu", 60, 3)
    assert _warm(client, sid).count("running") == 1
    with _db(client).session() as s:
        reap(s, lease_timeout_s=-1.0, max_attempts=3)  # stale with attempts left: queued again
    assert _warm(client, sid).count("running") == 0


def test_a_result_filled_in_by_a_copy_shows_at_once(client: TestClient, tmp_path: Path) -> None:
    sid, _ = _submit(client)
    assert set(_warm(client, sid)) == {"queued"}
    src = Database.connect(f"sqlite:///{tmp_path / 'src.sqlite3'}")
    try:
        with src.session() as s:
            spec = SweepSpec.model_validate(GRID)
            created = repo.create_sweep(s, spec, expand(spec, Limits()), expanded_axes(spec.grid, Limits()))
        _finish(src, sorted(i for b in created.batches for i in b))
        copy_store(src, _db(client), created.sweep_id)  # the same points, with results
    finally:
        src.dispose()
    assert set(_warm(client, sid)) == {"done"}


def test_cancel_retry_and_a_second_submission_show_at_once(client: TestClient) -> None:
    sid, _ = _submit(client)
    _warm(client, sid)
    assert client.post(f"/api/v1/sweeps/{sid}/cancel").status_code == 200
    assert set(_warm(client, sid)) == {"cancelled"}
    assert client.post(f"/api/v1/sweeps/{sid}/retry").status_code == 200
    assert set(_warm(client, sid)) == {"queued"}
    assert client.post(f"/api/v1/sweeps/{sid}/cancel").status_code == 200
    assert set(_warm(client, sid)) == {"cancelled"}
    other, _ = _submit(client, {**GRID, "name": "again"})  # the same points: queued again, for both sweeps
    assert set(_warm(client, sid)) == {"queued"} and set(_warm(client, other)) == {"queued"}


def test_points_added_by_a_refinement_show_at_once(client: TestClient) -> None:
    sid, ids = _submit(client)
    _finish(_db(client), ids)
    first = _phase(client, sid)
    assert _phase(client, sid) == first and first["x"] == [1.0, 2.0, 4.0]
    settings = RunSettings.model_validate(GRID["settings"])
    new = [PointSpec(3.0, 8, L, 4, settings) for L in (4, 8)]
    with _db(client).session() as s:
        sweep = s.get(Sweep, sid)
        assert sweep is not None
        extend_sweep(s, sweep, new)
    grown = _phase(client, sid)
    assert grown["x"] == [1.0, 2.0, 3.0, 4.0] and [row[2] for row in grown["status"]] == ["queued", "queued"]
    assert len(client.get(f"/api/v1/sweeps/{sid}/cells").json()["cells"]) == 8


def test_the_version_grows_with_every_write_and_only_then(db: Database) -> None:
    spec = SweepSpec.model_validate(GRID)
    with db.session() as s:
        created = repo.create_sweep(s, spec, expand(spec, Limits()), expanded_axes(spec.grid, Limits()))
    ids = sorted(i for b in created.batches for i in b)

    def version() -> tuple[str, int, int]:
        with db.read_session() as s:
            sweep = s.get(Sweep, created.sweep_id)
            assert sweep is not None
            return sweep_version(s, sweep)

    v0 = version()
    assert v0[1:] == (6, 0) and version() == v0
    with db.session() as s:
        claim(s, ids[:2], "w", "h", "cpu", 60, 3)
    assert version()[1:] == (6, 2)
    with db.session() as s:
        heartbeat(s, ids[:2], "w")  # shows nothing new: no bump
    assert version()[1:] == (6, 2)
    _finish_claimed(db, ids[:2])
    assert version()[1:] == (6, 4) and version()[0] == v0[0]


def test_the_byte_bound_evicts_the_least_recently_used() -> None:
    cache = AnswerCache(3 * (100 + 256))
    for k in "abc":
        cache.put(k, Answer(b"x" * 100, "e"))
    assert len(cache) == 3 and cache.bytes == 3 * 356
    assert cache.get("a") is not None  # a is now the most recent: b goes first
    cache.put("d", Answer(b"x" * 100, "e"))
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("d") is not None
    assert cache.evictions == 1 and cache.bytes <= cache.max_bytes
    cache.put("big", Answer(b"x" * 2000, "e"))  # over the whole bound: never kept, nothing evicted
    assert cache.get("big") is None and len(cache) == 3
    cache.put("a", Answer(b"y" * 10, "f"))  # replaced: counted once
    assert cache.bytes == 2 * 356 + 266


def test_a_small_cache_evicts_and_a_disabled_one_still_serves(settings: Settings) -> None:
    with TestClient(create_app(settings, run_reaper=False)) as c:
        sid, _ = _submit(c)
        size = len(c.get(f"/api/v1/sweeps/{sid}/phase", params=PHASE).content) + ENTRY_OVERHEAD
    small = settings.model_copy(update={"answer_cache_mb": 1.5 * size / 1024**2})  # one slice fits, not two
    with TestClient(create_app(small, run_reaper=False)) as c:
        for metric in ("feature_update", "laziness", "init_deviation"):
            _phase(c, sid, metric=metric)
        cache = _cache(c)
        assert cache.evictions == 2 and len(cache) == 1 and 0 < cache.bytes <= cache.max_bytes
    off = settings.model_copy(update={"answer_cache_mb": 0.0})
    with TestClient(create_app(off, run_reaper=False)) as c:
        sid, ids = _submit(c)
        assert set(_statuses(c, sid)) == {"queued"}
        _finish(_db(c), ids[:1])
        assert _statuses(c, sid).count("done") == 1 and len(_cache(c)) == 0
