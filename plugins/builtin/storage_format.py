"""Confluence storage format (XHTML with ``ac:``/``ri:`` elements) as plain text.

Read with the stdlib ``html.parser`` event stream. Headings become markdown
``#`` lines, paragraphs are separated by blank lines, list items get ``-`` or
``1.`` markers (indented when nested), table rows become ``a | b | c`` lines,
and code — ``<pre>`` or the ``code``/``noformat`` macros, whose body is a
CDATA section — is kept verbatim inside fences. Links to other pages render as
the page title; macro parameters, images and scripts carry no text.
"""

from __future__ import annotations

from html.parser import HTMLParser

HEADINGS = {f"h{n}": n for n in range(1, 7)}
BLOCKS = {"p", "div", "blockquote", "section", "ac:layout-cell", "ac:rich-text-body"}
CODE_MACROS = {"code", "noformat"}
HIDDEN = {"ac:image", "ac:placeholder", "style", "script", "ac:task-id"}


def storage_to_text(storage: str) -> str:
    """The readable text of a page body in storage format."""
    parser = _StorageText()
    parser.feed(storage or "")
    parser.close()
    return parser.text()


class _StorageText(HTMLParser):
    """Collects lines while walking the element events of one page body."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._inline: list[str] = []  # text of the block being read
        self._prefix = ""  # marker of that block: "# ", "- ", "1. "
        self._lists: list[list[int]] = []  # open lists: [ordered (0/1), next number]
        self._cells: list[str] | None = None  # cells of the table row being read
        self._code: list[str] | None = None  # verbatim text of the code block being read
        self._language = ""
        self._macros: list[str] = []  # names of the enclosing macros
        self._param: list[str] | None = None  # text of the macro parameter being read
        self._param_name = ""
        self._hidden = 0  # depth inside elements whose text is not content
        self._task_status: list[str] | None = None
        self._links: list[tuple[int, str]] = []  # (inline length at start, href or target)

    def text(self) -> str:
        self._end_block()
        out: list[str] = []
        for line in self.lines:
            if line or (out and out[-1]):
                out.append(line)
        return "\n".join(out).strip()

    # ------------------------------------------------------------ events
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        if self._hidden or tag in HIDDEN:
            self._hidden += 1
        elif tag in HEADINGS:
            self._end_block()
            self._prefix = "#" * HEADINGS[tag] + " "
        elif tag in ("ul", "ol", "ac:task-list"):
            self._end_block()
            self._lists.append([int(tag == "ol"), 1])
        elif tag in ("li", "ac:task"):
            self._start_item()
        elif tag in ("td", "th"):
            self._inline = []
        elif tag == "tr":
            self._cells = []
        elif tag == "pre":
            self._start_code("")
        elif tag == "ac:structured-macro":
            self._start_macro(attr.get("ac:name", ""))
        elif tag == "ac:parameter":
            self._param, self._param_name = [], attr.get("ac:name", "")
        elif tag == "ac:task-status":
            self._task_status = []
        elif tag in ("a", "ac:link"):
            self._links.append((len(self._inline), attr.get("href", "")))
        elif tag == "code" and self._code is None:
            self._inline.append("`")
        elif tag in BLOCKS or tag == "table":
            self._end_block(reset=False)  # a paragraph inside a list item keeps its marker

    def handle_endtag(self, tag: str) -> None:
        if self._hidden:
            self._hidden -= 1
        elif tag in HEADINGS or tag in BLOCKS or tag in ("li", "ac:task"):
            self._end_block()
        elif tag in ("ul", "ol", "ac:task-list"):
            self._end_list()
        elif tag == "table":
            self._end_block()
            self.lines.append("")
        elif tag in ("td", "th") and self._cells is not None:
            self._cells.append(_collapse(self._inline))
            self._inline = []
        elif tag == "tr" and self._cells is not None:
            self.lines.append(" | ".join(self._cells))
            self._cells = None
        elif tag == "pre":
            self._end_code()
        elif tag == "ac:structured-macro":
            self._end_macro()
        elif tag == "ac:parameter":
            self._end_param()
        elif tag == "ac:task-status" and self._task_status is not None:
            done = "".join(self._task_status).strip() == "complete"
            self._prefix += "[x] " if done else "[ ] "
            self._task_status = None
        elif tag in ("a", "ac:link"):
            self._end_link()
        elif tag == "code" and self._code is None:
            self._inline.append("`")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        if self._hidden:
            return
        if tag == "br":
            self._end_line()
        elif tag == "hr":
            self._end_block()
            self.lines += ["---", ""]
        elif tag.startswith("ri:"):
            self._reference(tag, attr)
        elif tag == "time":
            self._inline.append(attr.get("datetime", ""))
        elif tag == "ac:emoticon":
            self._inline.append(attr.get("ac:emoji-fallback", ""))
        else:
            self.handle_starttag(tag, attrs)
            self.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if self._param is not None:
            self._param.append(data)
        elif self._task_status is not None:
            self._task_status.append(data)
        elif self._hidden:
            return
        elif self._code is not None:
            self._code.append(data)
        else:
            self._inline.append(data)

    def unknown_decl(self, data: str) -> None:
        if data.startswith("CDATA["):  # the body of code macros and plain-text links
            self.handle_data(data[len("CDATA[") :])

    def handle_comment(self, data: str) -> None:
        # Newer Pythons report CDATA outside SVG/MathML as a bogus comment.
        if data.startswith("[CDATA[") and data.endswith("]]"):
            self.handle_data(data[len("[CDATA[") : -2])

    # ------------------------------------------------------------ blocks
    def _end_line(self) -> None:
        text = _collapse(self._inline)
        self._inline = []
        if text:
            self.lines.append(self._prefix + text)
            self._prefix = " " * len(self._prefix)  # continuation lines align with the text

    def _end_block(self, *, reset: bool = True) -> None:
        if self._cells is not None:  # paragraphs inside a table cell stay on the row
            self._inline.append(" ")
            return
        had_text = bool(_collapse(self._inline))
        self._end_line()
        if reset:
            self._prefix = ""
        if had_text and not self._lists:
            self.lines.append("")

    def _start_item(self) -> None:
        self._end_block()
        if not self._lists:
            self._lists.append([0, 1])  # an item outside any list: treat as bulleted
        ordered, number = self._lists[-1]
        self._lists[-1][1] += 1
        indent = "  " * (len(self._lists) - 1)
        self._prefix = indent + (f"{number}. " if ordered else "- ")

    def _end_list(self) -> None:
        self._end_block()
        if self._lists:
            self._lists.pop()
        if not self._lists:
            self.lines.append("")

    def _start_code(self, language: str) -> None:
        self._end_block()
        self._code, self._language = [], language

    def _end_code(self) -> None:
        if self._code is None:
            return
        body = "".join(self._code).strip("\n")
        self.lines += [f"```{self._language}", *body.splitlines(), "```", ""]
        self._code = None

    def _start_macro(self, name: str) -> None:
        self._macros.append(name)
        if name in CODE_MACROS:
            self._start_code("")
        else:
            self._end_block()

    def _end_macro(self) -> None:
        name = self._macros.pop() if self._macros else ""
        if name in CODE_MACROS:
            self._end_code()
        else:
            self._end_block()

    def _end_param(self) -> None:
        value = "".join(self._param or []).strip()
        if self._param_name == "language" and self._macros and self._macros[-1] in CODE_MACROS:
            self._language = value
        elif self._param_name == "title" and self._macros and self._code is None:
            self._inline.append(value)  # panel and expand titles read as their first line
            self._end_block()
        self._param = None

    # ------------------------------------------------------------ links
    def _reference(self, tag: str, attr: dict[str, str]) -> None:
        """``ri:`` resources: the target of an ``ac:link`` or an inline mention."""
        target = {
            "ri:page": attr.get("ri:content-title", ""),
            "ri:blog-post": attr.get("ri:content-title", ""),
            "ri:attachment": attr.get("ri:filename", ""),
            "ri:space": attr.get("ri:space-key", ""),
            "ri:url": attr.get("ri:value", ""),
            "ri:user": "@" + (attr.get("ri:username") or "user"),
        }.get(tag, "")
        if self._links:
            start, _ = self._links[-1]
            self._links[-1] = (start, target)
        elif target and self._code is None:
            self._inline.append(target)

    def _end_link(self) -> None:
        if not self._links:
            return
        start, target = self._links.pop()
        text = _collapse(self._inline[start:])
        if not text:
            self._inline.append(target)
        elif target and target != text and "://" in target:
            self._inline.append(f" ({target})")


def _collapse(parts: list[str]) -> str:
    """Inline text with runs of whitespace (newlines and non-breaking spaces too) as one space."""
    return " ".join("".join(parts).split())
