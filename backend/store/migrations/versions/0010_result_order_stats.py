"""Per metric, the median, min and max over seeds as typed result columns (<metric>_median, _min,
_max), backfilled from each stored result's seed documents: a phase slice of a seed aggregate
other than the mean then reads typed columns instead of parsing every cell's `seeds` JSON.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
import math
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Frozen: backend.metrics.METRIC_NAMES and ORDER_STATS at this revision.
METRICS = ("loss_init", "loss_final", "feature_update", "feature_update_rel", "laziness", "preact_change",
           "weight_change_rel", "init_deviation", "rep_change", "err_out", "err_emb", "err_out_floor",
           "err_emb_floor")
STATS = ("median", "min", "max")
BATCH = 2000  # results read and updated per round trip


def _stats(values: list[Any]) -> dict[str, float | None]:
    """Frozen copy of backend.metrics.order_stats: over the finite values, even median = mean of the two middle."""
    finite = sorted(float(v) for v in values if isinstance(v, int | float) and math.isfinite(v))
    n = len(finite)
    if n == 0:
        return dict.fromkeys(STATS)
    mid = finite[n // 2] if n % 2 else (finite[n // 2 - 1] + finite[n // 2]) / 2.0
    return {"median": mid, "min": finite[0], "max": finite[-1]}


def _backfill() -> None:
    """Every stored result's columns from its seed documents, BATCH rows at a time (keyset by point_id)."""
    conn = op.get_bind()
    result = sa.table("result", sa.column("point_id", sa.Integer), sa.column("seeds", sa.JSON),
                      *[sa.column(f"{m}_{s}", sa.Float) for m in METRICS for s in STATS])
    update = (result.update().where(result.c.point_id == sa.bindparam("pid"))
              .values({f"{m}_{s}": sa.bindparam(f"v_{m}_{s}") for m in METRICS for s in STATS}))
    last = 0
    while True:
        rows = conn.execute(sa.select(result.c.point_id, result.c.seeds).where(result.c.point_id > last)
                            .order_by(result.c.point_id).limit(BATCH)).all()
        if not rows:
            return
        params = []
        for pid, seeds in rows:
            docs = json.loads(seeds) if isinstance(seeds, str) else (seeds or [])
            values: dict[str, Any] = {"pid": pid}
            for m in METRICS:
                for s, v in _stats([d.get("metrics", {}).get(m) for d in docs]).items():
                    values[f"v_{m}_{s}"] = v
            params.append(values)
        conn.execute(update, params)
        last = rows[-1][0]


def upgrade() -> None:
    with op.batch_alter_table("result") as batch:
        for m in METRICS:
            for s in STATS:
                batch.add_column(sa.Column(f"{m}_{s}", sa.Float(), nullable=True))
    _backfill()


def downgrade() -> None:
    with op.batch_alter_table("result") as batch:
        for m in METRICS:
            for s in STATS:
                batch.drop_column(f"{m}_{s}")
