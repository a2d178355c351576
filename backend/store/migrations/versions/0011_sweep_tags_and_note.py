"""sweep tags and note: a free-text note on each sweep, and its tags (one row per tag, indexed
by tag for GET /sweeps?tag=). Sweeps stored before this revision have no tags and an empty note.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sweep") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=False, server_default=""))
    op.create_table(
        "sweep_tag",
        sa.Column("sweep_id", sa.Integer(), sa.ForeignKey("sweep.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tag", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_index("ix_sweep_tag_tag", "sweep_tag", ["tag"])


def downgrade() -> None:
    op.drop_index("ix_sweep_tag_tag", "sweep_tag")
    op.drop_table("sweep_tag")
    # a plain ALTER TABLE DROP COLUMN (SQLite >= 3.35), not a batch copy of the table: copying and
    # dropping `sweep` with foreign keys on would cascade to its links and refinements
    op.drop_column("sweep", "note")
