"""The store on SQLite and PostgreSQL: migrations, sweep creation with reuse, the lease protocol."""

from __future__ import annotations

import json
import time

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from backend.cost import estimate_seconds
from backend.grid import RefineSpec, RunSettings, SweepSpec, expand, expanded_axes
from backend.results import PointOutcome, Provenance, SeedRun
from backend.settings import Limits
from backend.store import Database
from backend.store import sweeps as repo
from backend.store.engine import alembic_config
from backend.store.points import claim, heartbeat, point_detail, point_spec, reap, record, release
from backend.store.sweep_lifecycle import cancel_sweep
from backend.store.sweep_reads import status_counts
from backend.store.tables import Base, Point, Refinement, Sweep, result_table

LIMITS = Limits()


def _spec(**grid: object) -> SweepSpec:
    full = {"alpha": [1, 2], "D": [8], "L": [4], "M": [4, 8], **grid}
    return SweepSpec.model_validate({"name": "t", "grid": full, "settings": {"seeds": 2, "steps": 2}})


def _create(db: Database, spec: SweepSpec) -> repo.CreatedSweep:
    with db.session() as s:
        return repo.create_sweep(s, spec, expand(spec, LIMITS), expanded_axes(spec.grid, LIMITS))


def _outcome(db: Database, point_id: int) -> PointOutcome:
    with db.read_session() as s:
        spec = point_spec(s.get(Point, point_id))  # type: ignore[arg-type]
    seeds = [SeedRun(i, {"feature_update": 0.5 + i, "init_deviation": 0.1}, [1.0, 0.5], None) for i in range(2)]
    return PointOutcome(spec, seeds, 0.01, Provenance("0", "t", "cpu", "float32", "h", "native"))


def down_and_up(db: Database, revision: str) -> None:
    """Downgrade the store to `revision`, then upgrade it to head again (each in a transaction)."""
    cfg = alembic_config(db.engine)
    for step, target in ((command.downgrade, revision), (command.upgrade, "head")):
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, target)


def test_migrations_match_the_tables(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    Database.connect(db.url).dispose()  # upgrading again is a no-op


def test_create_groups_points_by_shape_and_reuses_by_hash(db: Database) -> None:
    first = _create(db, _spec())
    assert first.n_points == 4 and first.n_reused == 0
    assert sorted(len(b) for b in first.batches) == [2, 2]  # one batch per (D, L, M), alphas together
    ids = [i for b in first.batches for i in b]
    with db.session() as s:
        claim(s, ids, "w", "h", "cpu", 60, 3)
    with db.session() as s:
        record(s, [(i, _outcome(db, i)) for i in ids[:2]], "w")
    second = _create(db, _spec(alpha=[1, 2, 4]))
    assert second.n_points == 6 and second.n_reused == 2
    # only the two new points are queued again; the two running ones are shared, not re-sent
    assert sum(len(b) for b in second.batches) == 2
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Point)) == 6


def test_claim_is_exclusive_and_record_needs_the_lease(db: Database) -> None:
    ids = [i for b in _create(db, _spec()).batches for i in b]
    with db.session() as s:
        mine = claim(s, ids, "a", "h", "cpu", 60, 3)
    with db.session() as s:
        theirs = claim(s, ids, "b", "h", "cpu", 60, 3)
    assert len(mine) == 4 and theirs == []
    with db.session() as s:
        assert record(s, [(ids[0], _outcome(db, ids[0]))], "b") == []  # no lease, no result
        assert heartbeat(s, ids, "a") == set(ids)
        assert record(s, [(ids[0], _outcome(db, ids[0]))], "a") == [ids[0]]
        assert record(s, [(ids[0], _outcome(db, ids[0]))], "a") == []  # exactly one result
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(result_table)) == 1
        assert s.get(Point, ids[0]).status == "done"  # type: ignore[union-attr]


