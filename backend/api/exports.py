"""Exports: one row per point and seed, as CSV (streamed), JSON or Parquet."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse

from backend.api.deps import DbDep, sweep_or_404
from backend.api.errors import responses
from backend.store.slices import export_rows

router = APIRouter(tags=["exports"], responses=responses(401, 404, 422, 503))

_ROWS: dict[str, Any] = {"type": "array", "items": {"type": "object", "additionalProperties": True}}
_EXPORT_200: dict[int | str, dict[str, Any]] = {200: {
    "description": "One row per point and seed, as an attachment (Content-Disposition: resphase-sweep-ID.FORMAT)",
    "content": {"text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": _ROWS},
                "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}}}}}


def _csv_lines(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    buf = io.StringIO()
    writer: csv.DictWriter[str] | None = None
    for row in rows:
        if writer is None:
            writer = csv.DictWriter(buf, fieldnames=list(row), lineterminator="\n")
            writer.writeheader()
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
        if buf.tell() > 64 * 1024:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


@router.get("/sweeps/{sweep_id}/export", response_class=Response, responses=_EXPORT_200)
def export_sweep(sweep_id: int, db: DbDep, format: Literal["csv", "json", "parquet"] = "csv") -> Response:
    with db.read_session() as s:
        sweep_or_404(s, sweep_id)
    name = f"resphase-sweep-{sweep_id}"

    def rows() -> Iterator[dict[str, Any]]:
        with db.read_session() as s:
            yield from export_rows(s, sweep_id)

    if format == "csv":
        return StreamingResponse(_csv_lines(rows()), media_type="text/csv",
                                 headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    data = list(rows())
    if format == "json":
        return Response(json.dumps(data, allow_nan=False), media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{name}.json"'})
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(data), buf)
    return Response(buf.getvalue(), media_type="application/vnd.apache.parquet",
                    headers={"Content-Disposition": f'attachment; filename="{name}.parquet"'})
