"""`resphase.connect()`: a client of a running resphase server (httpx; no torch, no worker/)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import httpx

from backend.server_record import resolve_url
from resphase.analysis import Preset
from resphase.errors import ServerUnreachable, check
from resphase.sweep import Sweep

API = "/api/v1"


class Client:
    """One server at `url` (its root, without /api/v1). Writes send `token` as a bearer token."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url + API, headers=headers, timeout=timeout)

    def __repr__(self) -> str:
        return f"<resphase.Client {self.url}>"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @contextmanager
    def _reaching(self) -> Iterator[None]:
        """httpx's connection failures as ServerUnreachable (a ConnectionError naming the URL)."""
        try:
            yield
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ServerUnreachable(self.url, str(exc) or type(exc).__name__) from None

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of `method path` (path under /api/v1); ApiError on a 4xx/5xx."""
        if "params" in kwargs:  # None means "not given": leave it to the server's default
            kwargs["params"] = {k: v for k, v in kwargs["params"].items() if v is not None}
        with self._reaching():
            return check(self._http.request(method, path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    @contextmanager
    def stream(self, path: str, params: dict[str, Any]) -> Iterator[httpx.Response]:
        """A streamed GET (large exports): the response, already checked for an error status."""
        with self._reaching(), self._http.stream("GET", path, params=params) as resp:
            if resp.status_code >= 400:
                resp.read()
                check(resp)
            yield resp

    def meta(self) -> dict[str, Any]:
        """GET /meta: metrics, regimes, thresholds, limits, versions."""
        meta: dict[str, Any] = self.get("/meta")
        return meta

    def sweeps(self, limit: int = 50, offset: int = 0, name: str | None = None, tag: str | None = None,
               owner: str | None = None) -> list[Sweep]:
        """The newest sweeps first, filtered by a name substring, one tag (`run:<id>`: one
        `resphase reproduce --url` run) and the token name that created them."""
        params = {"limit": limit, "offset": offset, "name": name, "tag": tag, "owner": owner}
        return [Sweep(self, s) for s in self.get("/sweeps", params=params)]

    def sweep(self, sweep_id: int) -> Sweep:
        return Sweep(self, self.get(f"/sweeps/{int(sweep_id)}"))

    def submit(self, spec: dict[str, Any], wait: bool = False, poll: float = 1.0,
               progress: bool | None = True, timeout: float | None = None) -> Sweep:
        """POST a sweep spec (docs/api.md); with wait=True, poll until it finishes with a
        progress bar (see Sweep.wait). Points already computed anywhere are reused."""
        sweep = Sweep(self, self.post("/sweeps", json=spec))
        return sweep.wait(poll=poll, progress=progress, timeout=timeout) if wait else sweep

    def presets(self) -> list[Preset]:
        """The named sweeps that show the paper's claims; submit `preset.quick` or `preset.full`."""
        return [Preset.from_json(p) for p in self.get("/presets")]


def connect(url: str | None = None, token: str | None = None, timeout: float = 60.0) -> Client:
    """A client of the server at `url`; else $RESPHASE_URL, else the last `resphase up` still
    running (its record in ./resphase-data or $RESPHASE_DATA_DIR, then the user's state
    directory), else http://127.0.0.1:8000. `token` defaults to $RESPHASE_API_TOKEN."""
    token = token if token is not None else os.environ.get("RESPHASE_API_TOKEN") or None
    return Client(resolve_url(url), token, timeout)
