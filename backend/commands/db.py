"""`resphase db copy SRC DST [--sweep ID]`: copy sweeps and their results between stores.

SRC and DST are SQLAlchemy URLs (sqlite:///path, postgresql+psycopg://...) or a `resphase up`
data directory (its SQLite file). The destination is migrated first; see backend/store/copy.py
for what is copied and how a second copy finds everything already there."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from backend.settings import Settings
from backend.store import Database
from backend.store.copy import CopyReport, copy_store, work_size


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="db_command", required=True, parser_class=type(p))
    c = sub.add_parser("copy", help="copy sweeps, points, results and references to another store (idempotent)")
    c.add_argument("src", help="source: a SQLAlchemy URL or a `resphase up` data directory")
    c.add_argument("dst", help="destination: a SQLAlchemy URL or a data directory (created and migrated)")
    c.add_argument("--sweep", type=int, default=None, metavar="ID",
                   help="copy only this sweep and the points, results and references it uses")
    c.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")


def store_url(text: str) -> str:
    """A URL as given, or a data directory's SQLite file (the same file `resphase up` uses)."""
    if "://" in text:
        return text
    return Settings(data_dir=Path(text), database_url="").resolved_database_url


def summary_line(r: CopyReport) -> str:
    return (f"copied {r.sweeps_added} sweeps ({r.sweeps_present} already there), {r.points_added} points "
            f"({r.points_present} already there), {r.results_added} results, {r.links_added} sweep-point links, "
            f"{r.references_added} references ({r.references_present} already there)")


def copy(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    src_url, dst_url = store_url(args.src), store_url(args.dst)
    if src_url.startswith("sqlite") and not Path(src_url.split("///", 1)[-1]).is_file():
        raise LookupError(f"no database at {src_url}")
    src = Database.connect(src_url, migrate=False)
    dst = Database.connect(dst_url)
    try:
        with tqdm(total=work_size(src, args.sweep), desc="copy", unit="item", file=sys.stderr,
                  disable=None if args.progress is None else not args.progress) as bar:
            report = copy_store(src, dst, args.sweep, progress=bar.update)
    finally:
        src.dispose()
        dst.dispose()
    print(summary_line(report))
    return 0


def main(args: argparse.Namespace) -> int:
    try:
        return copy(args)
    except LookupError as exc:
        print(f"resphase db copy: error: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:  # unreachable server, bad URL, a schema that is not resphase's
        print(f"resphase db copy: error: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
