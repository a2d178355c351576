"""Liveness of the parts: database, broker, workers (seen within the last few heartbeats).

Answers within HEALTH_TIMEOUT_S whatever the database does: the checks run in threads of their
own (not the pool the data routes share, which a hung database can fill) and are abandoned when
they take too long; the route itself runs on the event loop.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from sqlalchemy import select, text

from backend.api.deps import DbDep, QueueDep, SettingsDep
from backend.queue import TaskQueue
from backend.settings import Settings
from backend.store import Database
from backend.store.tables import WorkerRecord, utcnow

router = APIRouter(tags=["health"])


class DatabaseHealthPublic(BaseModel):
    ok: bool = Field(description="Whether the database answered within HEALTH_TIMEOUT_S")
    dialect: str | None = Field(None, description="sqlite or postgresql, when it answered")
    error: str | None = Field(None, description="Why not, when it did not")


class BrokerHealthPublic(BaseModel):
    ok: bool | None = Field(description="Whether the broker answered; null when the database is down (not asked)")
    url: str | None = Field(None, description="The broker's URL, password masked")


class WorkersHealthPublic(BaseModel):
    ok: bool | None = Field(description="Whether a worker was seen in the last few heartbeats; null when the "
                                        "database is down")
    count: int = Field(description="Workers seen recently")
    names: list[str] = Field(description="Their names")


class HealthPublic(BaseModel):
    """status "ok" (database, broker and a worker), "degraded" (database only), "down" (no database: a 503)."""

    status: Literal["ok", "degraded", "down"]
    database: DatabaseHealthPublic
    broker: BrokerHealthPublic
    workers: WorkersHealthPublic

HEALTH_TIMEOUT_S = 1.5
_CHECKS = anyio.CapacityLimiter(8)  # threads for health checks only; hung ones are abandoned


def _database(db: Database, settings: Settings) -> list[str]:
    with db.read_session() as s:
        s.execute(text("SELECT 1"))
        recent = utcnow() - timedelta(seconds=max(6 * settings.heartbeat_interval_s, 30))
        return list(s.scalars(select(WorkerRecord.name).where(WorkerRecord.last_seen >= recent)))


async def _in_thread(fn: Any, *args: Any) -> Any:
    with anyio.fail_after(HEALTH_TIMEOUT_S):
        return await anyio.to_thread.run_sync(fn, *args, abandon_on_cancel=True, limiter=_CHECKS)


@router.get("/health", response_model=HealthPublic,
            responses={503: {"model": HealthPublic, "description": "The database is unreachable or does not answer"}})
async def health(db: DbDep, queue: QueueDep, settings: SettingsDep, response: Response) -> dict[str, Any]:
    """200 with status ok or degraded; 503 when the database cannot be reached or does not answer
    within HEALTH_TIMEOUT_S."""
    try:
        workers = await _in_thread(_database, db, settings)
        database: dict[str, Any] = {"ok": True, "dialect": db.engine.dialect.name}
    except TimeoutError:
        return _down(response, f"the database did not answer within {HEALTH_TIMEOUT_S} s")
    except Exception as exc:
        return _down(response, str(exc)[:500])
    try:
        broker_ok = bool(await _in_thread(TaskQueue.ping_broker, queue))
    except TimeoutError:
        broker_ok = False
    status = "ok" if broker_ok and workers else "degraded"
    return {"status": status, "database": database, "broker": {"ok": broker_ok, "url": queue.url_for_display},
            "workers": {"ok": bool(workers), "count": len(workers), "names": workers}}


def _down(response: Response, reason: str) -> dict[str, Any]:
    response.status_code = 503
    return {"status": "down", "database": {"ok": False, "error": reason},
            "broker": {"ok": None}, "workers": {"ok": None, "count": 0, "names": []}}
