"""point revision: a counter every write that changes what a read of a point shows increments
(claim, record, release, reap, cancel, retry, requeue on submission, a result filled in by a
copy), in the same statement. A sweep's data version (backend/store/sweep_version.py) sums them,
and the API's answer cache (backend/api/answer_cache.py) keys serialized answers by it.
Points stored before this revision start at 0.

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


def downgrade() -> None:
    # a plain ALTER TABLE DROP COLUMN (SQLite >= 3.35), not a batch copy of the table: copying and
    # dropping `point` with foreign keys on would cascade to its links and results
    op.drop_column("point", "revision")
