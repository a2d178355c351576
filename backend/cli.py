"""The `resphase` command. Subcommands that compute import the worker (torch) lazily, inside
the subcommand, so that `resphase --help` and the API process never load it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from backend import __version__
from backend.commands import run


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return run.main(args)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
