"""Bearer tokens: issuing, verifying, and the first-start admin token.

A token string is ``<token id>.<secret>``. The store keeps only the SHA-256 of
the whole string; verification looks the record up by id and compares hashes
in constant time. The secrets are 256 random bits, so a fast hash suffices.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from .errors import AlreadyExists, StoreError, Unauthenticated
from .models import PageRequest, Token, User, new_id, utcnow
from .store import Store

log = logging.getLogger(__name__)
BOOTSTRAP_ADMIN_NAME = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user and the token they presented."""

    user: User
    token: Token


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: Token
    secret: str  # shown once to the caller, never stored


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(user_id: str, description: str = "", ttl: timedelta | None = None) -> IssuedToken:
    """Make a new token record and its secret (not yet stored)."""
    token_id = new_id("tok")
    secret = f"{token_id}.{secrets.token_urlsafe(32)}"
    now = utcnow()
    token = Token(
        id=token_id,
        user_id=user_id,
        secret_hash=hash_secret(secret),
        description=description,
        created_at=now,
        expires_at=now + ttl if ttl else None,
    )
    return IssuedToken(token, secret)


def parse_bearer(header: str | None) -> str:
    """The token string of an ``authorization`` metadata value."""
    if not header:
        raise Unauthenticated("missing credentials: send metadata 'authorization: Bearer <token>'")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("malformed authorization metadata: expected 'Bearer <token>'")
    return value.strip()


def authenticate(store: Store, header: str | None) -> Principal:
    """Resolve an ``authorization`` value to a principal or raise ``Unauthenticated``."""
    secret = parse_bearer(header)
    token_id, dot, _ = secret.partition(".")
    token = store.get_token(token_id) if dot and token_id.startswith("tok_") else None
    # Hash even when the id is unknown so both paths cost the same.
    presented = hash_secret(secret)
    expected = token.secret_hash if token else hash_secret("")
    if token is None or not hmac.compare_digest(presented, expected):
        raise Unauthenticated("invalid token")
    if not token.is_active(utcnow()):
        raise Unauthenticated("token revoked or expired")
    user = store.get_user(token.user_id)
    if user is None:
        raise Unauthenticated("invalid token")
    return Principal(user, token)


def bootstrap_admin(store: Store, token_path: Path) -> Path | None:
    """On an empty store, create a global admin and write its token to ``token_path`` (0600).

    The file is written before the store records the token, so a failure can
    never leave an admin whose only token was lost; an admin left without any
    token by a start that died half-way gets one on the next start. Returns
    the path when a token was created, None when nothing had to be done.
    """
    with _exclusive(token_path.with_name(token_path.name + ".lock")):
        user = _bootstrap_user(store)
        if user is None:
            return None
        issued = issue_token(user.id, "created on first start")
        _write_private(token_path, issued.secret + "\n")
        try:
            if store.get_user(user.id) is None:
                store.create_user(user)
            store.create_token(issued.token)
        except AlreadyExists:  # another replica (with its own data dir) bootstrapped first
            token_path.unlink(missing_ok=True)
            return None
        except BaseException:
            token_path.unlink(missing_ok=True)
            raise
    log.info("created the first global admin token", extra={"path": str(token_path)})
    return token_path


def _bootstrap_user(store: Store) -> User | None:
    """The admin to issue a first token for, or None when the store is already set up."""
    if store.count_users() == 0:
        return User(new_id("usr"), BOOTSTRAP_ADMIN_NAME, "Administrator", True, utcnow())
    user = store.get_user_by_name(BOOTSTRAP_ADMIN_NAME)
    if user is None or not user.global_admin or store.list_tokens(user.id, PageRequest(limit=1)):
        return None
    return user


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock, so two servers sharing a data dir bootstrap one at a time."""
    try:
        lock_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot create {lock_path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            os.write(fd, text.encode())
            os.fsync(fd)
            os.close(fd)
            os.replace(tmp, path)  # mkstemp files are 0600 already
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise StoreError(f"cannot write the admin token to {path}: {exc.strerror or exc}") from None
