"""Cached reference limits as opaque blobs (the worker encodes and decodes them; the store does
not know numpy or torch). Keyed by the reference's content hash; the first writer wins."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend.store.tables import Reference, utcnow


def get_reference(session: Session, key: str) -> bytes | None:
    return session.scalar(select(Reference.data).where(Reference.key == key))


def put_reference(session: Session, key: str, alpha: float, D: int, n_seeds: int, data: bytes) -> None:
    """Insert unless a reference with this key exists (two workers may compute the same one)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Reference).values(key=key, alpha=alpha, D=D, n_seeds=n_seeds, data=data, created_at=utcnow())
    session.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))
