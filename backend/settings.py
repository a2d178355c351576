"""One settings object for every process (API, worker, CLI), read from RESPHASE_* variables.

Limits live here, each under its own name, so that a 4xx error can name the limit it enforces
and a team can raise one without touching code.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# A token guarding an API that listens beyond loopback must be at least this long.
MIN_PUBLIC_TOKEN_CHARS = 16


class UnsafeConfig(ValueError):
    """Configuration a server must refuse to start with; str() is the one line to print."""


def is_loopback_host(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost). A name that is
    not localhost counts as public: it may resolve to anything."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Limits(BaseSettings):
    """Bounds on what one request may ask for. Each field name is what an error message cites."""

    model_config = SettingsConfigDict(env_prefix="RESPHASE_LIMIT_", extra="ignore")

    max_points_per_sweep: int = Field(20_000, ge=1)
    max_dim: int = Field(4096, ge=1, description="largest D, L or M")
    max_steps: int = Field(1000, ge=1)
    max_seeds: int = Field(64, ge=1)
    max_n_samples: int = Field(100_000, ge=1)
    max_io_dim: int = Field(4096, ge=1, description="largest d_in or d_out")
    max_axis_values: int = Field(1000, ge=1, description="values on one grid axis")
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    max_memory_bytes_per_worker: int = Field(16 * 1024**3, ge=1024**2,
                                             description="peak tensor bytes of a sweep's largest ensemble on one "
                                                         "worker (backend/memory.py)")


class Settings(BaseSettings):
    """Process-wide configuration. Defaults give the embedded mode (SQLite + filesystem broker)."""

    model_config = SettingsConfigDict(env_prefix="RESPHASE_", extra="ignore")

    data_dir: Path = Path("./resphase-data")
    # Empty means SQLite in data_dir; postgresql+psycopg://... for a team.
    database_url: str = ""
    # Empty means Celery's filesystem transport in data_dir; redis://... for a team.
    broker_url: str = ""
    # The broker queue API and workers share; deployments (or test runs) that share one Redis
    # but not one database must each use their own.
    queue: str = Field("resphase", pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    # The shared token (single-token mode; it acts as an admin). Named per-person tokens live in the
    # database (`resphase token create NAME`); any of them opens writes once one exists.
    api_token: str = ""
    # Reads need a token too (any live one) when set; /health and /meta stay open.
    require_token_for_reads: bool = False
    # Costly routes (fits, boundaries, non-mean phase slices, validation) per token (or client
    # address when no token is configured) and minute; over it: 429 with Retry-After.
    costly_requests_per_minute: int = Field(120, ge=1)
    host: str = "127.0.0.1"
    port: int = 8000
    # Seconds without a heartbeat after which a running point is returned to the queue.
    lease_timeout_s: float = 60.0
    heartbeat_interval_s: float = 5.0
    # How often a worker writes the loss so far of the points it trains (GET /points/{id}/progress).
    progress_interval_s: float = Field(2.0, gt=0)
    max_attempts: int = 3
    # Dispatch is owned by the database: a queued point that no worker has claimed this many
    # seconds after it was last sent to the broker is sent again by the reaper (claims are
    # conditional, so a duplicate message is harmless), provided the broker's queue is empty;
    # a point whose send failed is sent as soon as the broker answers.
    dispatch_timeout_s: float = Field(20.0, gt=0)
    # While the broker's queue still holds messages (busy workers), a queued point is sent again
    # only once it has waited this long, so a long queue is not flooded with duplicates.
    dispatch_max_wait_s: float = Field(600.0, gt=0)
    # Serialized answers of sweep reads (phase slices, cells, table pages) each API process keeps
    # in memory, keyed by the sweep's data version (backend/api/answer_cache.py); 0: none kept.
    answer_cache_mb: float = Field(64.0, ge=0)
    # Where the cached reference limits go when no database is at hand (`resphase run`).
    cache_dir: Path | None = None
    limits: Limits = Field(default_factory=Limits)

    @property
    def is_public_bind(self) -> bool:
        return not is_loopback_host(self.host)

    def check_serving(self) -> None:
        """Refuse a configuration that would serve the API unsafely: a non-loopback host needs
        RESPHASE_API_TOKEN of at least MIN_PUBLIC_TOKEN_CHARS characters (otherwise writes, and a
        guessable token, would be open to the network). `resphase up` and `resphase api` call this
        before they start anything. A method, not a field validator: workers and CLI clients read
        the same variables (RESPHASE_HOST included) but never listen, and need no token."""
        if not self.is_public_bind:
            return
        token = self.api_token.strip()
        if not token:
            raise UnsafeConfig(f"refusing to listen on non-loopback address {self.host} without RESPHASE_API_TOKEN "
                               "(writes would be open to the network)")
        if len(token) < MIN_PUBLIC_TOKEN_CHARS:
            raise UnsafeConfig(f"refusing to listen on non-loopback address {self.host}: RESPHASE_API_TOKEN has "
                               f"{len(token)} characters, at least {MIN_PUBLIC_TOKEN_CHARS} are required "
                               "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(24))'`)")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'resphase.sqlite3').resolve()}"

    @property
    def resolved_cache_dir(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir
        return Path.home() / ".cache" / "resphase"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
