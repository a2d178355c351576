"""Result columns for feature_update_rel and the reference's noise floors (SCIENCE_VERSION 3).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen: the metrics this revision adds to backend.metrics.METRIC_NAMES.
METRICS = ("feature_update_rel", "err_out_floor", "err_emb_floor")


def upgrade() -> None:
    with op.batch_alter_table("result") as batch:
        for name in METRICS:
            batch.add_column(sa.Column(f"{name}_mean", sa.Float(), nullable=True))
            batch.add_column(sa.Column(f"{name}_stderr", sa.Float(), nullable=True))
            batch.add_column(sa.Column(f"{name}_n", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("result") as batch:
        for name in METRICS:
            for suffix in ("mean", "stderr", "n"):
                batch.drop_column(f"{name}_{suffix}")
