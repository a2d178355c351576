"""SQLAlchemy 2 tables: sweeps, the points they share, results, cached references.

A point is one (alpha, D, L, M, settings) and exists once, whoever asked for it: sweeps link to
points through sweep_point, so overlapping sweeps share work. Times are naive UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from backend.metrics import METRIC_NAMES, ORDER_STATS

STATUSES: tuple[str, ...] = ("queued", "running", "done", "diverged", "failed", "cancelled")
FINISHED: tuple[str, ...] = ("done", "diverged", "failed", "cancelled")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}  # noqa: RUF012 (SQLAlchemy reads it off the class)


class Sweep(Base):
    __tablename__ = "sweep"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)
    spec: Mapped[dict[str, Any]]  # the request as submitted
    axes: Mapped[dict[str, Any]]  # achieved axis values {"alpha": [...], "D": [...], ...}
    settings: Mapped[dict[str, Any]]  # RunSettings with defaults filled
    n_points: Mapped[int] = mapped_column(Integer, default=0)
    n_reused: Mapped[int] = mapped_column(Integer, default=0)
    estimated_flops: Mapped[float] = mapped_column(Float, default=0.0)
    estimated_s: Mapped[float] = mapped_column(Float, default=0.0)  # on one CPU worker, estimated at submission
    owner: Mapped[str | None] = mapped_column(String(100))  # the token name that created it (None: open mode)
    note: Mapped[str] = mapped_column(Text, default="")  # free text (backend/sweep_tags.py: max_note_chars)
    # +1 by a database trigger (migration 0013) when a link to the sweep is added or removed or a
    # finished point of it is updated: the sweep list keeps a settled sweep's states under it
    # (backend/store/sweep_states.py). Never written by the ORM.
    state_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


# A sweep's tags, one row each (backend/sweep_tags.py says what a tag may be): GET /sweeps?tag=
# filters through the index on tag, and the list reads the tags of a page of sweeps in one query.
sweep_tag = Table(
    "sweep_tag",
    Base.metadata,
    Column("sweep_id", ForeignKey("sweep.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(64), primary_key=True),
    Column("position", Integer, nullable=False),  # the order the tags were given in
    Index("ix_sweep_tag_tag", "tag"),
)


class Refinement(Base):
    """One boundary a sweep refines (backend/store/refinements.py): its spec (the `idx`-th of the
    sweep's `refine` list, 0 for a single one), with the threshold resolved, and its progress.
    `rounds` is the claim: a round is added by the one conditional UPDATE that moves it from r to
    r + 1, so racing reapers never add one twice."""

    __tablename__ = "refinement"

    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweep.id", ondelete="CASCADE"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, default=0)
    metric: Mapped[str] = mapped_column(String(64))
    threshold: Mapped[float | None] = mapped_column(Float)  # None: a formula, evaluated per line
    threshold_name: Mapped[str | None] = mapped_column(String(64))
    threshold_formula: Mapped[str | None] = mapped_column(Text)
    axis: Mapped[str] = mapped_column(String(16), default="alpha")
    tol: Mapped[float] = mapped_column(Float)
    max_points: Mapped[int] = mapped_column(Integer)
    rounds: Mapped[int] = mapped_column(Integer, default=0)
    points_added: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="waiting")  # waiting|refining|converged|...
    lines: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"lines": [RefineLinePublic docs]}
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Point(Base):
    __tablename__ = "point"
    __table_args__ = (
        Index("ix_point_status", "status"),
        Index("ix_point_axes", "D", "M", "L", "alpha"),
        Index("ix_point_status_heartbeat", "status", "heartbeat_at"),
        Index("ix_point_status_dispatched", "status", "dispatched_at"),
        # covers the points table's filters and sorts (backend/store/point_table.py)
        Index("ix_point_table", "id", "status", "alpha", "D", "L", "M"),
        # covers a sweep's data version, the sum of its points' revisions (backend/store/sweep_version.py)
        Index("ix_point_revision", "id", "revision"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    shape_key: Mapped[str] = mapped_column(String(64), index=True)
    alpha: Mapped[float] = mapped_column(Float)
    D: Mapped[int] = mapped_column(Integer)
    L: Mapped[int] = mapped_column(Integer)
    M: Mapped[int] = mapped_column(Integer)
    settings: Mapped[dict[str, Any]]
    estimated_flops: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    queued_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # When the point was last sent to the broker; NULL: queued but never sent (the send failed).
    # The reaper sends a queued point again when this is older than RESPHASE_DISPATCH_TIMEOUT_S.
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    worker_host: Mapped[str | None] = mapped_column(String(200))
    device: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    # +1 by every write that changes what a read of the point shows (not heartbeats nor dispatch
    # marks), in the same statement: a sweep's data version sums them (backend/store/sweep_version.py).
    # A counter, not a timestamp: workers' clocks may be skewed.
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


def bump() -> dict[str, Any]:
    """The `.values()` of an UPDATE of points that changes what reads of them show."""
    return {"revision": Point.revision + 1}


sweep_point = Table(
    "sweep_point",
    Base.metadata,
    Column("sweep_id", ForeignKey("sweep.id", ondelete="CASCADE"), primary_key=True),
    Column("point_id", ForeignKey("point.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_sweep_point_point", "point_id"),
)


def metric_columns() -> list[Column[Any]]:
    """Per metric: seed mean, standard error and count, typed so queries filter and sort; then its
    median, min and max over seeds (backend.metrics.order_stats), so a slice of any aggregate
    reads typed columns rather than every cell's seed documents."""
    cols: list[Column[Any]] = []
    for name in METRIC_NAMES:
        cols += [Column(f"{name}_mean", Float), Column(f"{name}_stderr", Float), Column(f"{name}_n", Integer)]
        cols += [Column(f"{name}_{stat}", Float) for stat in ORDER_STATS]
    return cols


result_table = Table(
    "result",
    Base.metadata,
    Column("point_id", ForeignKey("point.id", ondelete="CASCADE"), primary_key=True),
    Column("regime", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # done | diverged
    *metric_columns(),
    Column("seeds", JSON, nullable=False),  # [{"unit_seed", "metrics": {...}, "diverged_at_step", "regime"}]
    Column("loss_curves", JSON, nullable=False),  # per seed, K + 1 values (null after divergence)
    Column("timing_s", Float, nullable=False),
    Column("resphase_version", String(32), nullable=False),
    Column("torch_version", String(64), nullable=False),
    Column("device", String(64), nullable=False),
    Column("dtype", String(16), nullable=False),
    Column("host", String(200), nullable=False),
    # "native" (the compiled CPU kernel) or "torch" (the PyTorch passes); "" before migration 0014
    Column("engine", String(16), nullable=False, server_default=""),
    Column("created_at", DateTime, nullable=False, default=utcnow),
    # covers the points table's regime and metric filters and sorts (backend/store/point_table.py)
    Index("ix_result_table", "point_id", "regime", *(f"{name}_mean" for name in METRIC_NAMES)),
)


point_progress = Table(
    "point_progress",
    Base.metadata,
    # The loss of a point while it trains (worker/progress.py writes it every ~2 s; removed once the
    # result is recorded, whose loss_curves are the whole curves).
    Column("point_id", ForeignKey("point.id", ondelete="CASCADE"), primary_key=True),
    Column("step", Integer, nullable=False),  # steps done so far
    Column("steps", Integer, nullable=False),  # K
    Column("at_steps", JSON, nullable=False),  # the steps sampled (<= PROGRESS_SAMPLES of 0..step)
    Column("loss_per_seed", JSON, nullable=False),  # per seed, the MSE at those steps (null after divergence)
    Column("updated_at", DateTime, nullable=False),
)


class Reference(Base):
    """A cached reference limit (seed-averaged large network), keyed by its content hash."""

    __tablename__ = "reference"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    alpha: Mapped[float] = mapped_column(Float)
    D: Mapped[int] = mapped_column(Integer)
    n_seeds: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)  # npz of f (N, d_out) and h (N, D)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ApiToken(Base):
    """A named token of one person (or machine); only its SHA-256 is stored. Revoking deletes it."""

    __tablename__ = "api_token"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class WorkerRecord(Base):
    """A worker process that announced itself; /health reads last_seen to tell who is alive."""

    __tablename__ = "worker"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    device: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
