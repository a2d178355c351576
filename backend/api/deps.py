"""Annotated dependencies shared by the routers: the database, the queue, settings, auth."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from sqlalchemy.orm import Session

from backend.queue import TaskQueue
from backend.settings import Settings
from backend.store import Database
from backend.store.tables import Sweep


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_queue(request: Request) -> TaskQueue:
    queue: TaskQueue = request.app.state.queue
    return queue


def write_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    with db.session() as s:
        yield s


def read_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    with db.read_session() as s:
        yield s


def require_token(settings: Annotated[Settings, Depends(get_settings_dep)],
                  authorization: Annotated[str | None, Header()] = None) -> None:
    """Writes need `Authorization: Bearer <RESPHASE_API_TOKEN>` when a token is configured."""
    if not settings.api_token:
        return
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), settings.api_token.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token",
                            headers={"WWW-Authenticate": "Bearer"})


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DbDep = Annotated[Database, Depends(get_db)]
QueueDep = Annotated[TaskQueue, Depends(get_queue)]
WriteSession = Annotated[Session, Depends(write_session)]
ReadSession = Annotated[Session, Depends(read_session)]
Auth = Depends(require_token)


# Ids are 32-bit integers in both databases: a larger one cannot exist (and would make the
# database driver fail, a 500), so it is a plain 404 before any query.
MAX_ID = 2**31 - 1


def sweep_or_404(session: Session, sweep_id: int) -> Sweep:
    sweep = session.get(Sweep, sweep_id) if 1 <= sweep_id <= MAX_ID else None
    if sweep is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"sweep {sweep_id} not found")
    return sweep
