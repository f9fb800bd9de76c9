"""Credentials written into a URL: ``scheme://user:password@host/…?access_token=…``.

A connector's config may hold such a URL (a git remote, a Jira site, a feed). The
server treats those credentials as a secret: it keeps the URL as given with the
write-only secrets and shows it without them (see
``projectqa.server.admin.connectors``); connectors that connect with such a URL
send the credentials in a header or through a credential helper, and show the URL
without them in messages and links.

Recognised: the userinfo (up to the authority's last "@", as in urlsplit and curl),
query and fragment parameters that carry a token by their name, and either one in
a URL pasted with surrounding whitespace. A password holding an unencoded "/", "?"
or "#" cannot be told from a path, so such a URL is refused instead
(``unencoded_password``); so is a password in an scp-style git address,
``user:password@host:path`` (``scp_password``), which ssh would not use anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_AUTHORITY_END = re.compile(r"[/?#]")
# Schemes whose user name names an account (ssh://git@host), not a credential.
_ACCOUNT_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git"})
# Query (or fragment) parameters that carry a credential, compared lower-case with "-"
# read as "_": GitLab's private_token, OAuth's access_token, API keys, signed URLs.
_CREDENTIAL_PARAMETERS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "auth_token",
        "client_secret",
        "key",
        "passwd",
        "password",
        "private_token",
        "secret",
        "sig",
        "signature",
        "token",
        "x_amz_security_token",
        "x_amz_signature",
        "x_goog_signature",
    }
)


@dataclass(frozen=True)
class _WrittenUrl:
    """A ``scheme://`` string cut where credentials may be written."""

    scheme: str
    userinfo: str | None  # before the authority's last "@"; None when there is no "@"
    address: str  # host[:port] and path
    query: str | None
    fragment: str | None

    @property
    def account_only(self) -> bool:
        """The userinfo is an ssh account name (``git@``), no credential."""
        return self.scheme.lower() in _ACCOUNT_SCHEMES and ":" not in (self.userinfo or ":")


def _cut(value: object) -> tuple[str, str, str] | None:
    """``(scheme, everything after "://", the authority)`` of a ``scheme://`` string."""
    text = value.strip() if isinstance(value, str) else ""  # git and curl trim a URL
    match = _SCHEME.match(text)
    if match is None:
        return None
    rest = text[match.end() :]
    return match["scheme"], rest, _AUTHORITY_END.split(rest, maxsplit=1)[0]


def _parse(url: str) -> _WrittenUrl | None:
    cut = _cut(url)
    if cut is None:
        return None
    scheme, rest, authority = cut
    userinfo, at, _ = authority.rpartition("@")
    rest = rest[len(userinfo) + len(at) :]
    rest, hashmark, fragment = rest.partition("#")
    address, mark, query = rest.partition("?")
    return _WrittenUrl(
        scheme,
        userinfo if at else None,
        address,
        query if mark else None,
        fragment if hashmark else None,
    )


def _is_credential(parameter: str) -> bool:
    name, has_value, value = parameter.partition("=")
    normal = unquote_plus(name).strip().lower().replace("-", "_")
    return bool(has_value and value) and normal in _CREDENTIAL_PARAMETERS


def _parameters(part: str | None) -> list[str]:
    return part.split("&") if part else []


def _credential_values(parsed: _WrittenUrl) -> list[str]:
    """The values of the credential parameters, as written."""
    every = _parameters(parsed.query) + _parameters(parsed.fragment)
    return [p.partition("=")[2] for p in every if _is_credential(p)]


def _without_credential_parameters(part: str | None, mark: str) -> str:
    if part is None:
        return ""
    kept = [p for p in _parameters(part) if not _is_credential(p)]
    return f"{mark}{'&'.join(kept)}" if kept or not part else ""


def without_credentials(url: str) -> str:
    """``url`` without the credentials written in it (and nothing else: whitespace
    around it stays); any other string as it is.

    A user name alone is a credential too (``https://<token>@host`` is how many
    hosts take a token), except on ssh, where it names the account to log in as.
    """
    parsed = _parse(url)
    if parsed is None or not _holds_credentials(parsed):
        return url
    keep = ""
    if parsed.userinfo is not None and parsed.scheme.lower() in _ACCOUNT_SCHEMES:
        keep = parsed.userinfo.partition(":")[0] + "@"
    elif parsed.userinfo is not None and not _userinfo_is_credential(parsed):
        keep = parsed.userinfo + "@"  # an empty userinfo ("https://@host")
    query = _without_credential_parameters(parsed.query, "?")
    fragment = _without_credential_parameters(parsed.fragment, "#")
    lead, trail = url[: len(url) - len(url.lstrip())], url[len(url.rstrip()) :]
    return f"{lead}{parsed.scheme}://{keep}{parsed.address}{query}{fragment}{trail}"


def _userinfo_is_credential(parsed: _WrittenUrl) -> bool:
    return bool(parsed.userinfo) and not parsed.account_only


def _holds_credentials(parsed: _WrittenUrl) -> bool:
    return _userinfo_is_credential(parsed) or bool(_credential_values(parsed))


def has_credentials(value: object) -> bool:
    """True if ``value`` is a string holding a URL with credentials in it."""
    parsed = _parse(value) if isinstance(value, str) else None
    return parsed is not None and _holds_credentials(parsed)


def unencoded_password(value: object) -> bool:
    """True if ``value`` reads as ``scheme://user:pass/word@host…``: a password holding
    an unencoded "/", "?" or "#", which ends the authority early (so no client can use
    the URL) and would leave the rest of the password in the URL shown.

    Told from ``https://host:8080/@scope`` by the port, which is a number (or empty).
    """
    cut = _cut(value)
    if cut is None:
        return False
    _, rest, authority = cut
    if "@" in authority or authority.startswith("["):
        return False
    _, colon, port = authority.partition(":")
    return bool(colon) and port != "" and not port.isdigit() and "@" in rest[len(authority) :]


# ``user:password@host:path``: no scheme, a user with no "/", ":" or "@", a password up to
# the last "@" that a host and ":" follow (as git reads ``[user@]host:path``).
_SCP_PASSWORD = re.compile(r"^[^/:@]*:.*@[^/:@]+:", re.DOTALL)


def scp_password(value: object) -> bool:
    """True if ``value`` reads as the scp-style git address ``user:password@host:path``.
    Nothing here takes it as a secret (``has_credentials`` knows ``scheme://`` URLs), and
    ssh never uses a password written there: connectors refuse it instead."""
    text = value.strip() if isinstance(value, str) else ""
    return _SCHEME.match(text) is None and _SCP_PASSWORD.match(text) is not None


def login(url: str) -> tuple[str, str] | None:
    """The decoded ``(user, password)`` written in ``url``, or None if it holds none."""
    parsed = _parse(url)
    if parsed is None or parsed.userinfo is None or not _userinfo_is_credential(parsed):
        return None
    user, _, password = parsed.userinfo.partition(":")
    return unquote(user), unquote(password)


def written_credentials(url: str) -> list[str]:
    """The credentials in ``url`` as written there and decoded: what must never be shown
    of it (the user name too where it is the token; none if it holds none)."""
    parsed = _parse(url)
    if parsed is None:
        return []
    written = _credential_values(parsed)
    if parsed.userinfo is not None and _userinfo_is_credential(parsed):
        user, has_password, password = parsed.userinfo.partition(":")
        written += [parsed.userinfo, password] if has_password else [user]
    every = [*written, *(unquote(part) for part in written), *map(unquote_plus, written)]
    return list(dict.fromkeys(part for part in every if part))
