"""result engine: which engine trained the point, `native` (the compiled CPU float32 kernel,
worker/native.py) or `torch` (the PyTorch passes, worker/passes.py). The two agree to float
rounding only, so a result says which one made its numbers. Results stored before this revision
keep an empty string (not recorded).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN (no batch copy of `result`)
    op.add_column("result", sa.Column("engine", sa.String(16), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("result") as batch:
        batch.drop_column("engine")
