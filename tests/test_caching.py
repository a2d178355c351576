"""gzip and cache validation over real HTTP (the app in a uvicorn subprocess, SQLite): Plotly's
bundle and the page's files gzipped, JSON answers gzipped with ETags, 304 on If-None-Match."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.main import plotly_js_path
from benchmarks.api_backends import api_server

GZIP = {"Accept-Encoding": "gzip"}
SWEEP = {"name": "cache", "grid": {"alpha": [1, 4], "D": [8], "L": [4], "M": [4]}, "settings": {"seeds": 1, "steps": 2}}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("caching")
    (tmp / "data").mkdir()
    with api_server(f"sqlite:///{tmp / 'db.sqlite3'}", tmp / "data") as url:
        yield url


def raw_get(base: str, path: str, **headers: str) -> tuple[httpx.Response, bytes]:
    """GET without decoding the body: the response and the bytes on the wire, as sent."""
    with httpx.Client(base_url=base, timeout=30) as c, c.stream("GET", path, headers=headers) as r:
        return r, b"".join(r.iter_raw())


def test_plotly_is_sent_gzipped_and_revalidated(base: str) -> None:
    bundle = plotly_js_path().read_bytes()
    r, body = raw_get(base, "/vendor/plotly.min.js", **GZIP)
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == bundle and len(body) < 0.4 * len(bundle)
    assert "max-age" in r.headers["cache-control"] and "content-security-policy" in r.headers
    again, empty = raw_get(base, "/vendor/plotly.min.js", **GZIP, **{"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and empty == b""
    plain, as_is = raw_get(base, "/vendor/plotly.min.js", **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and as_is == bundle


def test_page_files_are_gzipped_with_etags(base: str) -> None:
    source = Path(__file__).resolve().parent.parent / "frontend" / "js" / "phase.js"
    r, body = raw_get(base, "/js/phase.js", **GZIP)
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip" and r.headers["cache-control"] == "no-cache"
    assert gzip.decompress(body) == source.read_bytes()
    assert raw_get(base, "/js/phase.js", **GZIP, **{"If-None-Match": r.headers["etag"]})[0].status_code == 304


def test_json_answers_are_gzipped_and_304_until_they_change(base: str) -> None:
    meta, _ = raw_get(base, "/api/v1/meta", **GZIP)
    assert meta.status_code == 200 and meta.headers["content-encoding"] == "gzip" and meta.headers["etag"]
    assert meta.headers["cache-control"] == "no-cache"
    assert raw_get(base, "/api/v1/meta", **{"If-None-Match": meta.headers["etag"]})[0].status_code == 304
    with httpx.Client(base_url=base, timeout=30) as c:
        sid = c.post("/api/v1/sweeps", json=SWEEP).json()["id"]
        first = c.get(f"/api/v1/sweeps/{sid}/cells")
        assert first.status_code == 200 and first.headers["etag"].startswith('W/"')
        unchanged = c.get(f"/api/v1/sweeps/{sid}/cells", headers={"If-None-Match": first.headers["etag"]})
        assert unchanged.status_code == 304 and unchanged.content == b""
        c.post(f"/api/v1/sweeps/{sid}/cancel")
        changed = c.get(f"/api/v1/sweeps/{sid}/cells", headers={"If-None-Match": first.headers["etag"]})
        assert changed.status_code == 200 and {x["status"] for x in changed.json()["cells"]} == {"cancelled"}
        export = c.get(f"/api/v1/sweeps/{sid}/export", params={"format": "csv"})
        assert export.status_code == 200 and "etag" not in export.headers  # streamed: passed through
