"""table indexes: covering indexes for the points table (GET /sweeps/{id}/table), so that sorting
and filtering a sweep by status, axes, regime or a metric's seed mean reads small index entries
instead of whole point and result rows (settings, seeds and loss curves are stored inline there):
on a 20,000-point SQLite sweep a first page sorted by err_out went from 130 to 48 ms.

The metric names are a frozen copy of backend.metrics.METRIC_NAMES at this revision.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

METRICS = ("loss_init", "loss_final", "feature_update", "feature_update_rel", "laziness", "preact_change",
           "weight_change_rel", "init_deviation", "rep_change", "err_out", "err_emb", "err_out_floor", "err_emb_floor")


def upgrade() -> None:
    op.create_index("ix_point_table", "point", ["id", "status", "alpha", "D", "L", "M"])
    op.create_index("ix_result_table", "result", ["point_id", "regime", *(f"{m}_mean" for m in METRICS)])


def downgrade() -> None:
    op.drop_index("ix_result_table", table_name="result")
    op.drop_index("ix_point_table", table_name="point")
