"""The points table of a sweep: every point's axes, status, regime and metrics (mean +- stderr),
filtered, sorted and paged on the server (backend.store.point_table)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, NoReturn

from fastapi import APIRouter, HTTPException, Query, Request

from backend.api.answer_cache import AnswerCacheDep, cached_answer
from backend.api.deps import MAX_ID, ReadSession, sweep_or_404
from backend.api.errors import responses
from backend.api.table_schemas import TablePagePublic
from backend.metrics import METRIC_NAMES, REGIMES
from backend.store.point_table import RANGE_KEYS, SORT_KEYS, Range, TableQuery, point_table
from backend.store.sweep_version import sweep_version
from backend.store.tables import STATUSES

router = APIRouter(tags=["points"], responses=responses(401, 404, 422, 503))

MAX_IDS = 1000  # point ids one request may name (`ids`): a selection, not a sweep
MAX_LIMIT = 5000  # rows per page (parallel coordinates read a sweep in pages of this size)


def _bad(param: str, msg: str, value: str) -> NoReturn:
    """422 in the shape of a schema error, at the query parameter (backend.api.errors)."""
    raise HTTPException(422, [{"loc": ["query", param], "msg": msg, "type": "value_error", "input": value}])


def _names(param: str, text: str | None, allowed: Sequence[str]) -> list[str]:
    """'done,diverged' -> ['done', 'diverged'], each one of `allowed`."""
    out = [p.strip() for p in (text or "").split(",") if p.strip()]
    for name in out:
        if name not in allowed:
            _bad(param, f"unknown {param} {name!r}; one of {', '.join(allowed)}", name)
    return out


def _bound(part: str, text: str) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        _bad("where", f"{text!r} is not a number (in {part!r})", part)
    if not math.isfinite(value):
        _bad("where", f"{text!r} is not a finite number (in {part!r})", part)
    return value


def parse_where(text: str | None) -> list[Range]:
    """'feature_update:0.1:1,err_out::0.5' -> ranges (an empty bound is open); 422 naming the part."""
    out = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        pieces = part.split(":")
        if len(pieces) != 3:
            _bad("where", f"{part!r} is not KEY:LO:HI (a bound may be empty)", part)
        key, lo, hi = pieces
        if key not in RANGE_KEYS:
            _bad("where", f"unknown key {key!r}; one of {', '.join(RANGE_KEYS)}", part)
        r = Range(key, _bound(part, lo), _bound(part, hi))
        if r.lo is None and r.hi is None:
            _bad("where", f"{part!r} bounds nothing", part)
        out.append(r)
    return out


def parse_ids(text: str | None) -> list[int]:
    parts = [p.strip() for p in (text or "").split(",") if p.strip()]
    if len(parts) > MAX_IDS:
        _bad("ids", f"at most {MAX_IDS} ids", f"{len(parts)} ids")
    try:
        ids = [int(p) for p in parts]
    except ValueError:
        _bad("ids", "ids are comma-separated integers", text or "")
    return [i for i in ids if 1 <= i <= MAX_ID]  # others name no point (they match nothing)


@router.get("/sweeps/{sweep_id}/table", response_model=TablePagePublic)
def sweep_table(request: Request, sweep_id: int, session: ReadSession, cache: AnswerCacheDep,
                sort: str = Query("id", max_length=100, description="id, alpha, D, L, M, status, regime or a "
                                                                    "metric (by its seed mean)"),
                order: Literal["asc", "desc"] = "asc",
                status: str | None = Query(None, max_length=200, description="statuses to keep, e.g. done,diverged"),
                regime: str | None = Query(None, max_length=300, description="regimes to keep, e.g. lazy"),
                where: str | None = Query(None, max_length=2000,
                                          description="ranges KEY:LO:HI on axes or metric means, comma-separated, "
                                                      "either bound may be empty: feature_update:0.1:1,L::16"),
                ids: str | None = Query(None, max_length=12 * MAX_IDS, description="only these point ids"),
                metrics: str | None = Query(None, max_length=1000,
                                            description="metric columns to return (default: all)"),
                offset: int = Query(0, ge=0, le=MAX_ID), limit: int = Query(100, ge=1, le=MAX_LIMIT),
                ) -> Any:
    """One page of the sweep's points, filtered (all filters must hold) and sorted; `total` counts
    the filtered points. A filter on regime or a metric keeps only computed points."""
    if sort not in SORT_KEYS:
        _bad("sort", f"unknown sort key {sort!r}; one of {', '.join(SORT_KEYS)}", sort)
    q = TableQuery(sort=sort, descending=order == "desc", statuses=_names("status", status, STATUSES),
                   regimes=_names("regime", regime, REGIMES), ranges=parse_where(where), ids=parse_ids(ids),
                   metrics=_names("metrics", metrics, METRIC_NAMES) or METRIC_NAMES, offset=offset, limit=limit)
    sweep = sweep_or_404(session, sweep_id)
    if ids is not None and ids.strip() and not q.ids:
        return {"total": 0, "offset": offset, "limit": limit, "sort": sort, "order": order, "items": []}

    def compute() -> dict[str, Any]:
        items, total = point_table(session, sweep_id, q)
        return {"total": total, "offset": offset, "limit": limit, "sort": sort, "order": order, "items": items}

    key = ("table", sweep_id, q.sort, q.descending, tuple(q.statuses), tuple(q.regimes), tuple(q.ranges),
           tuple(q.ids), tuple(q.metrics), q.offset, q.limit)
    return cached_answer(request, cache, lambda: (*key, sweep_version(session, sweep)), compute, TablePagePublic)
