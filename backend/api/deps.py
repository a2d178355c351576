"""Annotated dependencies shared by the routers: the database, the queue, settings, auth."""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import anyio
from fastapi import Depends, Header, HTTPException, Request, status
from sqlalchemy.orm import Session

from backend.queue import TaskQueue
from backend.settings import Settings
from backend.store import Database
from backend.store.tables import Sweep
from backend.store.tokens import any_tokens, lookup, token_hash


# The three getters are async: FastAPI runs a plain `def` dependency in its thread pool, which a hung
# database can fill; these only read app state, so DB-free routes never wait for a thread.
async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_queue(request: Request) -> TaskQueue:
    queue: TaskQueue = request.app.state.queue
    return queue


def read_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    with db.read_session() as s:
        yield s


@dataclass(frozen=True)
class Principal:
    """Who makes a request: a token's name (the shared token is "admin"), or None in open mode
    (no token configured at all: the embedded default, where everyone is an admin)."""

    name: str | None
    admin: bool


def _unauthorized(why: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, why, headers={"WWW-Authenticate": "Bearer"})


def principal(settings: Annotated[Settings, Depends(get_settings_dep)], db: Annotated[Database, Depends(get_db)],
              authorization: Annotated[str | None, Header()] = None) -> Principal:
    """The caller, from `Authorization: Bearer <token>`: the shared RESPHASE_API_TOKEN (compared in
    constant time) or a named token from the database. 401 for a wrong token, or for none once any
    token is configured."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    if token:
        if settings.api_token and hmac.compare_digest(token.encode(), settings.api_token.encode()):
            return Principal("admin", True)
        with db.read_session() as s:
            found = lookup(s, token)
        if found is None:
            raise _unauthorized("missing or wrong bearer token")
        return Principal(*found)
    if settings.api_token:
        raise _unauthorized("missing or wrong bearer token")
    with db.read_session() as s:
        if any_tokens(s):
            raise _unauthorized("missing or wrong bearer token")
    return Principal(None, True)


def require_token(who: Annotated[Principal, Depends(principal)]) -> Principal:
    """Writes: the caller must be known (always true in open mode)."""
    return who


async def require_reader(settings: Annotated[Settings, Depends(get_settings_dep)],
                         db: Annotated[Database, Depends(get_db)],
                         authorization: Annotated[str | None, Header()] = None) -> None:
    """Reads: open unless RESPHASE_REQUIRE_TOKEN_FOR_READS is set (async, so an open read of a
    DB-free route takes no thread)."""
    if settings.require_token_for_reads:
        await anyio.to_thread.run_sync(principal, settings, db, authorization)


class RateLimiter:
    """A sliding one-minute window of request times per key; in memory, per API process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str, per_minute: int) -> float | None:
        """None when allowed (and counted), else the seconds until the next request is."""
        now = time.monotonic()
        with self._lock:
            window = self._seen[key]
            while window and now - window[0] >= 60.0:
                window.popleft()
            if len(window) >= per_minute:
                return 60.0 - (now - window[0])
            window.append(now)
            return None


COSTLY = RateLimiter()


def costly(request: Request, settings: Annotated[Settings, Depends(get_settings_dep)],
           authorization: Annotated[str | None, Header()] = None) -> None:
    """A costly route: at most RESPHASE_COSTLY_REQUESTS_PER_MINUTE per token (or per client address
    in open mode); over it, 429 with Retry-After."""
    token = (authorization or "").partition(" ")[2].strip()
    address = request.client.host if request.client else "?"
    key = f"token:{token_hash(token)}" if token else f"addr:{address}"
    wait = COSTLY.allow(key, settings.costly_requests_per_minute)
    if wait is not None:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"over costly_requests_per_minute={settings.costly_requests_per_minute} for this caller",
                            headers={"Retry-After": str(max(1, math.ceil(wait)))})


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DbDep = Annotated[Database, Depends(get_db)]
QueueDep = Annotated[TaskQueue, Depends(get_queue)]
ReadSession = Annotated[Session, Depends(read_session)]
Auth = Depends(require_token)
Reader = Depends(require_reader)
Costly = Depends(costly)
PrincipalDep = Annotated[Principal, Depends(require_token)]


# Ids are 32-bit integers in both databases: a larger one cannot exist (and would make the
# database driver fail, a 500), so it is a plain 404 before any query.
MAX_ID = 2**31 - 1


def sweep_or_404(session: Session, sweep_id: int) -> Sweep:
    sweep = session.get(Sweep, sweep_id) if 1 <= sweep_id <= MAX_ID else None
    if sweep is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"sweep {sweep_id} not found")
    return sweep


def owned(sweep: Sweep, who: Principal, action: str) -> Sweep:
    """The sweep, when `who` may `action` it: its owner or an admin (403 otherwise)."""
    if who.admin or (sweep.owner is not None and sweep.owner == who.name):
        return sweep
    raise HTTPException(status.HTTP_403_FORBIDDEN, f"sweep {sweep.id} belongs to {sweep.owner or 'nobody'}: "
                                                   f"only its owner or an admin may {action} it")
