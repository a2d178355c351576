"""Exports: one row per point and seed, as CSV (streamed), JSON or Parquet."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from backend.api.deps import DbDep, sweep_or_404
from backend.api.errors import responses
from backend.store.slices import export_rows

router = APIRouter(tags=["exports"], responses=responses(401, 404, 422, 503))



class ExportRowPublic(BaseModel):
    """One row of an export: a point and one of its seeds (one row with null seed fields for a
    point not computed yet). After the fields below come every run setting (the reference's as
    ref_L, ref_M, ref_seeds) and every metric of GET /meta (null where undefined)."""

    model_config = ConfigDict(extra="allow")

    sweep_id: int
    point_id: int
    content_hash: str
    alpha: float
    D: int
    L: int
    M: int
    status: str = Field(description="The point's status")
    point_regime: str | None = Field(description="The regime of the point's seed means")
    unit_seed: int | None = Field(description="The seed of this row; null for a point not computed")
    seed_regime: str | None = Field(description="The regime of this seed alone")
    diverged_at_step: int | None = Field(description="The step this seed diverged at, or null")


# The JSON variant's schema comes from `model`; CSV and Parquet are documented as files.
_EXPORT_200: dict[int | str, dict[str, Any]] = {200: {
    "description": "One row per point and seed, as an attachment (Content-Disposition: resphase-sweep-ID.FORMAT)",
    "model": list[ExportRowPublic],
    "content": {"text/csv": {"schema": {"type": "string"}},
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


@router.get("/sweeps/{sweep_id}/export", response_class=Response, response_model=None, responses=_EXPORT_200)
def export_sweep(sweep_id: int, db: DbDep, format: Literal["csv", "json", "parquet"] = "csv") -> Response:
    """Every point and seed of the sweep with every setting and metric: CSV (streamed), JSON (a
    list of rows) or Parquet, as an attachment."""
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
