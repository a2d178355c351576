"""docker-compose.yml is shipped, not run here (no Docker engine): check that every command,
variable and file it names exists, and the team-mode guarantees it promises."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from backend.cli import build_parser
from backend.settings import Limits, Settings

REPO = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _settings_vars() -> set[str]:
    names = {f"RESPHASE_{f.upper()}" for f in Settings.model_fields}
    return names | {f"RESPHASE_LIMIT_{f.upper()}" for f in Limits.model_fields}


def test_services_and_their_commands_exist() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"postgres", "redis", "api", "worker"}
    parser = build_parser()
    for name in ("api", "worker"):
        command = services[name]["command"]
        assert command[0] == "resphase"
        args = parser.parse_args(command[1:])  # exits (fails the test) on an unknown flag
        assert args.command == name


def test_every_resphase_variable_is_a_setting() -> None:
    text = (REPO / "docker-compose.yml").read_text() + (REPO / "worker" / "Dockerfile").read_text()
    used = set(re.findall(r"RESPHASE_[A-Z_]+", text)) - {"RESPHASE_GPUS"}  # compose's own knob
    assert used, "no RESPHASE_ variables found"
    assert used <= _settings_vars(), used - _settings_vars()


def test_database_and_broker_urls_point_at_the_services() -> None:
    env = COMPOSE["services"]["worker"]["environment"]
    assert env["RESPHASE_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in env["RESPHASE_DATABASE_URL"]
    assert env["RESPHASE_BROKER_URL"].startswith("redis://redis:6379")
    assert "RESPHASE_API_TOKEN" in COMPOSE["services"]["api"]["environment"]  # non-loopback needs one


def test_redis_is_durable_and_never_evicts() -> None:
    command = " ".join(COMPOSE["services"]["redis"]["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command


def test_worker_reserves_one_gpu_each() -> None:
    deploy = COMPOSE["services"]["worker"]["deploy"]
    (device,) = deploy["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and device["count"] == 1
    assert "--device" in COMPOSE["services"]["worker"]["command"]


def test_the_image_build_copies_files_that_exist() -> None:
    for name in ("api", "worker"):
        build = COMPOSE["services"][name]["build"]
        dockerfile = REPO / build["context"] / build["dockerfile"]
        assert dockerfile.exists()
        for line in dockerfile.read_text().splitlines():
            if line.startswith("COPY "):
                for src in line.split()[1:-1]:
                    assert (REPO / src).exists(), src
