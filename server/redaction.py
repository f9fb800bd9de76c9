"""Scrubbing a connector's secrets out of what its plugin says.

The built-in connectors never write their credentials into a message; a
third-party one may (it quotes its config in an exception, or the request it
sent). Run errors and warnings are read by every member of the project and go
to the server log, so the server scrubs them all before storing or logging
them: every value of the connector's secrets (its ``writeOnly`` fields and the
credentials of URLs in its config), in the forms a plugin is likely to have
written it — as given, URL-encoded, quoted by ``repr``/JSON, and inside base64
(a basic-auth header, whatever the user before the colon). Any URL's
``user:password@`` is removed as well.

This is a safety net, not a guarantee: a plugin that transforms a secret
otherwise (hashes, splits or re-encodes it) can still show it. Values shorter
than ``MIN_SECRET_CHARS`` are not scrubbed: they would erase ordinary words.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from .models import Connector
from .url_credentials import has_credentials, without_credentials, written_credentials

REDACTED = "***"
MIN_SECRET_CHARS = 4
# A URL's scheme and userinfo, anywhere in a text (up to the authority's last "@"). The
# scheme's length is bounded: unbounded, a long word would be rescanned from each letter.
_URL_WITH_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://[^/?#\s'\"<>]*@")
_BASE64_WORD = re.compile(r"[A-Za-z0-9+/_-]+=*")


class Redactor:
    """Replaces a set of secrets in texts; callable: ``redact(text) -> text``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        replacements: dict[str, str] = {}
        fragments: set[str] = set()
        for secret in secrets:
            if has_credentials(secret):  # the URL shown bare, then its parts anywhere
                replacements[secret] = without_credentials(secret)
                parts = written_credentials(secret)
            else:
                parts = [secret]
            for part in (p for p in parts if len(p.strip()) >= MIN_SECRET_CHARS):
                replacements.update(dict.fromkeys(_written_forms(part), REDACTED))
                fragments.update(_base64_fragments(part))
        self._replacements = replacements
        self._literal = _alternation(replacements)
        self._base64 = _alternation(fragments)

    @classmethod
    def of_connector(cls, connector: Connector, secret_fields: Iterable[str]) -> Redactor:
        """For ``connector``'s secrets: its stored secrets, its ``secret_fields`` and the
        URLs with credentials in its plain config (rows saved before they were split off)."""
        config = {**connector.config, **connector.secrets}
        names = set(connector.secrets) | set(secret_fields)
        chosen = [v for k, v in config.items() if k in names or has_credentials(v)]
        return cls(_strings(chosen))

    def __call__(self, text: str) -> str:
        if self._literal is not None:
            text = self._literal.sub(lambda m: self._replacements[m[0]], text)
        text = _URL_WITH_USERINFO.sub(lambda m: without_credentials(m[0]), text)
        # Most texts hold no fragment at all: one search spares the scan of every word.
        if self._base64 is not None and self._base64.search(text):
            text = _BASE64_WORD.sub(self._hide_encoded, text)
        return text

    def _hide_encoded(self, word: re.Match[str]) -> str:
        assert self._base64 is not None
        return REDACTED if self._base64.search(word[0]) else word[0]


def _strings(values: Iterable[Any]) -> Iterator[str]:
    """Every string (and number, as written) in ``values``, nested ones included."""
    for value in values:
        if isinstance(value, str):
            yield value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            yield str(value)
        elif isinstance(value, Mapping):
            yield from _strings(value.values())
        elif isinstance(value, list | tuple):
            yield from _strings(value)


def _written_forms(secret: str) -> set[str]:
    """``secret`` as a message may quote it: as given, trimmed, URL-encoded, escaped."""
    forms = {secret, secret.strip(), quote(secret), quote(secret, safe=""), quote_plus(secret)}
    forms |= {repr(secret)[1:-1], json.dumps(secret)[1:-1]}
    return {form for form in forms if len(form) >= MIN_SECRET_CHARS}


def _base64_fragments(secret: str) -> set[str]:
    """The characters that ``secret`` alone decides in any base64 text holding it.

    Base64 turns 3 bytes into 4 characters, so the secret encodes in one of three
    ways depending on its offset; the characters that mix in its neighbours' bits
    (the first and last of each way) are left out.
    """
    raw = secret.encode()
    fragments = set()
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + raw).decode()
        first = -(-8 * offset // 6)  # the first character with no bit of the padding
        own = encoded[first : 8 * (offset + len(raw)) // 6]
        fragments |= {own, own.replace("+", "-").replace("/", "_")}
    return {fragment for fragment in fragments if len(fragment) >= MIN_SECRET_CHARS}


def _alternation(strings: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching any of ``strings``, the longest first (None for none)."""
    ordered = sorted(set(strings), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, ordered))) if ordered else None
