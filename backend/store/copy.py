"""Copy sweeps (with their refinements), points, their links, results and references from one
store to another (SQLite <-> PostgreSQL), idempotently: a second copy adds nothing.

Identities (ids differ between stores, so nothing is matched by id):
  point      its content hash (unique in every store)
  reference  its key (a content hash)
  sweep      (name, created_at, digest of the submitted spec): the same submission, not merely
             the same grid (two submissions of one spec are two sweeps in both stores)
  result     its point: written with the point, or onto a destination point that has none

Point states: a point finished with a result (done, diverged) is copied with its result;
failed and cancelled points are copied as they are (no result; `retry` on the destination
queues them); queued and running points are copied as queued, never sent, attempts 0, so the
destination's reaper sends them to its workers. A destination point that already has a result
keeps it. Tokens and worker records are not copied: they belong to a deployment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.orm import Session

from backend.grid import digest
from backend.store.engine import Database
from backend.store.sweep_notes import set_tags, tags_of
from backend.store.sweeps import chunks, link_points
from backend.store.tables import Point, Reference, Refinement, Sweep, bump, result_table, sweep_point

FINISHED_WITH_RESULT = ("done", "diverged")
_POINT_COLUMNS = [c.name for c in Point.__table__.columns if c.name != "id"]
_SWEEP_COLUMNS = [c.name for c in Sweep.__table__.columns if c.name != "id"]
_RESULT_COLUMNS = [c.name for c in result_table.columns if c.name != "point_id"]
_REFERENCE_COLUMNS = [c.name for c in Reference.__table__.columns]
_REFINEMENT_COLUMNS = [c.name for c in Refinement.__table__.columns if c.name != "sweep_id"]


@dataclass
class CopyReport:
    """What one copy added to the destination (and what it found there already)."""

    sweeps_added: int = 0
    sweeps_present: int = 0
    points_added: int = 0
    points_present: int = 0
    results_added: int = 0
    links_added: int = 0
    references_added: int = 0
    references_present: int = 0

    @property
    def added_anything(self) -> bool:
        return any((self.sweeps_added, self.points_added, self.results_added, self.links_added,
                    self.references_added))


Progress = Callable[[int], None]  # called with the number of items just handled


def sweep_identity(name: str, created_at: Any, spec: dict[str, Any]) -> tuple[str, str, str]:
    return name, str(created_at), digest(spec)


def plan(src: Database, sweep_id: int | None) -> tuple[list[int], list[int], list[tuple[float, int]] | None]:
    """Source sweep ids, point ids and, for one sweep, the (alpha, D) pairs whose references it
    uses (None: every reference). LookupError for an unknown sweep."""
    with src.read_session() as s:
        if sweep_id is None:
            return list(s.scalars(select(Sweep.id).order_by(Sweep.id))), \
                list(s.scalars(select(Point.id).order_by(Point.id))), None
        if s.get(Sweep, sweep_id) is None:
            raise LookupError(f"sweep {sweep_id} not found in the source store")
        ids = list(s.scalars(select(sweep_point.c.point_id).where(sweep_point.c.sweep_id == sweep_id)
                             .order_by(sweep_point.c.point_id)))
        pairs = sorted({(a, d) for a, d in s.execute(select(Point.alpha, Point.D).where(Point.id.in_(ids)))}) \
            if ids else []
        return [sweep_id], ids, pairs


def _copied_point(row: dict[str, Any], has_result: bool) -> dict[str, Any]:
    """A source point row as the destination stores it (see the module doc for the states)."""
    out = {k: row[k] for k in _POINT_COLUMNS}
    out.update(lease_owner=None, heartbeat_at=None, dispatched_at=None)
    if row["status"] in FINISHED_WITH_RESULT and not has_result:
        out["status"] = "queued"  # a finished status without its result cannot be shown: compute again
    if out["status"] in ("queued", "running"):
        out.update(status="queued", attempts=0, started_at=None, finished_at=None, worker_host=None,
                   device=None, error=None)
    return out


def _insert_points(dst_s: Session, new: list[dict[str, Any]], results: dict[int, Any], report: CopyReport
                   ) -> dict[str, int]:
    """One multi-row INSERT of the points the destination lacks; their new ids by content hash
    (read back by hash: the order of a multi-row RETURNING is not guaranteed)."""
    if not new:
        return {}
    dst_s.execute(insert(Point), [_copied_point(r, r["id"] in results) for r in new])
    report.points_added += len(new)
    hashes = [r["content_hash"] for r in new]
    query = select(Point.content_hash, Point.id).where(Point.content_hash.in_(hashes))
    return {h: pid for h, pid in dst_s.execute(query)}


def _copy_points(src_s: Session, dst_s: Session, ids: Sequence[int], report: CopyReport) -> dict[int, int]:
    """Points (and their results) of one chunk of source ids; returns source id -> destination id."""
    rows = [dict(r) for r in src_s.execute(select(Point.__table__).where(Point.id.in_(ids))).mappings()]
    results = {r["point_id"]: dict(r) for r in
               src_s.execute(select(result_table).where(result_table.c.point_id.in_(ids))).mappings()}
    hashes = [r["content_hash"] for r in rows]
    present = {h: (pid, status) for h, pid, status in dst_s.execute(
        select(Point.content_hash, Point.id, Point.status).where(Point.content_hash.in_(hashes)))}
    with_result = set(dst_s.scalars(select(result_table.c.point_id).where(
        result_table.c.point_id.in_([pid for pid, _ in present.values()])))) if present else set()
    ids_by_hash = _insert_points(dst_s, [r for r in rows if r["content_hash"] not in present], results, report)
    mapping: dict[int, int] = {}
    new_results: list[dict[str, Any]] = []
    for row in rows:
        res = results.get(row["id"])
        if row["content_hash"] in present:
            report.points_present += 1
            dst_id = present[row["content_hash"]][0]
            if res is not None and dst_id not in with_result:  # fill in a result the destination lacks
                dst_s.execute(update(Point).where(Point.id == dst_id).values(
                    status=row["status"], finished_at=row["finished_at"], lease_owner=None, error=None, **bump()))
            elif res is not None:
                res = None  # the destination's own result stays
        else:
            dst_id = ids_by_hash[row["content_hash"]]
        if res is not None:
            new_results.append({**{k: res[k] for k in _RESULT_COLUMNS}, "point_id": dst_id})
        mapping[row["id"]] = dst_id
    if new_results:
        dst_s.execute(result_table.insert(), new_results)
        report.results_added += len(new_results)
    return mapping


def _copy_sweep(src_s: Session, dst_s: Session, sweep_id: int, mapping: dict[int, int], report: CopyReport) -> None:
    """The sweep (found by identity, else inserted) and its links to the already copied points."""
    row = dict(src_s.execute(select(Sweep.__table__).where(Sweep.id == sweep_id)).mappings().one())
    ident = sweep_identity(row["name"], row["created_at"], row["spec"])
    candidates = dst_s.execute(select(Sweep.id, Sweep.name, Sweep.created_at, Sweep.spec).where(
        Sweep.name == row["name"], Sweep.created_at == row["created_at"])).all()
    found = [c.id for c in candidates if sweep_identity(c.name, c.created_at, c.spec) == ident]
    if found:
        dst_id = found[0]
        report.sweeps_present += 1
    else:
        dst_id = dst_s.scalars(insert(Sweep).values({k: row[k] for k in _SWEEP_COLUMNS})
                               .returning(Sweep.id)).one()
        set_tags(dst_s, dst_id, tags_of(src_s, [sweep_id])[sweep_id])  # the note is a column, copied above
        report.sweeps_added += 1
        # its refinements as they stand (rounds, points added, state, lines): an active one goes
        # on refining on the destination once the copied queued points are computed there
        for ref in src_s.execute(select(Refinement.__table__).where(Refinement.sweep_id == sweep_id)).mappings():
            dst_s.execute(insert(Refinement).values({**{k: ref[k] for k in _REFINEMENT_COLUMNS}, "sweep_id": dst_id}))
    src_points = list(src_s.scalars(select(sweep_point.c.point_id).where(sweep_point.c.sweep_id == sweep_id)))
    have = set(dst_s.scalars(select(sweep_point.c.point_id).where(sweep_point.c.sweep_id == dst_id)))
    links = [mapping[p] for p in src_points if mapping[p] not in have]
    for part in chunks(links):
        link_points(dst_s, dst_id, part)
    report.links_added += len(links)


def _copy_references(src: Database, dst: Database, pairs: list[tuple[float, int]] | None,
                     report: CopyReport, progress: Progress) -> None:
    """References by key, one at a time (each is a blob of up to a few MB)."""
    with src.read_session() as s:
        query = select(Reference.key)
        if pairs is not None:
            if not pairs:
                return
            query = query.where(tuple_(Reference.alpha, Reference.D).in_(pairs))
        keys = list(s.scalars(query.order_by(Reference.key)))
    for key in keys:
        with src.read_session() as s, dst.session() as d:
            if d.get(Reference, key) is not None:
                report.references_present += 1
            else:
                row = s.execute(select(Reference.__table__).where(Reference.key == key)).mappings().one()
                d.execute(insert(Reference).values({k: row[k] for k in _REFERENCE_COLUMNS}))
                report.references_added += 1
        progress(1)


def work_size(src: Database, sweep_id: int | None) -> int:
    """Items a copy handles (points + sweeps + references at most): the progress bar's total."""
    sweeps, points, pairs = plan(src, sweep_id)
    with src.read_session() as s:
        refs = s.query(Reference).count() if pairs is None else (s.query(Reference).filter(
            tuple_(Reference.alpha, Reference.D).in_(pairs)).count() if pairs else 0)
    return len(sweeps) + len(points) + refs


def copy_store(src: Database, dst: Database, sweep_id: int | None = None,
               progress: Progress | None = None) -> CopyReport:
    """Copy everything (or one sweep and what it uses) from `src` into `dst`. `dst` must be
    migrated (Database.connect migrates by default). Each chunk of points is one transaction on
    the destination, so an interrupted copy leaves whole chunks, and running it again completes it."""
    tick: Progress = progress or (lambda _n: None)
    report = CopyReport()
    sweeps, point_ids, pairs = plan(src, sweep_id)
    mapping: dict[int, int] = {}
    for part in chunks(point_ids):
        with src.read_session() as s, dst.session() as d:
            mapping.update(_copy_points(s, d, part, report))
        tick(len(part))
    for sid in sweeps:
        with src.read_session() as s, dst.session() as d:
            _copy_sweep(s, d, sid, mapping, report)
        tick(1)
    _copy_references(src, dst, pairs, report, tick)
    return report


__all__ = ["CopyReport", "copy_store", "plan", "work_size"]

