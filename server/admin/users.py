"""Users, their tokens, and the caller's own identity."""

from __future__ import annotations

import builtins  # `list` in annotations after a method named list means the method
from dataclasses import dataclass
from datetime import timedelta

from ..access import Access
from ..auth import IssuedToken, Principal, issue_token
from ..errors import InvalidArgument, NotFound
from ..models import Token, User, new_id, utcnow
from ..paging import page_of, page_request
from ..store import Store
from ..validation import optional_text, require_user_name
from .members import MembershipView, describe

MAX_TOKEN_TTL = timedelta(days=3650)


@dataclass(frozen=True)
class Identity:
    user: User
    token: Token
    memberships: list[MembershipView]


class Users:
    def __init__(self, store: Store, access: Access) -> None:
        self._store = store
        self._access = access

    def create(
        self, principal: Principal, name: str, display_name: str, global_admin: bool
    ) -> User:
        self._access.require_global_admin(principal, "creating a user")
        user = User(
            id=new_id("usr"),
            name=require_user_name("name", name),
            display_name=optional_text("display_name", display_name.strip(), 128),
            global_admin=global_admin,
            created_at=utcnow(),
        )
        self._store.create_user(user)
        return user

    def list(self, principal: Principal, page_size: int, page_token: str) -> tuple[list[User], str]:
        self._access.require_global_admin(principal, "listing users")
        request = page_request("users", page_size, page_token)
        return page_of("users", self._store.list_users(request), request, key=lambda u: u.id)

    def create_token(
        self, principal: Principal, user_ref: str, description: str, ttl_seconds: int
    ) -> IssuedToken:
        user = self._subject(principal, user_ref, "issuing tokens for another user")
        if not 0 <= ttl_seconds <= MAX_TOKEN_TTL.total_seconds():
            raise InvalidArgument("ttl_seconds", "must be between 0 (never expires) and 10 years")
        ttl = _capped_ttl(principal, timedelta(seconds=ttl_seconds) if ttl_seconds else None)
        issued = issue_token(user.id, optional_text("description", description, 256), ttl)
        self._store.create_token(issued.token)
        return issued

    def list_tokens(
        self, principal: Principal, user_ref: str, page_size: int, page_token: str
    ) -> tuple[builtins.list[Token], str]:
        user = self._subject(principal, user_ref, "listing another user's tokens")
        listing = f"tokens:{user.id}"
        request = page_request(listing, page_size, page_token)
        items = self._store.list_tokens(user.id, request)
        return page_of(listing, items, request, key=lambda t: t.id)

    def revoke_token(self, principal: Principal, token_id: str) -> Token:
        if not token_id:
            raise InvalidArgument("token_id", "must not be empty")
        token = self._store.get_token(token_id)
        mine = token is not None and token.user_id == principal.user.id
        if token is None or not (mine or principal.user.global_admin):
            raise NotFound(f"token {token_id!r} not found")
        revoked = self._store.revoke_token(token_id, utcnow())
        if revoked is None:
            raise NotFound(f"token {token_id!r} not found")
        return revoked

    def whoami(self, principal: Principal) -> Identity:
        memberships = self._store.list_memberships_of_user(principal.user.id)
        return Identity(principal.user, principal.token, describe(self._store, memberships))

    def _subject(self, principal: Principal, user_ref: str, action: str) -> User:
        """The user an operation is about: the caller, or (for global admins) anyone."""
        if not user_ref or user_ref in (principal.user.id, principal.user.name):
            return principal.user
        self._access.require_global_admin(principal, action)
        return self._access.user(user_ref)


def _capped_ttl(principal: Principal, ttl: timedelta | None) -> timedelta | None:
    """A token never outlives the token that made it (global admins excepted).

    Otherwise a short-lived or leaked token could mint a permanent one.
    """
    expires_at = principal.token.expires_at
    if principal.user.global_admin or expires_at is None:
        return ttl
    remaining = expires_at - utcnow()
    return remaining if ttl is None else min(ttl, remaining)
