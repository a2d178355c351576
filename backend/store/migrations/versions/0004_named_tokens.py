"""Named API tokens (stored hashed, revocable) and the owner of each sweep.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    with op.batch_alter_table("sweep") as batch:
        batch.add_column(sa.Column("owner", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sweep") as batch:
        batch.drop_column("owner")
    op.drop_table("api_token")