def test_reaper_requeues_stale_points_then_fails_them(db: Database) -> None:
    ids = [i for b in _create(db, _spec()).batches for i in b][:1]
    for attempt in (1, 2, 3):
        with db.session() as s:
            assert [p.id for p in claim(s, ids, f"w{attempt}", "h", "cpu", 0.2, 3)] == ids
        time.sleep(0.3)
        with db.session() as s:
            batches = reap(s, 0.2, 3)
        expected = [ids] if attempt < 3 else []
        assert batches == expected
    with db.read_session() as s:
        point = s.get(Point, ids[0])
        assert point is not None and point.status == "failed" and point.attempts == 3
        assert "lease expired" in (point.error or "")


def test_stale_lease_can_be_claimed_by_another_worker(db: Database) -> None:
    ids = [i for b in _create(db, _spec()).batches for i in b][:2]
    with db.session() as s:
        claim(s, ids, "dead", "h", "cpu", 0.2, 3)
    time.sleep(0.3)
    with db.session() as s:
        taken = claim(s, ids, "alive", "h", "cpu", 0.2, 3)
    assert [p.attempts for p in taken] == [2, 2]
    with db.session() as s:  # the dead worker's late write is refused
        assert record(s, [(ids[0], _outcome(db, ids[0]))], "dead") == []


def test_release_requeues_until_attempts_run_out(db: Database) -> None:
    ids = [i for b in _create(db, _spec()).batches for i in b][:1]
    with db.session() as s:
        claim(s, ids, "w", "h", "cpu", 60, 2)
        assert release(s, ids, "w", "boom", 2) == [ids]
        claim(s, ids, "w", "h", "cpu", 60, 2)
        assert release(s, ids, "w", "boom again", 2) == []
    with db.read_session() as s:
        point = s.get(Point, ids[0])
        assert point is not None and point.status == "failed" and point.error == "boom again"


def test_cancel_leaves_points_another_live_sweep_uses(db: Database) -> None:
    a = _create(db, _spec())
    _create(db, _spec(alpha=[1]))  # shares alpha = 1 points with the first
    with db.session() as s:
        sweep = s.get(Sweep, a.sweep_id)
        assert sweep is not None
        assert cancel_sweep(s, sweep) == 2
    with db.read_session() as s:
        counts = status_counts(s, a.sweep_id)
    assert counts["cancelled"] == 2 and counts["queued"] == 2


def test_a_point_document_read_back_is_the_outcome_s_to_json(db: Database) -> None:
    """The worker's outcome, recorded and read back by GET /points/{id}'s read model, is the object
    `resphase run --json` prints: one serializer, non-finite values as null, a diverged seed left
    out of the means and of the mean loss curve."""
    ids = [i for b in _create(db, _spec()).batches for i in b][:1]
    with db.session() as s:
        claim(s, ids, "w", "h", "cpu", 60, 3)
    outcome = _outcome(db, ids[0])
    nan = float("nan")
    outcome.seeds.append(SeedRun(7, {"feature_update": nan, "init_deviation": 0.3}, [2.0, nan], 1))
    outcome.seeds[0].metrics["loss_final"] = float("inf")
    with db.session() as s:
        assert record(s, [(ids[0], outcome)], "w") == ids
    expected = outcome.to_json()
    json.dumps(expected, allow_nan=False)  # the one JSON number rule: no NaN or inf left
    assert expected["status"] == "diverged" and expected["curves"]["loss"] == [1.0, 0.5]
    assert expected["metrics"]["feature_update"]["values"] == [0.5, 1.5, None]
    with db.read_session() as s:
        detail = point_detail(s, ids[0])
    assert detail is not None
    assert {k: detail[k] for k in expected} == expected
    assert detail["id"] == ids[0] and detail["attempts"] == 1 and detail["finished_at"].endswith("Z")


