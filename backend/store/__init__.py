"""The system of record: SQLAlchemy tables, engines (SQLite WAL or PostgreSQL), Alembic
migrations applied at start, and repository functions grouped by what they serve:

    tables.py      the schema          engine.py     Database (engine, sessions, upgrade)
    sweeps.py      create/cancel/...   points.py     worker lease protocol, point listings
    slices.py      phase slices, export, point detail
    references.py  cached reference limits
"""

from backend.store.engine import Database

__all__ = ["Database"]
