"""The system of record: SQLAlchemy tables, engines (SQLite WAL or PostgreSQL), Alembic
migrations applied at start, and repository functions grouped by what they serve:

    tables.py           the schema               engine.py        Database (engine, sessions, upgrade)
    transactions.py     transact (retried), chunks
    sweeps.py           submission, dispatch marks
    sweep_reads.py      sweep records            sweep_lifecycle.py  cancel, retry, delete
    points.py           worker lease protocol, point listings, one point in full
    slices.py           phase slices, export rows
    references.py       cached reference limits
"""

from backend.store.engine import Database

__all__ = ["Database"]
