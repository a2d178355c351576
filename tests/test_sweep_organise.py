"""Organising sweeps: tags and notes (in the spec and by PATCH, owner or admin), search by name,
tag and owner with pagination and a total in a fixed number of queries, honest labels and the
time left. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.api.sweep_progress import PRIOR_POINTS, remaining_seconds
from backend.commands.reproduce import run_tag, specs_for, submit_run
from backend.main import create_app
from backend.settings import Settings
from backend.store import Database
from backend.store.points import claim, release
from backend.store.sweep_reads import PointWork, sweep_record
from backend.store.tables import utcnow
from backend.sweep_tags import MAX_NOTE_CHARS, MAX_TAG_CHARS, MAX_TAGS, clean_tags
from tests.test_api import _statements, compute_all
from tests.test_tokens import _token

GRID: dict[str, Any] = {"grid": {"alpha": [1, 4], "D": [8], "L": [4], "M": [4]}, "settings": {"seeds": 2, "steps": 3}}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, run_reaper=False)) as c:
        yield c


def _post(client: TestClient, name: str, tags: list[str] | None = None, m: int = 4, **kw: Any) -> dict[str, Any]:
    body = {**GRID, "name": name, "grid": {**GRID["grid"], "M": [m]}, **({"tags": tags} if tags is not None else {})}
    r = client.post("/api/v1/sweeps", json=body, **kw)
    assert r.status_code == 201, r.text
    return r.json()


def test_tags_in_the_spec_and_patch(client: TestClient) -> None:
    s = _post(client, "lr scan", [" mlu ", "lr", "mlu"])
    assert s["tags"] == ["mlu", "lr"] and s["note"] == ""  # trimmed, once each, in order
    r = client.patch(f"/api/v1/sweeps/{s['id']}", json={"note": "lr 10 diverges at L = 64\nsee run 3"})
    assert r.status_code == 200 and r.json()["note"].startswith("lr 10") and r.json()["tags"] == ["mlu", "lr"]
    r = client.patch(f"/api/v1/sweeps/{s['id']}", json={"tags": ["plain"]})
    assert r.json()["tags"] == ["plain"] and r.json()["note"].endswith("run 3")
    got = client.get(f"/api/v1/sweeps/{s['id']}").json()
    assert got["tags"] == ["plain"] and got["note"].endswith("run 3")
    assert client.patch("/api/v1/sweeps/999999", json={"note": "x"}).status_code == 404
    assert client.patch(f"/api/v1/sweeps/{s['id']}", json={"colour": "red"}).status_code == 422


@pytest.mark.parametrize(("body", "limit"), [
    ({"tags": [f"t{i}" for i in range(MAX_TAGS + 1)]}, "max_tags"),
    ({"tags": ["x" * (MAX_TAG_CHARS + 1)]}, "max_tag_chars"),
    ({"note": "n" * (MAX_NOTE_CHARS + 1)}, "max_note_chars"),
    ({"tags": ["a,b"]}, "commas"),
    ({"tags": ["  "]}, "empty"),
    ({"note": "bad\x00"}, "control characters"),
])
def test_annotation_limits_are_422_naming_the_limit(client: TestClient, body: dict[str, Any], limit: str) -> None:
    sid = _post(client, "limits")["id"]
    r = client.patch(f"/api/v1/sweeps/{sid}", json=body)
    assert r.status_code == 422 and limit in r.text, r.text
    if "tags" in body:  # the spec refuses them the same way
        r = client.post("/api/v1/sweeps", json={**GRID, **body})
        assert r.status_code == 422 and limit in r.text and r.json()["detail"][0]["loc"][:2] == ["body", "tags"]


def test_search_by_name_tag_and_owner_with_pages(settings: Settings) -> None:
    alice, bob = _token(settings, "alice"), _token(settings, "bob")
    with TestClient(create_app(settings, run_reaper=False)) as client:
        for i in range(7):
            _post(client, f"Depth scan {i}", ["run:r1"] if i % 2 else ["other_tag"], m=4 + i, headers=alice)
        _post(client, "50%_odd name", ["run:r1"], m=20, headers=bob)

        def ids(**params: Any) -> tuple[list[int], int]:
            r = client.get("/api/v1/sweeps", params=params)
            assert r.status_code == 200, r.text
            return [s["id"] for s in r.json()], int(r.headers["X-Total-Count"])

        everything, total = ids()
        assert total == 8 and len(everything) == 8 and everything == sorted(everything, reverse=True)
        assert ids(name="depth SCAN")[1] == 7
        assert ids(name="50%_")[1] == 1 and ids(name="0%x")[1] == 0  # % and _ are literal, not wildcards
        assert ids(tag="run:r1")[1] == 4 and ids(tag="run:r")[1] == 0  # tags match exactly
        assert ids(owner="bob") == ([everything[0]], 1)
        assert ids(tag="run:r1", owner="alice")[1] == 3
        page1, page2, page3 = (ids(limit=3, offset=o) for o in (0, 3, 6))
        assert page1[0] + page2[0] + page3[0] == everything and page3[1] == 8 and len(page3[0]) == 2
        assert ids(offset=100) == ([], 8)
        few, _ = _statements(client, "/api/v1/sweeps?tag=run:r1&limit=1")
        many, listed = _statements(client, "/api/v1/sweeps?limit=500")
        assert few == many and len(listed) == 8  # a fixed number of queries, however many sweeps
        assert client.get("/api/v1/sweeps", params={"tag": "x" * (MAX_TAG_CHARS + 1)}).status_code == 422
        assert client.get("/api/v1/sweeps", params={"offset": -1}).status_code == 422


def test_annotating_needs_the_owner_or_an_admin(settings: Settings) -> None:
    alice, bob, root = _token(settings, "alice"), _token(settings, "bob"), _token(settings, "root", admin=True)
    with TestClient(create_app(settings, run_reaper=False)) as client:
        sid = _post(client, "mine", headers=alice)["id"]
        assert client.patch(f"/api/v1/sweeps/{sid}", json={"note": "x"}).status_code == 401
        r = client.patch(f"/api/v1/sweeps/{sid}", json={"note": "x"}, headers=bob)
        assert r.status_code == 403 and "alice" in r.json()["detail"]
        assert client.patch(f"/api/v1/sweeps/{sid}", json={"tags": ["a"]}, headers=alice).json()["tags"] == ["a"]
        assert client.patch(f"/api/v1/sweeps/{sid}", json={"note": "ok"}, headers=root).json()["note"] == "ok"


def test_labels_queued_running_failures_cancelled(client: TestClient, settings: Settings) -> None:
    queued = _post(client, "queued only")
    assert queued["label"] == "queued" and queued["state"] == "running"
    assert 0 < queued["remaining_s"] <= queued["estimated_s"]  # the model's price, references aside
    db = Database.connect(settings.resolved_database_url)
    page = client.get(f"/api/v1/sweeps/{queued['id']}/points").json()["items"]
    with db.session() as s:
        claim(s, [page[0]["id"]], "w", "h", "cpu", 60, 1)
    assert client.get(f"/api/v1/sweeps/{queued['id']}").json()["label"] == "running"
    with db.session() as s:
        release(s, [page[0]["id"]], "w", "out of memory", 1)  # its last attempt: failed
    db.dispose()
    compute_all(settings, client, queued["id"])
    s = client.get(f"/api/v1/sweeps/{queued['id']}").json()
    assert s["counts"]["failed"] == 1 and s["counts"]["done"] == 1
    assert s["state"] == "finished" and s["label"] == "finished_with_failures" and s["remaining_s"] == 0
    cancelled = _post(client, "to cancel", m=6)
    assert client.post(f"/api/v1/sweeps/{cancelled['id']}/cancel").json()["label"] == "cancelled"


def test_time_left_follows_the_model_then_the_observed_speed(client: TestClient, settings: Settings) -> None:
    sid = _post(client, "timing")["id"]
    db = Database.connect(settings.resolved_database_url)
    with db.read_session() as s:
        rec = sweep_record(s, sid)
    db.dispose()
    assert rec is not None
    rec = replace(rec, estimated_s=3600.0)  # an hour's sweep, so that the clock's resolution is no matter
    now = utcnow()
    model = remaining_seconds(rec, now, False)
    assert model is not None and model > 0
    assert remaining_seconds(rec, now + timedelta(hours=1), False) == model  # no count-down without progress
    # half the flops computed by a worker 10x faster than the model: the figure moves toward 10x less
    per_s = rec.estimated_s / rec.estimated_flops
    half = rec.work.flops["queued"] / 2
    for n in (1, 8):
        work = PointWork(flops={"queued": half, "done": half}, computed=n, computed_flops=half,
                         first_started_at=now - timedelta(seconds=half * per_s / 10), last_computed_at=now)
        left = remaining_seconds(replace(rec, work=work), now, False)
        trust = n / (n + PRIOR_POINTS)
        assert left is not None and left == pytest.approx(half * per_s * 10 ** -trust, rel=1e-6)
        # later, with no new point: it counts down from the last completion, never grows, stops at 0
        later = [remaining_seconds(replace(rec, work=work), now + timedelta(seconds=t), False) for t in (1, 5, 1e6)]
        assert later[0] == pytest.approx(left - 1, abs=1e-6) and later[1] == pytest.approx(left - 5, abs=1e-6)
        assert later[2] == 0
    assert remaining_seconds(rec, now, True) == 0.0


def test_a_reproduce_run_is_one_tag(client: TestClient) -> None:
    """`resphase reproduce --url` submits its sweeps (a preset and its controls) with one run tag:
    the list filters them together, apart from another run and from other sweeps."""
    specs = specs_for(["D-scaling"], "quick", controls=True)
    assert len(specs) >= 2
    first, second = run_tag(), run_tag()
    assert first != second and first.startswith("run:") and clean_tags([first]) == [first]
    api = TestClient(client.app, base_url="http://testserver/api/v1")  # as reproduce's own client
    ids = submit_run(api, specs, first)
    submit_run(api, dict(list(specs.items())[:1]), second)
    _post(client, "unrelated")
    listed = client.get("/api/v1/sweeps", params={"tag": first})
    assert sorted(s["id"] for s in listed.json()) == sorted(ids.values())
    assert int(listed.headers["X-Total-Count"]) == len(specs)
    assert all(s["tags"][-2:] == ["reproduce", first] for s in listed.json())
    assert int(client.get("/api/v1/sweeps", params={"tag": "reproduce"}).headers["X-Total-Count"]) == len(specs) + 1
