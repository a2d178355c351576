"""refinement: the adaptive refinement of a sweep (its refine spec, rounds done, points added,
state, and per line the crossing interval and its history). Sweeps stored before this revision
have none.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refinement",
        sa.Column("sweep_id", sa.Integer(), sa.ForeignKey("sweep.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("threshold_name", sa.String(64), nullable=True),
        sa.Column("axis", sa.String(16), nullable=False),
        sa.Column("tol", sa.Float(), nullable=False),
        sa.Column("max_points", sa.Integer(), nullable=False),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.Column("points_added", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("refinement")
