"""point revision: a counter every write that changes what a read of a point shows increments
(claim, record, release, reap, cancel, retry, requeue on submission, a result filled in by a
copy), in the same statement. A sweep's data version (backend/store/sweep_version.py) sums them,
and the API's answer cache (backend/api/answer_cache.py) keys serialized answers by it.
Points stored before this revision start at 0. The index ix_point_revision (id, revision) lets the
version's aggregate read small index entries instead of whole point rows (settings are stored
inline): on a 10,000-point PostgreSQL sweep an index-only scan instead of a scan of every point
row, 9.6 -> 6.0 ms.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("point") as batch:
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_point_revision", "point", ["id", "revision"])


def downgrade() -> None:
    op.drop_index("ix_point_revision", table_name="point")
    # a plain ALTER TABLE DROP COLUMN (SQLite >= 3.35), not a batch copy of the table: copying and
    # dropping `point` with foreign keys on would cascade to its links and results
    op.drop_column("point", "revision")
