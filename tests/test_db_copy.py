"""`resphase db copy` between real stores: a SQLite store filled by the real worker path (claim,
compute with the engine, record; references through the database), copied to PostgreSQL and back.
Compared table by table by content (ids differ between stores)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from sqlalchemy import select

from backend.grid import SweepSpec, expand, expanded_axes
from backend.queue import TaskQueue
from backend.settings import Limits, Settings
from backend.store import Database
from backend.store import sweeps as repo
from backend.store.copy import copy_store
from backend.store.sweep_notes import set_note, tags_of
from backend.store.tables import Point, Reference, Refinement, Sweep, result_table, sweep_point
from tests.conftest import REPO, truncate
from worker.runner import WorkerContext, run_batch

SETTINGS = {"seeds": 2, "steps": 2, "n_samples": 4, "reference": {"L": 4, "M": 4, "seeds": 2}}


def _spec(name: str, alpha: list[float], refine: list[dict[str, Any]] | None = None) -> SweepSpec:
    return SweepSpec.model_validate({"name": name, "grid": {"alpha": alpha, "D": [4], "L": [2], "M": [4]},
                                     "settings": SETTINGS, "refine": refine, "tags": [f"tag-{name}", "shared"]})


# sweep "b" refines two boundaries: its refinement rows travel with it
REFINE_B = [{"metric": "feature_update", "threshold": 0.25, "tol": 0.1, "max_points": 6},
            {"metric": "init_deviation", "threshold": "init_deviation_max", "tol": 0.2, "max_points": 4}]


@pytest.fixture
def source(tmp_path: Path) -> Database:
    """Two sweeps sharing alpha=2; sweep "a" computed (2 results, 2 references), sweep "b"'s own
    point alpha=4 left queued, so the copy meets both finished and unfinished points."""
    settings = Settings(data_dir=tmp_path / "src", database_url="")
    db = Database.connect(settings.resolved_database_url)
    created = []
    for spec in (_spec("a", [1, 2]), _spec("b", [2, 4], REFINE_B)):
        with db.session() as s:
            created.append(repo.create_sweep(s, spec, expand(spec, Limits()), expanded_axes(spec.grid, Limits())))
    with db.session() as s:  # a note (tags and note travel with the sweep)
        set_note(s, s.get(Sweep, created[0].sweep_id), "the computed one")  # type: ignore[arg-type]
    ctx = WorkerContext(settings, db, TaskQueue(settings), torch.device("cpu"))
    for batch in created[0].batches:
        assert run_batch(ctx, batch)["recorded"] == len(batch)
    return db


def snapshot(db: Database) -> dict[str, Any]:
    """The store's content without ids: sweeps by identity with their point hashes, points by
    hash (status), results by point hash, reference keys."""
    with db.read_session() as s:
        hash_of = {pid: h for pid, h in s.execute(select(Point.id, Point.content_hash))}
        sweeps = {}
        all_sweeps = list(s.scalars(select(Sweep)))
        tags = tags_of(s, [sw.id for sw in all_sweeps])
        for sw in all_sweeps:
            links = s.scalars(select(sweep_point.c.point_id).where(sweep_point.c.sweep_id == sw.id))
            refinements = [(r.idx, r.metric, r.threshold, r.threshold_name, r.tol, r.max_points, r.rounds,
                            r.points_added, r.state, repr(r.lines)) for r in s.scalars(
                select(Refinement).where(Refinement.sweep_id == sw.id).order_by(Refinement.idx))]
            sweeps[(sw.name, sw.created_at, repr(sw.spec))] = (sw.n_points, sorted(hash_of[p] for p in links),
                                                               refinements, tags[sw.id], sw.note)
        points = {p.content_hash: (p.status, p.alpha, p.D, p.L, p.M, p.settings) for p in s.scalars(select(Point))}
        results = {hash_of[r["point_id"]]: {k: v for k, v in r.items() if k != "point_id"}
                   for r in s.execute(select(result_table)).mappings()}
        refs = {r.key: (r.alpha, r.D, r.n_seeds, r.data) for r in s.scalars(select(Reference))}
    return {"sweeps": sweeps, "points": points, "results": results, "references": refs}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "backend.cli", "db", "copy", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.postgres
def test_sqlite_to_postgres_and_back_keeps_everything_and_a_second_copy_adds_nothing(
        source: Database, postgres_url: str, tmp_path: Path) -> None:
    pg = Database.connect(postgres_url)
    truncate(pg)
    before = snapshot(source)
    assert len(before["results"]) == 2 and len(before["references"]) == 2 and len(before["points"]) == 3
    assert sorted(len(v[2]) for v in before["sweeps"].values()) == [0, 2]  # b's two refinements
    report = copy_store(source, pg)
    assert (report.sweeps_added, report.points_added, report.results_added, report.links_added,
            report.references_added) == (2, 3, 2, 4, 2)
    on_pg = snapshot(pg)
    assert on_pg == before
    again = copy_store(source, pg)
    assert not again.added_anything and again.points_present == 3 and again.sweeps_present == 2
    assert snapshot(pg) == before
    # and back, through the command, into a data directory (its SQLite file), twice
    back_dir = tmp_path / "back"
    first = _cli(postgres_url, str(back_dir), "--no-progress")
    assert first.returncode == 0, first.stderr
    assert "copied 2 sweeps" in first.stdout and "3 points" in first.stdout
    second = _cli(postgres_url, str(back_dir))
    assert second.returncode == 0 and "copied 0 sweeps (2 already there), 0 points" in second.stdout
    back = Database.connect(Settings(data_dir=back_dir, database_url="").resolved_database_url, migrate=False)
    assert snapshot(back) == before
    back.dispose()
    pg.dispose()


def test_one_sweep_copies_only_its_points_results_and_references(source: Database, tmp_path: Path) -> None:
    with source.read_session() as s:
        b = s.scalar(select(Sweep.id).where(Sweep.name == "b"))
    dst = Database.connect(f"sqlite:///{tmp_path / 'one.sqlite3'}")
    report = copy_store(source, dst, sweep_id=b)
    got, full = snapshot(dst), snapshot(source)
    assert [k[0] for k in got["sweeps"]] == ["b"]
    assert set(got["points"]) == set(full["sweeps"][next(k for k in full["sweeps"] if k[0] == "b")][1])
    assert len(got["results"]) == 1 and report.results_added == 1  # alpha=2 was computed, alpha=4 was not
    assert {v[0] for v in got["references"].values()} == {2.0}  # sweep a's alpha=1 reference stays behind
    queued = [p for p in got["points"].values() if p[0] == "queued"]
    assert [p[1] for p in queued] == [4.0]
    with dst.read_session() as s:  # queued points arrive never sent, so the destination's reaper sends them
        assert s.scalar(select(Point.dispatched_at).where(Point.status == "queued")) is None
    dst.dispose()


def test_unknown_sweep_and_missing_source_are_one_line_errors(source: Database, tmp_path: Path) -> None:
    bad = _cli(source.url, str(tmp_path / "dst"), "--sweep", "999")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "resphase db copy: error: sweep 999 not found in the source store"
    missing = _cli(str(tmp_path / "nowhere"), str(tmp_path / "dst"))
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1, missing.stderr