def test_results_stored_before_0014_read_back_with_no_engine(db: Database) -> None:
    """Migration 0014 adds the result's engine; a result stored before it says "" (not recorded),
    one stored after it the engine that trained it."""
    ids = sorted(i for b in _create(db, _spec()).batches for i in b)[:2]
    with db.session() as s:
        claim(s, ids, "w", "h", "cpu", 60, 3)
        assert record(s, [(ids[0], _outcome(db, ids[0]))], "w") == [ids[0]]
    down_and_up(db, "0013")
    with db.session() as s:
        assert record(s, [(ids[1], _outcome(db, ids[1]))], "w") == [ids[1]]
    with db.read_session() as s:
        before, after = point_detail(s, ids[0]), point_detail(s, ids[1])
    assert before is not None and after is not None
    assert before["provenance"]["engine"] == "" and before["provenance"]["host"] == "h"
    assert after["provenance"]["engine"] == "native"


def test_the_upgrade_to_0005_computes_the_estimate_of_sweeps_stored_before(db: Database) -> None:
    created = _create(db, _spec())
    down_and_up(db, "0004")
    with db.read_session() as s:
        sweep = s.get(Sweep, created.sweep_id)
        assert sweep is not None
        expected = estimate_seconds(sweep.axes, RunSettings.model_validate(sweep.settings))
    assert expected > 0 and sweep.estimated_s == pytest.approx(expected)


def test_the_upgrade_to_0007_keys_refinements_by_sweep_and_index(db: Database) -> None:
    """A refinement stored before 0007 (one per sweep) becomes idx 0 of its sweep; after it a sweep
    holds several. Down to 0006 and up again, on SQLite and PostgreSQL."""
    one = {"metric": "feature_update", "threshold": 0.25, "tol": 0.1, "max_points": 5}
    created = _create(db, _spec().model_copy(update={"refine": RefineSpec.model_validate(one)}))
    down_and_up(db, "0006")
    with db.read_session() as s:
        rows = s.execute(select(Refinement.sweep_id, Refinement.idx, Refinement.metric)).all()
    assert [tuple(r) for r in rows] == [(created.sweep_id, 0, "feature_update")]
    two = [one, {**one, "metric": "init_deviation", "threshold": 0.5}]
    both = _create(db, _spec().model_copy(update={"refine": [RefineSpec.model_validate(r) for r in two]}))
    with db.read_session() as s:
        pairs = s.execute(select(Refinement.idx, Refinement.metric).where(
            Refinement.sweep_id == both.sweep_id).order_by(Refinement.idx)).all()
    assert [tuple(r) for r in pairs] == [(0, "feature_update"), (1, "init_deviation")]


def test_the_upgrade_to_0010_fills_the_seed_order_stats_of_results_stored_before(db: Database) -> None:
    created = _create(db, _spec())
    ids = sorted(i for b in created.batches for i in b)
    with db.session() as s:
        claim(s, ids[:1], "w", "h", "cpu", 60, 3)
    with db.session() as s:
        record(s, [(ids[0], _outcome(db, ids[0]))], "w")
    down_and_up(db, "0009")
    with db.read_session() as s:
        row = s.execute(select(result_table).where(result_table.c.point_id == ids[0])).mappings().one()
    # seeds 0.5 and 1.5 (see _outcome); init_deviation 0.1 twice; loss_init never measured
    assert (row["feature_update_median"], row["feature_update_min"], row["feature_update_max"]) == (1.0, 0.5, 1.5)
    assert row["init_deviation_median"] == pytest.approx(0.1)
    assert row["loss_init_median"] is None and row["loss_init_max"] is None


def test_the_upgrade_to_0012_starts_every_point_at_revision_0(db: Database) -> None:
    """Points stored before 0012 get revision 0; the bumps go on from there after it."""
    created = _create(db, _spec())
    ids = sorted(i for b in created.batches for i in b)
    with db.session() as s:
        claim(s, ids[:1], "w", "h", "cpu", 60, 3)
    down_and_up(db, "0011")
    with db.read_session() as s:
        assert set(s.scalars(select(Point.revision))) == {0}
    with db.session() as s:
        record(s, [(ids[0], _outcome(db, ids[0]))], "w")
    with db.read_session() as s:
        assert s.scalar(select(Point.revision).where(Point.id == ids[0])) == 1
