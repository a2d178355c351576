"""sweep state_epoch: +1, by a trigger in the same transaction, whenever a change could alter the
state of a sweep whose points are all finished: a link to the sweep added or removed, or an UPDATE
of a point linked to it while that point is finished (done, diverged, failed, cancelled: a retry,
a resubmission that requeues it, a result filled in by a copy). The sweep list keeps the states of
settled sweeps (no queued or running point) per process under this number
(backend/store/sweep_states.py), so listing them does not read their points again: the 50 newest
sweeps of a 1,000,000-point PostgreSQL database grouped 500,000 point rows on every request.

A trigger rather than a line in each writer: no write path can forget it. Points that are queued or
running do not fire it (claims, heartbeats and results of running points are the hot path): the
list never keeps a sweep that has such points. PostgreSQL runs one statement-level trigger per
statement (a transition table of the old rows), SQLite one row-level trigger per row.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

FINISHED_SQL = "('done', 'diverged', 'failed', 'cancelled')"  # backend.store.tables.FINISHED

_PG = [
    f"""CREATE OR REPLACE FUNCTION resphase_finished_point_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE sweep SET state_epoch = state_epoch + 1 WHERE id IN (
            SELECT sp.sweep_id FROM old_points o JOIN sweep_point sp ON sp.point_id = o.id
            WHERE o.status IN {FINISHED_SQL});
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER finished_point_changed AFTER UPDATE ON point REFERENCING OLD TABLE AS old_points
    FOR EACH STATEMENT EXECUTE FUNCTION resphase_finished_point_changed()""",
    """CREATE OR REPLACE FUNCTION resphase_links_added() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE sweep SET state_epoch = state_epoch + 1 WHERE id IN (SELECT sweep_id FROM new_links);
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER links_added AFTER INSERT ON sweep_point REFERENCING NEW TABLE AS new_links
    FOR EACH STATEMENT EXECUTE FUNCTION resphase_links_added()""",
    """CREATE OR REPLACE FUNCTION resphase_links_removed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE sweep SET state_epoch = state_epoch + 1 WHERE id IN (SELECT sweep_id FROM old_links);
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER links_removed AFTER DELETE ON sweep_point REFERENCING OLD TABLE AS old_links
    FOR EACH STATEMENT EXECUTE FUNCTION resphase_links_removed()""",
]

_SQLITE = [
    f"""CREATE TRIGGER finished_point_changed AFTER UPDATE ON point FOR EACH ROW
    WHEN OLD.status IN {FINISHED_SQL}
    BEGIN
        UPDATE sweep SET state_epoch = state_epoch + 1
        WHERE id IN (SELECT sweep_id FROM sweep_point WHERE point_id = OLD.id);
    END""",
    """CREATE TRIGGER links_added AFTER INSERT ON sweep_point FOR EACH ROW
    BEGIN
        UPDATE sweep SET state_epoch = state_epoch + 1 WHERE id = NEW.sweep_id;
    END""",
    """CREATE TRIGGER links_removed AFTER DELETE ON sweep_point FOR EACH ROW
    BEGIN
        UPDATE sweep SET state_epoch = state_epoch + 1 WHERE id = OLD.sweep_id;
    END""",
]


def upgrade() -> None:
    # a plain ADD COLUMN, not a batch copy of `sweep` (dropping the old table would cascade to its links)
    op.add_column("sweep", sa.Column("state_epoch", sa.Integer(), nullable=False, server_default="0"))
    for statement in _PG if op.get_bind().dialect.name == "postgresql" else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, trigger in (("point", "finished_point_changed"), ("sweep_point", "links_added"),
                           ("sweep_point", "links_removed")):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}" if postgres else f"DROP TRIGGER IF EXISTS {trigger}")
    if postgres:
        for function in ("resphase_finished_point_changed", "resphase_links_added", "resphase_links_removed"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    op.drop_column("sweep", "state_epoch")
