"""Team access: named tokens (hashed, revocable), owners, admins, tokens for reads, rate limits
on costly routes; the single shared token keeps working. SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.main import create_app
from backend.settings import Settings
from backend.store import Database
from backend.store.tables import ApiToken
from backend.store.tokens import create_token
from tests.conftest import resphase_env

GRID = {"grid": {"alpha": [1], "D": [4], "L": [2], "M": [2]}}


def _client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings, run_reaper=False))


def _token(settings: Settings, name: str, admin: bool = False) -> dict[str, str]:
    db = Database.connect(settings.resolved_database_url)
    with db.session() as s:
        secret = create_token(s, name, admin=admin)
    db.dispose()
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def team(settings: Settings) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    tokens = {"alice": _token(settings, "alice"), "bob": _token(settings, "bob"),
              "root": _token(settings, "root", admin=True)}
    with _client(settings) as c:
        yield c, tokens


def test_owners_and_admins(team: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, tok = team
    assert client.post("/api/v1/sweeps", json=GRID).status_code == 401  # tokens exist: writes need one
    assert client.post("/api/v1/sweeps", json=GRID, headers={"Authorization": "Bearer nope"}).status_code == 401
    made = client.post("/api/v1/sweeps", json=GRID, headers=tok["alice"])
    assert made.status_code == 201 and made.json()["owner"] == "alice"
    sid = made.json()["id"]
    r = client.post(f"/api/v1/sweeps/{sid}/cancel", headers=tok["bob"])
    assert r.status_code == 403 and "alice" in r.json()["detail"]
    assert client.delete(f"/api/v1/sweeps/{sid}", headers=tok["bob"]).status_code == 403
    assert client.post(f"/api/v1/sweeps/{sid}/cancel", headers=tok["alice"]).status_code == 200
    assert client.delete(f"/api/v1/sweeps/{sid}", headers=tok["root"]).status_code == 204
    assert client.get("/api/v1/sweeps").status_code == 200  # reads stay open by default


def test_tokens_are_stored_hashed_and_revocable(settings: Settings, team: tuple[TestClient, dict]) -> None:
    client, tok = team
    secret = tok["bob"]["Authorization"].split()[1]
    db = Database.connect(settings.resolved_database_url)
    with db.read_session() as s:
        stored = s.scalars(select(ApiToken.token_hash)).all()
    db.dispose()
    assert secret not in stored and all(len(h) == 64 for h in stored)
    env = resphase_env(settings)
    out = subprocess.run([sys.executable, "-m", "backend.cli", "token", "list"], env=env, capture_output=True,
                         text=True, check=True).stdout
    listed = [line.split("\t")[:2] for line in out.splitlines()]
    assert listed == [["alice", "user"], ["bob", "user"], ["root", "admin"]]
    assert secret not in out
    revoke = subprocess.run([sys.executable, "-m", "backend.cli", "token", "revoke", "bob"], env=env,
                            capture_output=True, text=True)
    assert revoke.returncode == 0, revoke.stderr
    assert client.post("/api/v1/sweeps", json=GRID, headers=tok["bob"]).status_code == 401
    again = subprocess.run([sys.executable, "-m", "backend.cli", "token", "create", "alice"], env=env,
                           capture_output=True, text=True)
    assert again.returncode == 2 and "exists" in again.stderr
    new = subprocess.run([sys.executable, "-m", "backend.cli", "token", "create", "carol"], env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert client.post("/api/v1/sweeps", json=GRID, headers={"Authorization": f"Bearer {new}"}).status_code == 201


def test_the_shared_token_still_works_and_acts_as_admin(settings: Settings) -> None:
    alice = _token(settings, "alice")
    shared = settings.model_copy(update={"api_token": "s" * 24})
    with _client(shared) as client:
        sid = client.post("/api/v1/sweeps", json=GRID, headers=alice).json()["id"]
        assert client.post("/api/v1/sweeps", json=GRID).status_code == 401
        admin = {"Authorization": "Bearer " + "s" * 24}
        assert client.delete(f"/api/v1/sweeps/{sid}", headers=admin).status_code == 204


def test_open_mode_without_any_token(settings: Settings) -> None:
    with _client(settings) as client:
        made = client.post("/api/v1/sweeps", json=GRID)
        assert made.status_code == 201 and made.json()["owner"] is None
        assert client.delete(f"/api/v1/sweeps/{made.json()['id']}").status_code == 204


def test_reads_can_require_a_token(settings: Settings) -> None:
    alice = _token(settings, "alice")
    with _client(settings.model_copy(update={"require_token_for_reads": True})) as client:
        assert client.get("/api/v1/sweeps").status_code == 401
        assert client.get("/api/v1/sweeps/1/phase").status_code == 401
        assert client.get("/api/v1/sweeps", headers=alice).status_code == 200
        assert client.get("/api/v1/health").status_code in (200, 503) and client.get("/api/v1/meta").status_code == 200


def test_costly_routes_are_rate_limited_per_caller(settings: Settings) -> None:
    from backend.api import deps

    deps.COSTLY._seen.clear()
    alice, bob = _token(settings, "alice"), _token(settings, "bob")
    with _client(settings.model_copy(update={"costly_requests_per_minute": 3})) as client:
        sid = client.post("/api/v1/sweeps", json=GRID, headers=alice).json()["id"]
        fit = f"/api/v1/sweeps/{sid}/fit"
        codes = [client.get(fit, params={"n_boot": 0}, headers=alice).status_code for _ in range(4)]
        assert codes[:3] != [429] * 3 and codes[3] == 429
        r = client.get(fit, headers=alice)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1 and "costly_requests_per_minute" in r.text
        assert client.get(fit, params={"n_boot": 0}, headers=bob).status_code != 429  # per caller
        for agg in ("mean", "median", "min", "max", "median"):  # a slice reads typed columns: never limited
            assert client.get(f"/api/v1/sweeps/{sid}/phase", params={"agg": agg}, headers=alice).status_code == 200
    deps.COSTLY._seen.clear()
