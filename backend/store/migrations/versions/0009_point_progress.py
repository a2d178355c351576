"""point_progress: the loss of a running point so far (steps sampled, per seed), written by the
worker every ~2 s while it trains and removed once its result is recorded.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "point_progress",
        sa.Column("point_id", sa.Integer(), sa.ForeignKey("point.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("at_steps", sa.JSON(), nullable=False),
        sa.Column("loss_per_seed", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("point_progress")
