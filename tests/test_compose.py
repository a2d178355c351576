"""docker-compose.yml and worker/Dockerfile are shipped, not run here (no Docker engine): check that
they agree with the code and with each other. Every `resphase` command is a real subcommand whose
flags parse (and whose --help runs), every RESPHASE_ variable is a Settings field, the image installs
the built wheel with the worker extra, the API's port, healthchecks, dependencies, URLs and volumes
line up, and the team-mode guarantees (durable Redis, a GPU per worker) hold."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from backend.cli import build_parser
from backend.settings import Limits, Settings

REPO = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
RESPHASE_SERVICES = [name for name, s in SERVICES.items() if "build" in s]
COMPOSE_KNOBS = {"RESPHASE_GPUS"}  # compose's own variable (replicas), not a setting


def _dockerfile(service: str) -> Path:
    build = SERVICES[service]["build"]
    return REPO / build["context"] / build["dockerfile"]


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile line, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def _settings_vars() -> set[str]:
    names = {f"RESPHASE_{f.upper()}" for f in Settings.model_fields}
    return names | {f"RESPHASE_LIMIT_{f.upper()}" for f in Limits.model_fields}


def _image_cmd(service: str) -> list[str]:
    (cmd,) = [args for ins, args in _instructions(_dockerfile(service)) if ins == "CMD"]
    return list(yaml.safe_load(cmd))  # the exec form is a JSON (so YAML) list


def test_services_are_the_team_mode_set() -> None:
    assert set(SERVICES) == {"postgres", "redis", "api", "worker"}
    assert sorted(RESPHASE_SERVICES) == ["api", "worker"]


@pytest.mark.parametrize("service", ["api", "worker"])
def test_each_command_is_a_real_subcommand(service: str) -> None:
    for command in (SERVICES[service]["command"], _image_cmd(service)):
        assert command[0] == "resphase", command
        args = build_parser().parse_args(command[1:])  # SystemExit (fails) on an unknown subcommand or flag
        if command is SERVICES[service]["command"]:
            assert args.command == service


@pytest.mark.slow
def test_each_subcommand_runs_its_help() -> None:
    """The installed entry point's parser, in a fresh process, knows each subcommand compose names."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for service in RESPHASE_SERVICES:
        sub = SERVICES[service]["command"][1]
        done = subprocess.run([sys.executable, "-m", "backend.cli", sub, "--help"], capture_output=True,
                              text=True, env=env, timeout=60)
        assert done.returncode == 0, (sub, done.stderr)
        assert f"resphase {sub}" in done.stdout


def test_every_resphase_variable_is_a_setting() -> None:
    text = (REPO / "docker-compose.yml").read_text() + (REPO / "worker" / "Dockerfile").read_text()
    used = set(re.findall(r"RESPHASE_[A-Z_]+", text)) - COMPOSE_KNOBS
    assert used, "no RESPHASE_ variables found"
    assert used <= _settings_vars(), used - _settings_vars()
    for service in RESPHASE_SERVICES:  # the parsed environments (anchors merged), key by key
        env = SERVICES[service].get("environment", {})
        assert set(env) <= _settings_vars(), set(env) - _settings_vars()
        for key, value in env.items():
            if "${" not in str(value):  # a literal value must be valid for its setting
                field = key.removeprefix("RESPHASE_").lower()
                Settings(**{field: value})


def test_database_and_broker_urls_point_at_the_services() -> None:
    pg = SERVICES["postgres"]["environment"]
    for service in RESPHASE_SERVICES:
        env = SERVICES[service]["environment"]
        db = urlsplit(env["RESPHASE_DATABASE_URL"])
        assert db.scheme == "postgresql+psycopg" and (db.hostname, db.port) == ("postgres", 5432)
        assert (db.username, db.password, db.path) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"],
                                                       "/" + pg["POSTGRES_DB"])
        broker = urlsplit(env["RESPHASE_BROKER_URL"])
        assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379)
        assert env["RESPHASE_DATA_DIR"] == "/data"
    assert "RESPHASE_API_TOKEN" in SERVICES["api"]["environment"]  # non-loopback needs one


