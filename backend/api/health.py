"""Liveness of the parts: database, broker, workers (seen within the last few heartbeats)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import select, text

from backend.api.deps import DbDep, QueueDep, SettingsDep
from backend.store.tables import WorkerRecord, utcnow

router = APIRouter(tags=["health"])


@router.get("/health")
def health(db: DbDep, queue: QueueDep, settings: SettingsDep, response: Response) -> dict[str, Any]:
    """200 with status ok or degraded; 503 only when the database cannot be reached."""
    try:
        with db.read_session() as s:
            s.execute(text("SELECT 1"))
            recent = utcnow() - timedelta(seconds=max(6 * settings.heartbeat_interval_s, 30))
            workers = list(s.scalars(select(WorkerRecord.name).where(WorkerRecord.last_seen >= recent)))
        database = {"ok": True, "dialect": db.engine.dialect.name}
    except Exception as exc:
        response.status_code = 503
        return {"status": "down", "database": {"ok": False, "error": str(exc)[:500]},
                "broker": {"ok": None}, "workers": {"ok": None, "count": 0, "names": []}}
    broker_ok = queue.ping_broker()
    status = "ok" if broker_ok and workers else "degraded"
    return {"status": status, "database": database, "broker": {"ok": broker_ok, "url": queue.url_for_display},
            "workers": {"ok": bool(workers), "count": len(workers), "names": workers}}
