"""The points table of a sweep (GET /sweeps/{id}/table): every point with its axes, status,
regime and each metric's seed mean, stderr and n, filtered, sorted and paged in SQL, with the
total count of the filtered rows. (The id-ordered cursor listing is backend.store.points.list_points.)

Filters and sort keys are plain column expressions on point and result, so the database does the
work: on a 20,000-point sweep the sort is one pass over the sweep's rows and the page is the
first `limit` of it (docs/benchmarks.md has the figure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from backend.grid import AXES
from backend.metrics import METRIC_NAMES, json_number
from backend.store.tables import Point, result_table, sweep_point

# Sort keys besides the metrics (a metric sorts by its seed mean).
PLAIN_SORT_KEYS: tuple[str, ...] = ("id", *AXES, "status", "regime")
SORT_KEYS: tuple[str, ...] = (*PLAIN_SORT_KEYS, *METRIC_NAMES)
RANGE_KEYS: tuple[str, ...] = (*AXES, *METRIC_NAMES)  # what `where` may bound


@dataclass(frozen=True)
class Range:
    """lo <= key <= hi, either bound open (None); a metric's range applies to its seed mean."""

    key: str
    lo: float | None
    hi: float | None


@dataclass(frozen=True)
class TableQuery:
    """One request for the table, already validated (backend.api.table parses the query string)."""

    sort: str = "id"
    descending: bool = False
    statuses: Sequence[str] = ()
    regimes: Sequence[str] = ()
    ranges: Sequence[Range] = ()
    ids: Sequence[int] = ()
    metrics: Sequence[str] = field(default_factory=lambda: METRIC_NAMES)  # the metric columns returned
    offset: int = 0
    limit: int = 100


def _column(key: str) -> Any:
    """The SQL expression behind a sort or range key."""
    if key == "id":
        return Point.id
    if key in AXES or key == "status":
        return getattr(Point, key)
    if key == "regime":
        return result_table.c.regime
    return result_table.c[f"{key}_mean"]


def _filters(q: TableQuery) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if q.statuses:
        out.append(Point.status.in_(list(q.statuses)))
    if q.regimes:
        out.append(result_table.c.regime.in_(list(q.regimes)))
    if q.ids:
        out.append(sweep_point.c.point_id.in_(list(q.ids)))
    for r in q.ranges:
        col = _column(r.key)
        if r.lo is not None:
            out.append(col >= r.lo)
        if r.hi is not None:
            out.append(col <= r.hi)
    return out


def _needs(q: TableQuery, keys: Sequence[str]) -> tuple[bool, bool]:
    """Whether the filters and `keys` (sort keys) read point's columns, and result's."""
    keys = [*keys, *(r.key for r in q.ranges)]
    on_result = bool(q.regimes) or any(k == "regime" or k in METRIC_NAMES for k in keys)
    on_point = bool(q.statuses) or any(k in AXES or k == "status" for k in keys)
    return on_point, on_result


def _base(columns: Sequence[Any], sweep_id: int, q: TableQuery, point: bool, result: bool) -> Any:
    """SELECT columns FROM the sweep's points, joined to point and result only where needed: a
    join per row is most of the cost on a large sweep (sweep_point alone counts 20,000 in ~2 ms)."""
    query = select(*columns).select_from(sweep_point)
    if point:
        query = query.join(Point, Point.id == sweep_point.c.point_id)
    if result:
        query = query.outerjoin(result_table, result_table.c.point_id == sweep_point.c.point_id)
    return query.where(and_(sweep_point.c.sweep_id == sweep_id, *_filters(q)))


def point_table(session: Session, sweep_id: int, q: TableQuery) -> tuple[list[dict[str, Any]], int]:
    """One page of the sweep's filtered, sorted points and how many pass the filters.

    Points without a value for the sort key (not computed, or a null metric) come last in either
    order; ties are broken by point id, so pages never overlap. Rows: {id, alpha, D, L, M, status,
    regime, metrics: {name: {mean, stderr, n}}} with `q.metrics` only."""
    # the page's ids first, sorted over as few columns as possible, with the filtered count in the
    # same pass (a window over the rows before OFFSET/LIMIT); then the page's rows in full
    key = _column(q.sort) if q.sort != "id" else sweep_point.c.point_id
    ordered = key.desc() if q.descending else key.asc()
    ids_query = (_base([sweep_point.c.point_id, func.count().over()], sweep_id, q, *_needs(q, (q.sort,)))
                 .order_by(key.is_(None), ordered, sweep_point.c.point_id).offset(q.offset).limit(q.limit))
    found = session.execute(ids_query).all()
    if not found:  # past the end, or nothing passes: the count on its own
        return [], session.execute(_base([func.count()], sweep_id, q, *_needs(q, ()))).scalar_one()
    ids, total = [row[0] for row in found], found[0][1]
    stats = [result_table.c[f"{m}_{part}"] for m in q.metrics for part in ("mean", "stderr", "n")]
    query = (select(Point.id, Point.alpha, Point.D, Point.L, Point.M, Point.status, result_table.c.regime, *stats)
             .outerjoin(result_table, result_table.c.point_id == Point.id).where(Point.id.in_(ids)))
    rows = {row[0]: row for row in session.execute(query)}
    items = []
    for row in (rows[i] for i in ids):
        values = row[7:]
        metrics = {m: {"mean": json_number(values[3 * k]), "stderr": json_number(values[3 * k + 1]),
                       "n": values[3 * k + 2] or 0} for k, m in enumerate(q.metrics)}
        items.append({"id": row[0], "alpha": row[1], "D": row[2], "L": row[3], "M": row[4], "status": row[5],
                      "regime": row[6], "metrics": metrics})
    return items, total
