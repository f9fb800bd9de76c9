"""Credentials written into a URL: ``scheme://user:password@host/…``.

A connector's config may hold such a URL (a git remote, a Jira site). The
server treats those credentials as a secret: it keeps the URL as given with
the write-only secrets and shows it without them (see
``projectqa.server.admin.connectors``); connectors that connect with such a
URL send the credentials in a header or through a credential helper, and
show the URL without them in messages and links.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

# The userinfo runs up to the authority's last "@", as in urlsplit and curl.
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<userinfo>[^/?#]*)@")
# Schemes whose user name names an account (ssh://git@host), not a credential.
_ACCOUNT_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git"})


def without_credentials(url: str) -> str:
    """``url`` without the credentials in its userinfo; any other string as it is.

    A user name alone is a credential too (``https://<token>@host`` is how many
    hosts take a token), except on ssh, where it names the account to log in as.
    """
    match = _USERINFO.match(url)
    if match is None:
        return url
    user, has_password, _ = match["userinfo"].partition(":")
    scheme = match["scheme"].lower()
    keep = f"{user}@" if scheme in _ACCOUNT_SCHEMES else ""
    if keep and not has_password:
        return url
    return f"{match['scheme']}://{keep}{url[match.end() :]}"


def has_credentials(value: object) -> bool:
    """True if ``value`` is a string holding a URL with credentials in it."""
    return isinstance(value, str) and without_credentials(value) != value


def login(url: str) -> tuple[str, str] | None:
    """The decoded ``(user, password)`` written in ``url``, or None if it holds none."""
    match = _USERINFO.match(url)
    if match is None or not has_credentials(url):
        return None
    user, _, password = match["userinfo"].partition(":")
    return unquote(user), unquote(password)


def written_credentials(url: str) -> list[str]:
    """The credentials in ``url`` as written there and decoded: what must never be shown
    of it (the user name too where it is the token; none if it holds none)."""
    match = _USERINFO.match(url)
    if match is None or not has_credentials(url):
        return []
    userinfo = match["userinfo"]
    user, has_password, password = userinfo.partition(":")
    written = [userinfo, password] if has_password else [user]
    every = [*written, *(unquote(part) for part in written)]
    return list(dict.fromkeys(part for part in every if part))
