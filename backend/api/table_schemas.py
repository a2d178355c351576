"""Response schemas of the points table (GET /sweeps/{id}/table): a filtered, sorted page of a
sweep's points with each metric's seed mean, standard error and count."""

from __future__ import annotations

from pydantic import BaseModel, Field

from backend.api.point_schemas import PointKeyPublic


class StatPublic(BaseModel):
    """A metric of one point over its seeds that did not diverge."""

    mean: float | None = Field(description="Seed mean; null until computed, or where undefined")
    stderr: float | None = Field(description="Standard error of the mean; null with fewer than 2 finite seeds")
    n: int = Field(description="How many seeds gave a finite value")


class TableRowPublic(PointKeyPublic):
    """One point of the table: its axes, queue state, regime and metrics."""

    regime: str | None = Field(description="The regime of its seed means; null until computed")
    metrics: dict[str, StatPublic] = Field(description="Per metric asked for (`metrics`, default all of GET /meta "
                                                       "metrics): mean, stderr and n over the seeds")


class TablePagePublic(BaseModel):
    """One page of the filtered, sorted table and the size of the whole filtered table."""

    total: int = Field(description="How many of the sweep's points pass the filters (all pages)")
    offset: int
    limit: int
    sort: str
    order: str = Field(description="asc | desc (points without a value for the sort key come last either way)")
    items: list[TableRowPublic]
