"""Writing transactions that survive concurrent changes, and the small helpers every repository
module shares (IN-list chunks, the dialect test).

`transact` runs work(session) in one transaction and runs it again when PostgreSQL aborted it for
a concurrent change (SQLite serialises writers at BEGIN IMMEDIATE and never needs it)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from backend.store.engine import Database

log = logging.getLogger(__name__)

CHUNK = 500  # ids per IN (...) clause
_T = TypeVar("_T")

# PostgreSQL errors after which the whole transaction is worth running again: serialization
# failure, deadlock detected, and the foreign-key and unique violations a concurrent change could
# still cause (the locking in backend.store.sweeps is meant to make these last two impossible).
_RETRY_SQLSTATES = frozenset({"40001", "40P01", "23503", "23505"})
TRANSACTION_ATTEMPTS = 5


class ConcurrentChange(Exception):
    """Concurrent transactions kept changing the rows this one needs; run it again."""


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, ConcurrentChange):
        return True
    orig = getattr(exc, "orig", None)
    return isinstance(exc, DBAPIError) and getattr(orig, "sqlstate", None) in _RETRY_SQLSTATES


def transact(db: Database, work: Callable[[Session], _T], attempts: int = TRANSACTION_ATTEMPTS) -> _T:
    """Run work(session) in one writing transaction; when PostgreSQL aborts it for a concurrent
    change (deadlock, serialization failure, a constraint a racing transaction broke), run it
    again in a new transaction, at most `attempts` times in all, after a short random pause."""
    for attempt in range(1, attempts + 1):
        try:
            with db.session() as s:
                return work(s)
        except (DBAPIError, ConcurrentChange) as exc:
            if attempt == attempts or not _retryable(exc):
                raise
            log.info("transaction aborted by a concurrent change (%s), attempt %d of %d",
                     type(getattr(exc, "orig", exc)).__name__, attempt, attempts)
            time.sleep(random.uniform(0.005, 0.05) * attempt)
    raise AssertionError("unreachable")


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    """`items` in consecutive slices of at most `size` (one IN (...) clause each)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def is_postgres(session: Session) -> bool:
    """Whether the session talks to PostgreSQL (which gets set-based statements)."""
    return session.get_bind().dialect.name == "postgresql"
