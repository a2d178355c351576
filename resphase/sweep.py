"""A sweep on a server (`Sweep`) and a sweep computed in this process (`LocalSweep`): both give
their results as a DataFrame (one row per point and unit seed) and as an xarray Dataset."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import xarray as xr

from backend import __version__
from backend.grid import SCIENCE_VERSION
from resphase.analysis import Fit, PhaseSlice
from resphase.frames import frame_to_dataset, rows_to_frame

if TYPE_CHECKING:
    from resphase.client import Client


def _fixed_param(fixed: dict[str, float] | None) -> str | None:
    return ",".join(f"{k}:{v}" for k, v in fixed.items()) if fixed else None


class _Results:
    """What both kinds of sweep share: rows -> pandas / xarray, with the sweep's attrs."""

    axes: dict[str, list[float]]
    settings: dict[str, Any]

    def _rows(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _attrs(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_pandas(self) -> pd.DataFrame:
        """One row per point and unit seed (see resphase.frames.rows_to_frame)."""
        return rows_to_frame(self._rows())

    def to_xarray(self) -> xr.Dataset:
        """dims (alpha, D, L, M, seed); one variable per metric, NaN where missing; attrs hold the
        settings and provenance (sweep id, name, server url, versions, fetched_at)."""
        attrs = {**self._attrs(), "resphase_version": __version__, "science_version": SCIENCE_VERSION,
                 "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"), "settings": self.settings}
        return frame_to_dataset(self.to_pandas(), self.axes, int(self.settings.get("seeds", 1)), attrs)


class Sweep(_Results):
    """A sweep stored on a server. `summary` is the API's sweep summary as last fetched
    (`refresh()` fetches it again); results are read through the JSON export in one request."""

    def __init__(self, client: Client, summary: dict[str, Any]) -> None:
        self.client = client
        self.summary = summary

    def __repr__(self) -> str:
        return (f"<Sweep {self.id} {self.name!r}: {self.status}, {self.n_points} points, "
                f"{100 * self.progress:.0f}% finished>")

    @property
    def id(self) -> int:
        return int(self.summary["id"])

    @property
    def name(self) -> str:
        return str(self.summary["name"])

    @property
    def n_points(self) -> int:
        return int(self.summary["n_points"])

    @property
    def progress(self) -> float:
        """Finished points / n_points, as of the last fetch."""
        return float(self.summary["progress"])

    @property
    def status(self) -> str:
        """running | finished | cancelled, as of the last fetch."""
        return str(self.summary["state"])

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.summary["counts"])

    @property
    def axes(self) -> dict[str, list[float]]:  # type: ignore[override]
        return {k: list(v) for k, v in self.summary["axes"].items()}

    @property
    def settings(self) -> dict[str, Any]:  # type: ignore[override]
        return dict(self.summary["settings"])

    def refresh(self) -> Sweep:
        self.summary = self.client.get(f"/sweeps/{self.id}")
        return self

    def wait(self, poll: float = 1.0, progress: bool | None = True, timeout: float | None = None) -> Sweep:
        """Poll until the sweep is no longer running, drawing a tqdm.auto bar (a widget in
        Jupyter); progress=None draws it only on a terminal, False never. TimeoutError after
        `timeout` seconds (the sweep goes on computing on the server)."""
        from tqdm.auto import tqdm

        deadline = None if timeout is None else time.monotonic() + timeout
        with tqdm(total=self.n_points, desc=f"sweep {self.id}", unit="pt", disable=None if progress is None
                  else not progress) as bar:
            while True:
                done = round(self.progress * self.n_points)
                bar.update(done - bar.n)
                bar.set_postfix_str(f"{self.counts.get('running', 0)} running", refresh=False)
                if self.status != "running":
                    return self
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"sweep {self.id} still running after {timeout} s")
                time.sleep(poll)
                self.refresh()

    def cancel(self) -> Sweep:
        self.summary = self.client.post(f"/sweeps/{self.id}/cancel")
        return self

    @property
    def tags(self) -> list[str]:
        return list(self.summary.get("tags", []))

    @property
    def note(self) -> str:
        return str(self.summary.get("note", ""))

    def annotate(self, tags: list[str] | None = None, note: str | None = None) -> Sweep:
        """Replace the tags and/or the note (the sweep's owner or an admin only)."""
        body = {k: v for k, v in (("tags", tags), ("note", note)) if v is not None}
        self.summary = self.client.request("PATCH", f"/sweeps/{self.id}", json=body)
        return self

    def _rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.client.get(f"/sweeps/{self.id}/export", params={"format": "json"})
        return rows

    def _attrs(self) -> dict[str, Any]:
        return {"sweep_id": self.id, "name": self.name, "server_url": self.client.url,
                "created_at": self.summary.get("created_at"), "state": self.status}

    def phase(self, x: str = "alpha", y: str = "L", metric: str = "feature_update",
              fixed: dict[str, float] | None = None, agg: str = "mean") -> PhaseSlice:
        """A (y, x) grid of `metric`, the other axes at `fixed` (their first value where left out)."""
        params = {"x": x, "y": y, "metric": metric, "agg": agg, "fixed": _fixed_param(fixed)}
        return PhaseSlice.from_json(self.client.get(f"/sweeps/{self.id}/phase", params=params))

    def fit(self, metric: str = "err_out", along: str = "L", group: str | None = None,
            fixed: dict[str, float] | None = None, model: str = "power", predicted: float | None = None,
            tolerance: float | None = None, n_boot: int = 500) -> Fit:
        """Power laws along one axis (one per value of `group`) or a multi-term `model`; the
        same fit and verdict rule as the claims (docs/api.md, /fit)."""
        params = {"metric": metric, "along": along, "group": group, "fixed": _fixed_param(fixed),
                  "model": model, "predicted": predicted, "tolerance": tolerance, "n_boot": n_boot}
        return Fit.from_json(self.client.get(f"/sweeps/{self.id}/fit", params=params))


class LocalSweep(_Results):
    """The result of `resphase.run`: computed in this process, nothing stored on a server."""

    def __init__(self, name: str, axes: dict[str, list[float]], settings: dict[str, Any],
                 rows: list[dict[str, Any]]) -> None:
        self.name, self.axes, self.settings, self.rows = name, axes, settings, rows

    def __repr__(self) -> str:
        return f"<LocalSweep {self.name!r}: {len(self.rows)} rows>"

    status = "finished"

    def _rows(self) -> list[dict[str, Any]]:
        return self.rows

    def _attrs(self) -> dict[str, Any]:
        return {"sweep_id": "", "name": self.name, "server_url": "", "state": "finished"}
