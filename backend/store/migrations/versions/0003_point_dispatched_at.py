"""point.dispatched_at: when a queued point was last sent to the broker (dispatch owned by the
database: the reaper re-sends queued points whose message was lost).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("point") as batch:
        batch.add_column(sa.Column("dispatched_at", sa.DateTime(), nullable=True))
    # Points queued before this revision count as never sent: the reaper sends them once.
    op.create_index("ix_point_status_dispatched", "point", ["status", "dispatched_at"])


def downgrade() -> None:
    op.drop_index("ix_point_status_dispatched", table_name="point")
    with op.batch_alter_table("point") as batch:
        batch.drop_column("dispatched_at")
