"""The sweep list keeps settled sweeps' states per process (backend/store/sweep_states.py) under the
sweep's state_epoch, which database triggers move (migration 0013). The invariant, on SQLite and
PostgreSQL: after any change, what the list shows is what the points say (a fresh computation),
and a settled sweep is listed without reading its points."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from alembic import command
from sqlalchemy import delete, event, inspect, text, update

from backend.grid import SweepSpec, expand, expanded_axes
from backend.results import PointOutcome, Provenance, SeedRun
from backend.settings import Limits
from backend.store import Database
from backend.store import sweeps as repo
from backend.store.engine import alembic_config, upgrade
from backend.store.points import claim, point_spec, record, release
from backend.store.sweep_lifecycle import retry_sweep
from backend.store.sweep_reads import sweep_records
from backend.store.sweep_states import point_states, settled_cache
from backend.store.tables import Point, Sweep

LIMITS = Limits()


def _create(db: Database, alphas: list[float], name: str = "s") -> list[int]:
    spec = SweepSpec.model_validate({"name": name, "grid": {"alpha": alphas, "D": [8], "L": [4], "M": [4]},
                                     "settings": {"seeds": 1, "steps": 2}})
    with db.session() as s:
        created = repo.create_sweep(s, spec, expand(spec, LIMITS), expanded_axes(spec.grid, LIMITS))
    return [i for batch in created.batches for i in batch]


def _finish(db: Database, ids: list[int]) -> None:
    with db.session() as s:
        claim(s, ids, "w", "h", "cpu", 60, 3)
    outcomes = []
    with db.read_session() as s:
        for i in ids:
            spec = point_spec(s.get(Point, i))  # type: ignore[arg-type]
            outcomes.append((i, PointOutcome(spec, [SeedRun(0, {"feature_update": 0.5}, [1.0, 0.5], None)], 0.01,
                                             Provenance("0", "t", "cpu", "float32"))))
    with db.session() as s:
        assert sorted(record(s, outcomes, "w")) == sorted(ids)


def _alpha(db: Database, point_id: int) -> float:
    with db.read_session() as s:
        return s.get_one(Point, point_id).alpha


def _fail(db: Database, ids: list[int]) -> None:
    with db.session() as s:
        claim(s, ids, "w", "h", "cpu", 60, 1)
        release(s, ids, "w", "boom", 1)  # attempts spent: failed


def listed(db: Database) -> dict[int, dict[str, int]]:
    with db.read_session() as s:
        return {rec.id: rec.counts for rec in sweep_records(s, limit=1000)}


def fresh(db: Database) -> dict[int, dict[str, int]]:
    """What the points say, computed without the cache."""
    with db.read_session() as s:
        ids = [rec.id for rec in sweep_records(s, limit=1000)]
        return {i: state.counts for i, state in point_states(s, ids).items()}


@pytest.fixture
def point_reads(db: Database) -> Iterator[list[str]]:
    """The statements that group a sweep's points (the states' query), as they run."""
    seen: list[str] = []

    def on_execute(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "GROUP BY sweep_point.sweep_id" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", on_execute)
    yield seen
    event.remove(db.engine, "before_cursor_execute", on_execute)


def test_a_settled_sweep_is_listed_without_reading_its_points(db: Database, point_reads: list[str]) -> None:
    settled = _create(db, [1, 2, 4], "settled")
    _finish(db, settled)
    running = _create(db, [8, 16], "running")
    assert listed(db) == fresh(db)
    point_reads.clear()
    first = listed(db)
    assert len(point_reads) == 1  # only the sweep with queued points is computed again
    with db.read_session() as s:
        assert len(settled_cache(s)) == 1
    _finish(db, running)
    assert listed(db) == fresh(db) == {**first, max(first): {**first[max(first)], "queued": 0, "done": 2}}
    point_reads.clear()
    assert listed(db) == fresh(db) and len(point_reads) == 1  # fresh() reads them; listed() did not


def test_every_change_of_a_settled_sweep_shows_in_the_list(db: Database) -> None:
    ids = sorted(_create(db, [1, 2, 4, 8], "a"), key=lambda i: _alpha(db, i))
    _finish(db, ids[:2])
    _fail(db, ids[2:])  # alpha 4 and 8
    assert listed(db) == fresh(db)  # settled, with two failed points: now kept
    sweep_id = min(listed(db))

    with db.session() as s:  # retry: failed -> queued
        retry_sweep(s, s.get_one(Sweep, sweep_id))
    assert listed(db) == fresh(db) and listed(db)[sweep_id]["queued"] == 2
    _fail(db, ids[2:])
    assert listed(db) == fresh(db) and listed(db)[sweep_id]["failed"] == 2

    b_ids = _create(db, [4, 8, 32], "b")  # a resubmission requeues the two shared failed points
    assert set(ids[2:]) < set(b_ids)
    assert listed(db) == fresh(db) and listed(db)[sweep_id]["queued"] == 2
    _finish(db, b_ids)
    assert listed(db) == fresh(db) and listed(db)[sweep_id]["done"] == 4

    new = sorted(set(b_ids) - set(ids))
    with db.session() as s:  # a link added to the settled sweep (as a refinement round adds them)
        repo.link_points(s, sweep_id, new)
    assert listed(db) == fresh(db) and listed(db)[sweep_id]["done"] == 5

    with db.session() as s:  # a finished point updated in place (as a copy fills in a result)
        s.execute(update(Point).where(Point.id == ids[0]).values(status="failed"))
    assert listed(db) == fresh(db) and listed(db)[sweep_id]["failed"] == 1

    with db.session() as s:  # a point deleted: its links go with it
        s.execute(delete(Point).where(Point.id == ids[1]))
    assert listed(db) == fresh(db) and sum(listed(db)[sweep_id].values()) == 4


def _migration_0013() -> ModuleType:
    path = Path(__file__).parents[1] / "backend/store/migrations/versions/0013_sweep_state_epoch.py"
    spec = importlib.util.spec_from_file_location("migration_0013", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_the_trigger_the_list_would_go_stale(db: Database) -> None:
    """The breakage the triggers prevent: drop the one for finished points, and a change of a
    settled sweep no longer shows in the list (so the test above tests the triggers)."""
    ids = _create(db, [1, 2])
    _fail(db, ids)
    sweep_id = max(listed(db))
    postgres = db.engine.dialect.name == "postgresql"
    with db.session() as s:
        s.execute(text("DROP TRIGGER finished_point_changed" + (" ON point" if postgres else "")))
    try:
        with db.session() as s:
            s.execute(update(Point).where(Point.id.in_(ids)).values(status="queued"))
        assert fresh(db)[sweep_id]["queued"] == 2
        assert listed(db)[sweep_id]["failed"] == 2  # stale: served from the cache
    finally:  # the trigger back, as 0013 creates it, for the tests that share this database
        migration = _migration_0013()
        statements = migration._PG if postgres else migration._SQLITE
        with db.session() as s:
            s.execute(text(next(st for st in statements if "CREATE TRIGGER finished_point_changed" in st)))
    with db.session() as s:
        s.execute(update(Point).where(Point.id.in_(ids)).values(status="failed"))
    assert listed(db) == fresh(db)  # and with it the list follows again


def test_racing_readers_and_writers_end_on_what_the_points_say(db: Database) -> None:
    """Readers list while a writer cycles a settled sweep's points (retry, fail; at last retry,
    finish): after the writer stops, the list is the points' state."""
    ids = _create(db, [1, 2, 4])
    _fail(db, ids)
    sweep_id = max(listed(db))
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                listed(db)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for cycle in range(9):  # settled (failed) between cycles; the last one finishes them
            with db.session() as s:
                retry_sweep(s, s.get_one(Sweep, sweep_id))
            (_finish(db, ids) if cycle == 8 else _fail(db, ids))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert listed(db) == fresh(db) and listed(db)[sweep_id]["done"] == 3  # the last cycle finished them


def test_the_downgrade_to_0012_drops_the_epoch_and_the_upgrade_brings_it_back(db: Database) -> None:
    ids = _create(db, [1, 2])
    _fail(db, ids)
    cfg = alembic_config(db.engine)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0012")
    with db.engine.connect() as conn:
        assert "state_epoch" not in {c["name"] for c in inspect(conn).get_columns("sweep")}
    with db.session() as s:  # no trigger left to bump a column that is gone
        s.execute(update(Point).where(Point.id.in_(ids)).values(status="queued"))
    upgrade(db.engine)
    assert listed(db) == fresh(db)
    with db.session() as s:
        s.execute(update(Point).where(Point.id.in_(ids)).values(status="cancelled"))
    assert listed(db) == fresh(db)
    with db.session() as s:
        s.execute(update(Point).where(Point.id.in_(ids)).values(status="failed"))
    assert listed(db) == fresh(db) and listed(db)[max(listed(db))]["failed"] == 2
