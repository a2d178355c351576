"""Named API tokens: created once (the secret is shown then and never stored), looked up by
hash, revoked by name. Tokens are 32 random bytes, so a plain SHA-256 is a safe hash for them."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.store.tables import ApiToken, utcnow

TOKEN_PREFIX = "rp_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    name: str
    admin: bool
    created_at: str


def create_token(session: Session, name: str, admin: bool = False) -> str:
    """A new token for `name` (ValueError if the name is taken or unfit); returns the secret."""
    if not name or len(name) > 100 or not name.isprintable():
        raise ValueError("a token name is 1 to 100 printable characters")
    if session.get(ApiToken, name) is not None:
        raise ValueError(f"a token named {name!r} exists (revoke it first, or choose another name)")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=token_hash(secret), admin=admin, created_at=utcnow()))
    return secret


def revoke_token(session: Session, name: str) -> bool:
    """Revoke the token (its row goes, the name is free again); False when there is none of that name."""
    token = session.get(ApiToken, name)
    if token is None:
        return False
    session.delete(token)
    return True


def list_tokens(session: Session) -> list[TokenInfo]:
    return [TokenInfo(t.name, t.admin, t.created_at.isoformat() + "Z")
            for t in session.scalars(select(ApiToken).order_by(ApiToken.name))]


def lookup(session: Session, token: str) -> tuple[str, bool] | None:
    """(name, admin) of the live token with this secret, or None."""
    row = session.execute(select(ApiToken.name, ApiToken.admin).where(ApiToken.token_hash == token_hash(token))).first()
    return None if row is None else (row[0], bool(row[1]))


def any_tokens(session: Session) -> bool:
    return session.scalar(select(ApiToken.name).limit(1)) is not None


__all__ = ["TokenInfo", "any_tokens", "create_token", "list_tokens", "lookup", "revoke_token", "token_hash"]
