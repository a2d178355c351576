"""`resphase token create|list|revoke`: named API tokens, one per person, in the database the
server uses (RESPHASE_DATABASE_URL, else the embedded SQLite of the data directory)."""

from __future__ import annotations

import argparse
import sys

from backend.settings import get_settings
from backend.store import Database
from backend.store.tokens import create_token, list_tokens, revoke_token


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="token_command", required=True)
    create = sub.add_parser("create", help="a new token for NAME; printed once, stored hashed")
    create.add_argument("name")
    create.add_argument("--admin", action="store_true", help="may cancel and delete anyone's sweeps")
    sub.add_parser("list", help="the tokens' names (never the secrets)")
    revoke = sub.add_parser("revoke", help="revoke NAME's token at once")
    revoke.add_argument("name")


def main(args: argparse.Namespace) -> int:
    db = Database.connect(get_settings().resolved_database_url)
    try:
        with db.session() as s:
            if args.token_command == "create":
                try:
                    secret = create_token(s, args.name, admin=args.admin)
                except ValueError as exc:
                    print(f"resphase token: error: {exc}", file=sys.stderr)
                    return 2
                print(secret)
                print(f"token for {args.name}{' (admin)' if args.admin else ''}: shown once, keep it; "
                      "send it as 'Authorization: Bearer <token>'", file=sys.stderr)
            elif args.token_command == "list":
                for t in list_tokens(s):
                    print(f"{t.name}\t{'admin' if t.admin else 'user'}\t{t.created_at}")
            elif not revoke_token(s, args.name):
                print(f"resphase token: error: no token named {args.name!r}", file=sys.stderr)
                return 2
    finally:
        db.dispose()
    return 0
