"""The ``rss`` connector: the entries of an RSS 2.0 or Atom feed as ``page`` documents.

One GET per run. A full run yields every entry the feed holds now (the server
removes entries that fell off it); an incremental run sends the previous run's
``ETag``/``Last-Modified`` and stops at ``304 Not Modified``. XML is parsed
with the stdlib ``ElementTree``, which resolves no external entities, and whose
expat refuses entity-expansion bombs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from xml.etree import ElementTree

import httpx

from projectqa.plugin import (
    Checkpoint,
    ConnectorType,
    DocumentKind,
    SourceContext,
    SourceDocument,
    SourceError,
    SourceItem,
    SourceWarning,
)

ATOM = "{http://www.w3.org/2005/Atom}"
RSS_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "pattern": "^https?://", "description": "the feed's URL"},
        "max_entries": {
            "type": "integer",
            "minimum": 1,
            "maximum": 10000,
            "default": 100,
            "description": "keep at most this many entries, newest first",
        },
    },
    "required": ["url"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Entry:
    """One feed entry, whichever dialect it came in."""

    id: str
    title: str
    link: str
    published: str
    author: str
    html: str


class FeedSource:
    """One pass over a feed."""

    def __init__(self, context: SourceContext) -> None:
        self._context = context
        self._url: str = context.config["url"]
        self._shown = _without_credentials(self._url)  # for messages, which users read
        self._limit: int = int(context.config.get("max_entries") or 100)

    def items(self) -> Iterator[SourceItem]:
        response = self._fetch()
        if response.status_code == 304:  # unchanged since the last run
            yield Checkpoint(dict(self._context.cursor or {}))
            return
        feed_title, entries = parse_feed(response.content, self._shown)
        for entry in entries[: self._limit]:
            if not entry.id:
                yield SourceWarning(f"entries/{entry.title}", "entry has no id, guid or link")
                continue
            yield self._document(feed_title, entry)
        etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
        yield Checkpoint({"etag": etag or "", "last_modified": modified or ""})

    def _fetch(self) -> httpx.Response:
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml"}
        cursor = self._context.cursor or {}
        if not self._context.full:
            if cursor.get("etag"):
                headers["If-None-Match"] = cursor["etag"]
            if cursor.get("last_modified"):
                headers["If-Modified-Since"] = cursor["last_modified"]
        try:
            with httpx.Client(timeout=TIMEOUT, follow_redirects=True) as client:
                response = client.get(self._url, headers=headers)
        except httpx.HTTPError as exc:
            raise SourceError(f"cannot fetch feed {self._shown}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise SourceError(f"feed {self._shown} answered {response.status_code}")
        return response

    @staticmethod
    def _document(feed_title: str, entry: Entry) -> SourceDocument:
        body = html_to_text(entry.html)
        byline = " · ".join(p for p in (feed_title, entry.published, entry.author) if p)
        return SourceDocument(
            key=f"entries/{entry.id}",
            kind=DocumentKind.PAGE,
            text="\n".join([entry.title, byline, "", body]).strip() + "\n",
            title=entry.title,
            url=entry.link,
            version=entry.published,
            metadata={"feed": feed_title, "published": entry.published, "author": entry.author},
        )


def _without_credentials(url: str) -> str:
    """``url`` without a user and password written in it (httpx logs in with those)."""
    try:
        return str(httpx.URL(url).copy_with(userinfo=b""))
    except httpx.InvalidURL:
        return "the feed"


def parse_feed(document: bytes, url: str = "the feed") -> tuple[str, list[Entry]]:
    """The feed's title and entries; ``SourceError`` if it is neither RSS 2.0 nor Atom."""
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError as exc:
        raise SourceError(f"{url} is not valid XML: {exc}") from None
    if root.tag == "rss" and (channel := root.find("channel")) is not None:
        return _text(channel, "title"), [_rss_entry(item) for item in channel.iter("item")]
    if root.tag == f"{ATOM}feed":
        return _text(root, f"{ATOM}title"), [_atom_entry(e) for e in root.iter(f"{ATOM}entry")]
    raise SourceError(f"{url} is not an RSS 2.0 or Atom feed (root element {root.tag!r})")


def _rss_entry(item: ElementTree.Element) -> Entry:
    link = _text(item, "link")
    return Entry(
        id=_text(item, "guid") or link,
        title=_text(item, "title") or "(untitled)",
        link=link,
        published=_text(item, "pubDate"),
        author=_text(item, DC_CREATOR) or _text(item, "author"),
        html=_text(item, RSS_CONTENT) or _text(item, "description"),
    )


def _atom_entry(entry: ElementTree.Element) -> Entry:
    links = entry.findall(f"{ATOM}link")
    alternate = [x for x in links if x.get("rel", "alternate") == "alternate"] or links
    link = alternate[0].get("href", "") if alternate else ""
    author = entry.find(f"{ATOM}author")
    return Entry(
        id=_text(entry, f"{ATOM}id") or link,
        title=_text(entry, f"{ATOM}title") or "(untitled)",
        link=link,
        published=_text(entry, f"{ATOM}updated") or _text(entry, f"{ATOM}published"),
        author=_text(author, f"{ATOM}name") if author is not None else "",
        html=_text(entry, f"{ATOM}content") or _text(entry, f"{ATOM}summary"),
    )


def _text(parent: ElementTree.Element, tag: str) -> str:
    return (parent.findtext(tag) or "").strip()


class _HtmlText(HTMLParser):
    """Text of an HTML fragment: block elements start new lines, scripts are dropped."""

    BLOCKS = frozenset({"p", "div", "br", "li", "h1", "h2", "h3", "h4", "pre", "tr", "ul", "ol"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Readable text of an entry body (plain text passes through unchanged)."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def open_source(context: SourceContext) -> FeedSource:
    """The connector type's reader (see ``ConnectorType.open_source``)."""
    return FeedSource(context)


FEED_CONNECTOR = ConnectorType(
    name="rss",
    description="Entries of an RSS 2.0 or Atom feed (release notes, blogs, status pages)",
    config_schema=CONFIG_SCHEMA,
    open_source=open_source,
)
