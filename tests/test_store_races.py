"""Concurrent writers on one store: identical and overlapping submissions, and a deletion racing a
submission that reuses its points. The interleavings are forced first (one transaction held open
while the other runs, on SQLite and PostgreSQL), then provoked as bursts of real HTTP requests to
a real `resphase api` on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from backend.grid import SweepSpec, expand, expanded_axes
from backend.settings import Limits, Settings
from backend.store import Database
from backend.store import sweeps as repo
from backend.store.sweep_lifecycle import delete_sweep
from backend.store.tables import Point, Sweep, sweep_point
from tests.conftest import free_port, resphase_env, start, stop, truncate, wait_http

LIMITS = Limits()


def _body(alphas: list[float], Ls: list[int], problem_seed: int = 0) -> dict[str, Any]:
    return {"name": "race", "grid": {"alpha": alphas, "D": [8], "L": Ls, "M": [4, 8]},
            "settings": {"seeds": 1, "steps": 2, "problem_seed": problem_seed}}


def _hashes(body: dict[str, Any]) -> set[str]:
    return {p.content_hash for p in expand(SweepSpec.model_validate(body), LIMITS)}


def _create(db: Database, body: dict[str, Any]) -> repo.CreatedSweep:
    spec = SweepSpec.model_validate(body)
    return repo.transact(db, lambda s: repo.create_sweep(s, spec, expand(spec, LIMITS),
                                                         expanded_axes(spec.grid, LIMITS), 20.0))


def _linked_hashes(db: Database) -> dict[int, set[str]]:
    """{sweep id: content hashes of the points it links} for every sweep, linked or not."""
    with db.read_session() as s:
        out: dict[int, set[str]] = {sid: set() for sid in s.scalars(select(Sweep.id))}
        for sid, h in s.execute(select(sweep_point.c.sweep_id, Point.content_hash)
                                .join(Point, Point.id == sweep_point.c.point_id)):
            out[sid].add(h)
    return out


def _assert_store_consistent(db: Database) -> None:
    """One point per hash, every sweep links exactly n_points points, no point is unlinked."""
    with db.read_session() as s:
        per_hash = Counter(s.scalars(select(Point.content_hash)))
        assert max(per_hash.values(), default=1) == 1
        n_points = {sid: n for sid, n in s.execute(select(Sweep.id, Sweep.n_points))}
        orphans = s.scalar(select(func.count()).select_from(Point).where(
            Point.id.not_in(select(sweep_point.c.point_id))))
    linked = _linked_hashes(db)
    assert {sid: len(h) for sid, h in linked.items()} == n_points
    assert orphans == 0


class Background(threading.Thread):
    """Runs fn in a thread and keeps its result or exception for the test to check."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.fn = fn
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:  # the test reports it
            self.error = exc

    def outcome(self, timeout: float = 30) -> Any:
        self.join(timeout)
        assert not self.is_alive(), "the concurrent transaction never finished"
        if self.error is not None:
            raise self.error
        return self.result


BODY = _body([1, 2, 4], [4, 8])


def test_submission_waiting_on_a_deletion_recreates_the_points(db: Database) -> None:
    """The deletion holds its locks and commits after the submission has started: the submission
    must not see the deleted points as present (empty sweep) nor fail on their foreign key."""
    first = _create(db, BODY)
    with db.session() as s:
        delete_sweep(s, s.get(Sweep, first.sweep_id))  # type: ignore[arg-type]
        submit = Background(lambda: _create(db, BODY))
        submit.start()
        time.sleep(0.5)
        assert submit.is_alive()  # waits on the deletion's locks (SQLite: on its write lock)
    created: repo.CreatedSweep = submit.outcome()
    assert created.n_points == 12 and created.n_reused == 0
    assert sum(len(b) for b in created.batches) == 12  # the points are new again: all sent
    assert _linked_hashes(db) == {created.sweep_id: _hashes(BODY)}
    _assert_store_consistent(db)


def test_deletion_waiting_on_a_submission_keeps_the_points(db: Database) -> None:
    """The submission has linked the points but not committed when the deletion starts: the
    deletion must see the new links once it gets the locks, and keep the points."""
    first = _create(db, BODY)
    spec = SweepSpec.model_validate(BODY)
    with db.session() as s:
        created = repo.create_sweep(s, spec, expand(spec, LIMITS), expanded_axes(spec.grid, LIMITS), 20.0)

        def remove() -> None:
            repo.transact(db, lambda s2: delete_sweep(s2, s2.get(Sweep, first.sweep_id)))  # type: ignore[arg-type]

        deletion = Background(remove)
        deletion.start()
        time.sleep(0.5)
        assert deletion.is_alive()
    deletion.outcome()
    assert _linked_hashes(db) == {created.sweep_id: _hashes(BODY)}
    _assert_store_consistent(db)


