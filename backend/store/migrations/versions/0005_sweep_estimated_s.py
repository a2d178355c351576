"""sweep.estimated_s: the compute-time estimate kept at submission, so that reading a sweep
validates no settings and recomputes no estimate.

Sweeps stored before this revision get theirs computed here, with the cost model of the code
that runs the upgrade (backend.cost.estimate_seconds); one whose settings no longer validate
keeps 0.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from pydantic import ValidationError

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sweep") as batch:
        batch.add_column(sa.Column("estimated_s", sa.Float(), nullable=False, server_default="0"))
    _backfill()
    with op.batch_alter_table("sweep") as batch:
        batch.alter_column("estimated_s", server_default=None)


def _backfill() -> None:
    from backend.cost import estimate_seconds
    from backend.grid import RunSettings

    sweep = sa.table("sweep", sa.column("id", sa.Integer), sa.column("axes", sa.JSON),
                     sa.column("settings", sa.JSON), sa.column("estimated_s", sa.Float))
    conn = op.get_bind()
    for sweep_id, axes, settings in conn.execute(sa.select(sweep.c.id, sweep.c.axes, sweep.c.settings)).all():
        try:
            seconds = estimate_seconds(axes, RunSettings.model_validate(settings))
        except (ValidationError, KeyError, TypeError, ValueError):
            continue
        conn.execute(sa.update(sweep).where(sweep.c.id == sweep_id).values(estimated_s=seconds))


def downgrade() -> None:
    with op.batch_alter_table("sweep") as batch:
        batch.drop_column("estimated_s")
