"""GET /sweeps/{id}/table: the points table, filtered, sorted and paged in SQL, against SQLite and
PostgreSQL. The filled sweep has synthetic results recorded through the store's own claim and
record (benchmarks.api_fill), so every status, regime and metric below is what the store holds."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from backend.metrics import METRIC_NAMES
from backend.settings import Settings
from backend.store import Database
from benchmarks.api_fill import fill


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, run_reaper=False)) as c:
        yield c


@pytest.fixture
def filled(db: Database) -> int:
    """A sweep of 200 points (alpha 4 x L 5 x D 5 x M 2), every one recorded."""
    return fill(db, 200, random.Random(7), lambda _msg: None).sweep_id


def table(client: TestClient, sid: int, **params: Any) -> Any:
    r = client.get(f"/api/v1/sweeps/{sid}/table", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def every_row(client: TestClient, sid: int) -> list[dict[str, Any]]:
    return list(table(client, sid, limit=5000)["items"])


def test_sorted_by_a_metric_in_both_orders_and_paged_without_overlap(client: TestClient, filled: int) -> None:
    rows = every_row(client, filled)
    assert len(rows) == 200 and [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert set(rows[0]["metrics"]) == set(METRIC_NAMES)
    for order in ("asc", "desc"):
        pages = [table(client, filled, sort="err_out", order=order, offset=k, limit=60) for k in (0, 60, 120, 180)]
        assert all(p["total"] == 200 for p in pages)
        got = [r for p in pages for r in p["items"]]
        assert len({r["id"] for r in got}) == 200
        means = [r["metrics"]["err_out"]["mean"] for r in got]
        finite = [m for m in means if m is not None]
        assert finite == sorted(finite, reverse=order == "desc")
        assert means[:len(finite)] == finite  # points without a value come last either way
    stats = rows[0]["metrics"]["feature_update"]
    assert stats["n"] >= 1 and stats["mean"] is not None


def test_filters_by_status_regime_range_and_ids(client: TestClient, filled: int) -> None:
    rows = every_row(client, filled)
    by_regime: dict[str, int] = {}
    for r in rows:
        by_regime[r["regime"]] = by_regime.get(r["regime"], 0) + 1
    regime = max(by_regime, key=by_regime.__getitem__)
    got = table(client, filled, regime=regime, limit=5000)
    assert got["total"] == by_regime[regime] and {r["regime"] for r in got["items"]} == {regime}
    done = table(client, filled, status="done", limit=5000)
    assert done["total"] == sum(r["status"] == "done" for r in rows)
    assert table(client, filled, status="queued")["total"] == 0
    values = sorted(r["metrics"]["feature_update"]["mean"] for r in rows if r["metrics"]["feature_update"]["mean"])
    lo, hi = values[50], values[150]
    ranged = table(client, filled, where=f"feature_update:{lo!r}:{hi!r},L::4", limit=5000)
    want = [r["id"] for r in rows if r["L"] <= 4 and (m := r["metrics"]["feature_update"]["mean"]) is not None
            and lo <= m <= hi]
    assert ranged["total"] == len(want) > 0 and sorted(r["id"] for r in ranged["items"]) == want
    pick = [rows[3]["id"], rows[17]["id"], 2**40]
    chosen = table(client, filled, ids=",".join(map(str, pick)), metrics="err_out,laziness")
    assert [r["id"] for r in chosen["items"]] == pick[:2]
    assert set(chosen["items"][0]["metrics"]) == {"err_out", "laziness"}


def test_an_uncomputed_sweep_sorts_by_a_metric_and_filters_by_queue_state(client: TestClient) -> None:
    body = {"grid": {"alpha": [1, 4], "D": [8], "L": [4, 8], "M": [4]}, "settings": {"seeds": 2, "steps": 3}}
    sid = client.post("/api/v1/sweeps", json=body).json()["id"]
    page = table(client, sid, sort="err_out", order="desc", status="queued,running")
    assert page["total"] == 4 and all(r["regime"] is None and r["metrics"]["err_out"]["n"] == 0 for r in page["items"])
    assert table(client, sid, regime="lazy")["total"] == 0  # a regime filter keeps computed points only
    assert table(client, sid, sort="alpha", order="desc")["items"][0]["alpha"] == 4


@pytest.mark.parametrize(("params", "param"), [
    ({"sort": "nope"}, "sort"), ({"order": "up"}, "order"), ({"status": "done,lost"}, "status"),
    ({"regime": "confused"}, "regime"), ({"where": "nope:0:1"}, "where"), ({"where": "err_out:a:1"}, "where"),
    ({"where": "err_out:nan:1"}, "where"), ({"where": "err_out::"}, "where"), ({"where": "err_out:1"}, "where"),
    ({"ids": "1,x"}, "ids"), ({"metrics": "err_out,bogus"}, "metrics"), ({"limit": 5001}, "limit"),
    ({"offset": -1}, "offset"),
])
def test_bad_parameters_are_422_naming_the_parameter(client: TestClient, params: dict[str, Any], param: str) -> None:
    sid = client.post("/api/v1/sweeps", json={"grid": {"alpha": [1], "D": [8], "L": [4], "M": [4]}}).json()["id"]
    r = client.get(f"/api/v1/sweeps/{sid}/table", params=params)
    assert r.status_code == 422, r.text
    assert [d["loc"] for d in r.json()["detail"]] == [["query", param]]


def test_unknown_sweep_is_404(client: TestClient) -> None:
    assert client.get("/api/v1/sweeps/999/table").status_code == 404
    assert client.get("/api/v1/sweeps/99999999999/table").status_code == 404