def test_overlapping_submissions_waiting_on_each_other_share_points(db: Database) -> None:
    """A second submission of overlapping points while the first has inserted but not committed
    them: it must wait and reuse them, not fail on the unique content hash."""
    other = _body([2, 4, 8], [4, 8])
    spec = SweepSpec.model_validate(BODY)
    with db.session() as s:
        first = repo.create_sweep(s, spec, expand(spec, LIMITS), expanded_axes(spec.grid, LIMITS), 20.0)
        second = Background(lambda: _create(db, other))
        second.start()
        time.sleep(0.5)
        assert second.is_alive()
    created: repo.CreatedSweep = second.outcome()
    assert sum(len(b) for b in created.batches) == 4  # only alpha = 8 is new to it
    assert _linked_hashes(db) == {first.sweep_id: _hashes(BODY), created.sweep_id: _hashes(other)}
    _assert_store_consistent(db)


# --- bursts of HTTP requests to a real API on PostgreSQL ---


@pytest.fixture
def pg_api(tmp_path: Path, postgres_url: str) -> Iterator[tuple[str, Database]]:
    """`resphase api` on the test PostgreSQL (filesystem broker in tmp_path: no worker needed)."""
    db = Database.connect(postgres_url)
    truncate(db)
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url)
    port = free_port()
    api = start(["api", "--port", str(port)], resphase_env(settings), tmp_path / "api.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v1/health")
        yield f"http://127.0.0.1:{port}", db
    finally:
        stop(api)
        db.dispose()


def _burst(base: str, requests: list[tuple[str, str, dict[str, Any] | None]]) -> list[httpx.Response]:
    """Send the requests at once, one thread each, released together by a barrier."""
    barrier = threading.Barrier(len(requests))
    out: list[httpx.Response | None] = [None] * len(requests)

    def one(i: int) -> None:
        method, path, body = requests[i]
        with httpx.Client(base_url=base, timeout=120) as client:
            barrier.wait()
            out[i] = client.request(method, path, json=body)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert all(r is not None for r in out), "a request never came back"
    return [r for r in out if r is not None]


@pytest.mark.slow
def test_burst_of_identical_and_overlapping_submissions(pg_api: tuple[str, Database]) -> None:
    """60 concurrent submissions of four grids (identical, overlapping): no 5xx, one point per
    hash, every sweep links all of its points."""
    base, db = pg_api
    grids = [_body([1, 2, 4, 8, 16], [4, 8, 16, 32]), _body([4, 8, 16, 32, 64], [4, 8, 16, 32]),
             _body([1, 2, 4, 8, 16], [16, 32, 64, 128]), _body([1, 2, 4, 8, 16], [4, 8, 16, 32])]
    bodies = [grids[i % len(grids)] for i in range(60)]
    responses = _burst(base, [("POST", "/api/v1/sweeps", b) for b in bodies])
    failed = [(r.status_code, r.text[:300]) for r in responses if r.status_code != 201]
    assert failed == [], (len(failed), failed[:3])
    union = set().union(*(_hashes(g) for g in grids))
    with db.read_session() as s:
        assert sorted(s.scalars(select(Point.content_hash))) == sorted(union)  # one point per hash
    linked = _linked_hashes(db)
    assert len(linked) == 60
    for r, body in zip(responses, bodies, strict=True):
        sweep = r.json()
        assert sweep["n_points"] == 40 and sum(sweep["counts"].values()) == 40, sweep
        assert linked[sweep["id"]] == _hashes(body)
    _assert_store_consistent(db)


@pytest.mark.slow
def test_delete_racing_submissions_that_reuse_its_points(pg_api: tuple[str, Database]) -> None:
    """20 rounds: a sweep is deleted while two submissions of the same grid reuse its points (a
    grid of its own each round, so that the deletion would remove them). No 5xx, no sweep left
    without (some of) its points, no orphaned point."""
    base, db = pg_api
    bodies = [_body([1, 2, 4, 8, 16], [4, 8, 16, 32], problem_seed=round_) for round_ in range(20)]
    with httpx.Client(base_url=base, timeout=60) as client:
        for round_, body in enumerate(bodies):
            victim = client.post("/api/v1/sweeps", json=body)
            assert victim.status_code == 201, victim.text
            responses = _burst(base, [("DELETE", f"/api/v1/sweeps/{victim.json()['id']}", None),
                                      ("POST", "/api/v1/sweeps", body), ("POST", "/api/v1/sweeps", body)])
            assert [r.status_code for r in responses] == [204, 201, 201], (round_, [r.text for r in responses])
            for r in responses[1:]:
                sweep = client.get(f"/api/v1/sweeps/{r.json()['id']}").json()
                assert sum(sweep["counts"].values()) == sweep["n_points"] == 40, (round_, sweep)
            # one of the two goes too, while the other keeps the points
            assert client.delete(f"/api/v1/sweeps/{responses[2].json()['id']}").status_code == 204
    linked = _linked_hashes(db)
    assert sorted(linked.values(), key=sorted) == sorted((_hashes(b) for b in bodies), key=sorted)
    _assert_store_consistent(db)
