"""Initial schema: sweep, point, sweep_point, result, reference, worker.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copy of backend.metrics.METRIC_NAMES at this revision: a later metric needs a new migration.
METRICS = ("loss_init", "loss_final", "feature_update", "laziness", "preact_change", "weight_change_rel",
           "init_deviation", "rep_change", "err_out", "err_emb")


def upgrade() -> None:
    op.create_table(
        "sweep",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("axes", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("n_points", sa.Integer(), nullable=False),
        sa.Column("n_reused", sa.Integer(), nullable=False),
        sa.Column("estimated_flops", sa.Float(), nullable=False),
    )
    op.create_table(
        "point",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("shape_key", sa.String(64), nullable=False),
        sa.Column("alpha", sa.Float(), nullable=False),
        sa.Column("D", sa.Integer(), nullable=False),
        sa.Column("L", sa.Integer(), nullable=False),
        sa.Column("M", sa.Integer(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("estimated_flops", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("worker_host", sa.String(200), nullable=True),
        sa.Column("device", sa.String(64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_point_status", "point", ["status"])
    op.create_index("ix_point_axes", "point", ["D", "M", "L", "alpha"])
    op.create_index("ix_point_status_heartbeat", "point", ["status", "heartbeat_at"])
    op.create_index("ix_point_shape_key", "point", ["shape_key"])
    op.create_table(
        "sweep_point",
        sa.Column("sweep_id", sa.Integer(), sa.ForeignKey("sweep.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("point_id", sa.Integer(), sa.ForeignKey("point.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_index("ix_sweep_point_point", "sweep_point", ["point_id"])
    metric_cols: list[sa.Column[object]] = []
    for name in METRICS:
        metric_cols += [sa.Column(f"{name}_mean", sa.Float(), nullable=True),
                        sa.Column(f"{name}_stderr", sa.Float(), nullable=True),
                        sa.Column(f"{name}_n", sa.Integer(), nullable=True)]
    op.create_table(
        "result",
        sa.Column("point_id", sa.Integer(), sa.ForeignKey("point.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("regime", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        *metric_cols,
        sa.Column("seeds", sa.JSON(), nullable=False),
        sa.Column("loss_curves", sa.JSON(), nullable=False),
        sa.Column("timing_s", sa.Float(), nullable=False),
        sa.Column("resphase_version", sa.String(32), nullable=False),
        sa.Column("torch_version", sa.String(64), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("dtype", sa.String(16), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "reference",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("alpha", sa.Float(), nullable=False),
        sa.Column("D", sa.Integer(), nullable=False),
        sa.Column("n_seeds", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "worker",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ("worker", "reference", "result", "sweep_point", "point", "sweep"):
        op.drop_table(table)
