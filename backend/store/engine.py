"""Engines and sessions for SQLite (embedded, WAL) and PostgreSQL (team), and migrations.

SQLite: WAL so readers never block the writer, a busy timeout instead of 'database is locked',
and BEGIN IMMEDIATE for writing transactions so two writers queue at BEGIN rather than fail at
COMMIT. Sessions made by `read_session` use a deferred BEGIN and never take the write lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
CONNECT_TIMEOUT_S = 5
POOL_TIMEOUT_S = 10
STATEMENT_TIMEOUT_MS = 60_000  # the slowest legitimate statement (a 20,000-point submit) takes ~3 s
LOCK_TIMEOUT_MS = 20_000
_READONLY = "resphase_readonly"


def _sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        readonly = conn.get_execution_options().get(_READONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _sqlite_hooks(engine)
        return engine
    # prepare_threshold=None: no server-side prepared statements, so PostgreSQL plans every query
    # with its actual parameters and current statistics, never with a generic plan cached while a
    # table was still small (docs/benchmarks.md, API).
    # Bounded waits: a frozen or unreachable server costs a request at most CONNECT_TIMEOUT_S to
    # connect, POOL_TIMEOUT_S for a free connection and STATEMENT_TIMEOUT_MS per statement; the
    # API turns the resulting errors into JSON 503s (backend/api/errors.py).
    options = f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={LOCK_TIMEOUT_MS}"
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=POOL_TIMEOUT_S,
                         connect_args={"prepare_threshold": None, "connect_timeout": CONNECT_TIMEOUT_S,
                                       "options": options})


@dataclass
class Database:
    """An engine with its session factories; one per process and URL."""

    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]

    @classmethod
    def connect(cls, url: str, migrate: bool = True) -> Database:
        engine = make_engine(url)
        if migrate:
            upgrade(engine)
        read_engine = engine.execution_options(**{_READONLY: True})
        return cls(url, engine, sessionmaker(engine, expire_on_commit=False),
                   sessionmaker(read_engine, expire_on_commit=False))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A writing transaction: commits on success, rolls back on error."""
        with self.sessions() as s, s.begin():
            yield s

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        with self.read_sessions() as s, s.begin():
            yield s

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine) -> None:
    """Apply every migration (idempotent; serialised between processes that start together)."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7202611)"))  # held until commit
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
