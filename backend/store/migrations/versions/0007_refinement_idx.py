"""refinement.idx: a sweep may refine several boundaries (its `refine` a list), one row each,
keyed by (sweep_id, idx). Rows stored before this revision become idx 0. The table is rebuilt
(create, copy, drop, rename) so the primary key changes the same way on SQLite and PostgreSQL.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_COLUMNS = ("metric", "threshold", "threshold_name", "axis", "tol", "max_points", "rounds", "points_added",
            "state", "lines", "updated_at")


def _create(name: str, with_idx: bool) -> None:
    key = [sa.Column("sweep_id", sa.Integer(), sa.ForeignKey("sweep.id", ondelete="CASCADE"), primary_key=True)]
    if with_idx:
        key.append(sa.Column("idx", sa.Integer(), primary_key=True, server_default="0"))
    op.create_table(
        name, *key,
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


def _rebuild(with_idx: bool, where: str = "") -> None:
    cols = ", ".join(_COLUMNS)
    _create("refinement_rebuilt", with_idx)
    target, source = (f"sweep_id, idx, {cols}", f"sweep_id, 0, {cols}") if with_idx else (
        f"sweep_id, {cols}", f"sweep_id, {cols}")
    op.execute(f"INSERT INTO refinement_rebuilt ({target}) SELECT {source} FROM refinement{where}")
    op.drop_table("refinement")
    op.rename_table("refinement_rebuilt", "refinement")


def upgrade() -> None:
    _rebuild(with_idx=True)


def downgrade() -> None:
    _rebuild(with_idx=False, where=" WHERE idx = 0")  # a sweep's other refinements go
