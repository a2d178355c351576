"""Worker registry: each worker process upserts its row on a timer; /health reads last_seen."""

from __future__ import annotations

import socket

from sqlalchemy import delete
from sqlalchemy.orm import Session

from backend.store.tables import WorkerRecord, utcnow


def announce(session: Session, name: str, device: str) -> None:
    row = session.get(WorkerRecord, name)
    if row is None:
        session.add(WorkerRecord(name=name, host=socket.gethostname(), device=device))
    else:
        row.last_seen = utcnow()
        row.device = device


def retire(session: Session, name: str) -> None:
    session.execute(delete(WorkerRecord).where(WorkerRecord.name == name))