def test_api_port_is_published_and_matches_its_command() -> None:
    args = build_parser().parse_args(SERVICES["api"]["command"][1:])
    assert args.host == "0.0.0.0"  # reachable from outside the container
    (mapping,) = SERVICES["api"]["ports"]
    host_port, container_port = str(mapping).rsplit(":", 2)[-2:]
    assert int(container_port) == args.port and int(host_port) > 0
    exposed = [args_ for ins, args_ in _instructions(_dockerfile("api")) if ins == "EXPOSE"]
    assert exposed == [str(args.port)]
    assert build_parser().parse_args(_image_cmd("api")[1:]).port == args.port  # the image's default command


def test_dependencies_exist_and_are_health_checked() -> None:
    declared_volumes = set(COMPOSE.get("volumes") or {})
    for name, service in SERVICES.items():
        for dep, rule in (service.get("depends_on") or {}).items():
            assert dep in SERVICES, f"{name} depends on unknown service {dep}"
            if rule.get("condition") == "service_healthy":
                assert "healthcheck" in SERVICES[dep], f"{name} waits for {dep}, which has no healthcheck"
        for volume in service.get("volumes") or []:
            source = str(volume).split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared_volumes, f"{name} mounts undeclared volume {source}"
    for service in RESPHASE_SERVICES:
        assert set(SERVICES[service]["depends_on"]) == {"postgres", "redis"}


def test_redis_is_durable_and_never_evicts() -> None:
    command = " ".join(SERVICES["redis"]["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command


def test_worker_reserves_one_gpu_each() -> None:
    deploy = SERVICES["worker"]["deploy"]
    (device,) = deploy["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and device["count"] == 1
    args = build_parser().parse_args(SERVICES["worker"]["command"][1:])
    assert args.device == "cuda" and args.concurrency == 1


def test_the_image_installs_the_built_wheel_with_the_worker_extra() -> None:
    for service in RESPHASE_SERVICES:
        steps = _instructions(_dockerfile(service))
        runs = [args for ins, args in steps if ins == "RUN"]
        assert not any(re.search(r"pip install .*(-e|--editable)\b", run) for run in runs), runs
        (build,) = [run for run in runs if re.search(r"pip wheel .*-w (\S+)", run)]
        wheel_dir = re.search(r"-w (\S+)", build).group(1)  # type: ignore[union-attr]
        installs = [run for run in runs if "pip install" in run and wheel_dir in run]
        assert installs and all("resphase-*.whl" in run and "[worker]" in run for run in installs), runs
        copies = [args for ins, args in steps if ins == "COPY" and args.startswith("--from=")]
        assert any(wheel_dir in shlex.split(args)[1:] for args in copies), "the wheel never reaches the image"
        torch_first = next(i for i, run in enumerate(runs) if "torch==" in run)
        assert torch_first < runs.index(installs[0]), "torch must be installed first, pinned"
        pyproject = (REPO / "pyproject.toml").read_text()
        pinned = re.search(r"torch==[0-9.]+", runs[torch_first]).group(0)  # type: ignore[union-attr]
        assert f'"{pinned}"' in pyproject, f"the image pins {pinned}, pyproject.toml another"


def test_the_image_build_copies_files_that_exist() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    for service in RESPHASE_SERVICES:
        for ins, args in _instructions(_dockerfile(service)):
            if ins == "COPY" and not args.startswith("--from="):
                for src in shlex.split(args)[:-1]:
                    assert (REPO / src).exists(), src
    for needed in ("pyproject.toml", "setup.py", "README.md", "backend", "worker", "frontend"):
        assert needed not in ignored and (REPO / needed).exists(), needed
