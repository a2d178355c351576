"""The `resphase` command. Subcommands that compute import the worker (torch) lazily, inside
the subcommand, so that `resphase --help` and the API process never load it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from backend import __version__
from backend.commands import client, db, reproduce, run, serve, token


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (exit status 2), without the usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="resphase", description=__doc__)
    parser.add_argument("--version", action="version", version=f"resphase {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run.add_arguments(sub.add_parser(
        "run", help="train a grid of (alpha, D, L, M) in this process and print the diagnostics"))
    p = sub.add_parser("up", help="API + one worker on SQLite and the filesystem broker (embedded mode)")
    serve.add_api_args(p)
    p.add_argument("--device", default="auto", help="the worker's device")
    serve.add_api_args(sub.add_parser("api", help="the API server alone (team mode)"))
    serve.add_worker_args(sub.add_parser("worker", help="a Celery worker (team mode)"))

    sweep = sub.add_parser("sweep", help="submit and follow sweeps on a running server")
    sweep_sub = sweep.add_subparsers(dest="sweep_command", required=True, parser_class=_Parser)
    p = sweep_sub.add_parser("submit", help="POST a sweep spec (JSON file)")
    p.add_argument("file")
    p.add_argument("--wait", action="store_true", help="follow progress until the sweep finishes")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between progress polls")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    client.add_client_args(p)
    p = sweep_sub.add_parser("list", help="the newest sweeps (optionally those matching a search)")
    p.add_argument("--name", help="a case-insensitive substring of the name")
    p.add_argument("--tag", help="one exact tag (run:<id>: the sweeps of one `reproduce --url` run)")
    p.add_argument("--owner", help="the token name that created them")
    p.add_argument("--limit", type=int, default=50)
    client.add_client_args(p)
    p = sweep_sub.add_parser("status", help="one sweep's counts and progress")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true")
    client.add_client_args(p)

    reproduce.add_arguments(sub.add_parser(
        "reproduce", help="run the presets and check the paper's claims (verdict table, HTML report)"))

    token.add_arguments(sub.add_parser("token", help="named API tokens: create, list, revoke"))
    db.add_arguments(sub.add_parser("db", help="copy sweeps and results between stores (SQLite <-> PostgreSQL)"))

    p = sub.add_parser("export", help="download a sweep's results, one row per point and seed")
    p.add_argument("id", type=int)
    p.add_argument("--format", choices=["csv", "json", "parquet"], default="csv")
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    client.add_client_args(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return run.main(args)
    if args.command == "up":
        return serve.up(args)
    if args.command == "api":
        return serve.api(args)
    if args.command == "worker":
        return serve.worker(args)
    if args.command == "reproduce":
        return reproduce.main(args)
    if args.command == "token":
        return token.main(args)
    if args.command == "db":
        return db.main(args)
    if args.command == "export":
        return client.run_client(client.handler("export"), args)
    return client.run_client(client.handler(args.sweep_command), args)


if __name__ == "__main__":
    sys.exit(main())
