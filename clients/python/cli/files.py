"""``projectqa grep``, ``open``, ``ls`` and ``metadata``: the project's files as the tools
see them.

All read the checkouts at the commit last indexed (``ls``: the files indexed), through
ToolsService.
``grep`` prints ripgrep's ``path:line:text`` (``path-line-text`` for context,
``--`` between groups), so its output pipes into the usual tools.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import click
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from projectqa.client.cli.index_view import render_index_status
from projectqa.client.cli.output import console, message_to_dict, print_json, render_fields
from projectqa.client.cli.project_param import ProjectCommand, project_argument
from projectqa.client.cli.state import CliState, pass_state
from projectqa.v1 import tools_pb2

_LOCATION = re.compile(r"^(?P<path>.+?):(?P<start>\d+)(?:-(?P<end>\d+))?$")


def highlighted(code: str, language: str) -> list[Text]:
    """The lines of ``code`` coloured for ``language`` (plain when it has no lexer)."""
    try:
        get_lexer_by_name(language or "text")
        lexer = language or "text"
    except ClassNotFound:
        lexer = "text"
    text = Syntax(code, lexer, theme="ansi_dark").highlight(code)
    text.rstrip()
    return list(text.split("\n", allow_blank=True))


def render_code(code: str, language: str, first_line: int = 0, indent: str = "") -> None:
    """Prints ``code`` highlighted, numbered from ``first_line`` when it is not 0."""
    lines = highlighted(code, language)
    width = len(str(first_line + len(lines))) if first_line else 0
    out = console()
    for offset, line in enumerate(lines):
        number = f"{first_line + offset:>{width}}  " if first_line else ""
        out.print(Text(f"{indent}{number}", style="dim") + line, soft_wrap=True)


def parse_location(location: str) -> tuple[str, int, int]:
    """``path``, ``path:12`` or ``path:12-40`` → (path, start, end); 0 means the file's edge."""
    match = _LOCATION.match(location)
    if match is None:
        return location, 0, 0
    start = int(match["start"])
    end = int(match["end"]) if match["end"] else 0
    if end and end < start:
        raise click.BadParameter(f"{start}-{end} is not a line range", param_hint="LOCATION")
    return match["path"], start, end


# ------------------------------------------------------------------------ grep


def _grep_lines(match: tools_pb2.GrepMatch, prefix: str) -> list[str]:
    path = f"{prefix}{match.path}"
    lines = [f"{path}-{line.number}-{line.text}" for line in match.before]
    lines.append(f"{path}:{match.line.number}:{match.line.text}")
    lines += [f"{path}-{line.number}-{line.text}" for line in match.after]
    return lines


def grep_output(response: tools_pb2.GrepResponse) -> list[str]:
    """ripgrep-style lines; paths carry their connector id when several checkouts matched."""
    several = len({m.connector_id for m in response.matches}) > 1
    with_context = any(m.before or m.after for m in response.matches)
    out: list[str] = []
    for match in response.matches:
        if with_context and out:
            out.append("--")
        out += _grep_lines(match, f"{match.connector_id}:" if several else "")
    return out


@click.command(cls=ProjectCommand)
@project_argument()
@click.argument("pattern")
@click.option("-F", "--fixed-strings", is_flag=True, help="PATTERN is a literal, not a regex.")
@click.option("-i", "--ignore-case", is_flag=True, help="Match case-insensitively.")
@click.option(
    "-g", "--glob", "globs", multiple=True, help="Only paths matching GLOB; '!GLOB' excludes."
)
@click.option(
    "-C",
    "--context",
    type=click.IntRange(0, 10),
    default=0,
    help="Lines of context around each match (0-10).",
)
@click.option(
    "-m", "--max-count", type=click.IntRange(1, 1000), help="Most matches (1-1000; default 100)."
)
@click.option("--connector", default="", metavar="NAME|ID", help="Only this connector's files.")
@pass_state
def grep(
    state: CliState,
    project: str,
    pattern: str,
    fixed_strings: bool,
    ignore_case: bool,
    globs: tuple[str, ...],
    context: int,
    max_count: int | None,
    connector: str,
) -> None:
    """Search the files of PROJECT for PATTERN (a Rust regex) with ripgrep.

    Prints path:line:text for each match (path-line-text for context lines).
    A search stopped early says so on stderr.
    """
    response = state.client().grep(
        project,
        pattern,
        fixed_strings=fixed_strings,
        ignore_case=ignore_case,
        path_globs=globs,
        context_lines=context,
        max_matches=max_count or 0,
        connector=connector,
    )
    if state.json_output:
        print_json(message_to_dict(response))
        return
    for line in grep_output(response):
        click.echo(line)
    if response.truncated:
        click.echo(
            f"(stopped early: {response.truncated_reason}; {len(response.matches)} matches shown)",
            err=True,
        )


# ------------------------------------------------------------------------ open


def _open_header(response: tools_pb2.OpenFileResponse) -> str:
    where = f"{response.path}:{response.start_line}-{response.end_line}"
    facts = [f"{response.total_lines} lines"]
    if response.commit:
        facts.append(f"commit {response.commit[:12]}")
    facts.append(f"connector {response.connector_id}")
    return f"{where} ({', '.join(facts)})"


@click.command("open", cls=ProjectCommand)
@project_argument()
@click.argument("location", metavar="PATH[:START[-END]]")
@click.option("--connector", default="", metavar="NAME|ID", help="Read this connector's checkout.")
@pass_state
def open_file(state: CliState, project: str, location: str, connector: str) -> None:
    """Print lines of a file of PROJECT with their numbers (all of it, or START-END)."""
    path, start, end = parse_location(location)
    response = state.client().open_file(project, path, start, end, connector)
    if state.json_output:
        print_json(message_to_dict(response))
        return
    click.echo(_open_header(response))
    render_code(response.content, response.language, response.start_line or 1)
    if response.truncated:
        click.echo(f"(cut at line {response.end_line} by the size cap)", err=True)


# -------------------------------------------------------------------- metadata


def _table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    if not rows:
        return
    table = Table(title=title, title_justify="left", title_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))
    console().print(table)


def render_metadata(meta: tools_pb2.GetProjectMetadataResponse) -> None:
    render_fields(meta, ("project_id", "slug", "name", "index_generation", "chunks", "symbols"))
    kinds = sorted(meta.documents_by_kind.items())
    _table("documents", ("kind", "documents"), kinds)
    _table(
        "languages",
        ("language", "files", "lines"),
        [(s.language, s.files, s.lines) for s in meta.languages],
    )
    _table(
        "connectors",
        ("name", "type", "documents", "chunks", "indexed commit", "last run"),
        [
            (c.name, c.type, c.documents, c.chunks, c.indexed_commit[:12] or "-", c.last_run_id)
            for c in meta.connectors
        ],
    )
    _table(
        "layout",
        ("name", "files"),
        [(f"{e.name}/" if e.is_dir else e.name, e.files) for e in meta.layout],
    )
    if meta.HasField("index_status"):
        render_index_status(meta.index_status)


@click.command(cls=ProjectCommand)
@project_argument()
@pass_state
def metadata(state: CliState, project: str) -> None:
    """Describe PROJECT: languages, documents, connectors, top-level layout, index."""
    meta = state.client().project_metadata(project)
    if state.json_output:
        print_json(message_to_dict(meta))
    else:
        render_metadata(meta)


# -------------------------------------------------------------------------- ls


def _file_fields(file: tools_pb2.IndexedFile) -> dict[str, object]:
    """A file as JSON, its counts as numbers (proto JSON writes int64 as strings)."""
    return {
        "path": file.path,
        "connector_id": file.connector_id,
        "language": file.language,
        "lines": file.lines,
        "chunks": file.chunks,
        "size_bytes": file.size_bytes,
        "version": file.version,
    }


@click.command("ls", cls=ProjectCommand)
@project_argument()
@click.argument("prefixes", nargs=-1, metavar="[FOLDER]...")
@click.option(
    "-l", "--long", "long_format", is_flag=True, help="Also language, lines, chunks, connector."
)
@pass_state
def list_files(state: CliState, project: str, prefixes: tuple[str, ...], long_format: bool) -> None:
    """List the indexed files of PROJECT (below each FOLDER), one path per line.

    These are the files search, open and citations reach: what the connectors'
    include/exclude rules kept, at the commit last indexed. Pages are fetched as the
    output goes, so `| head` stops early.
    """
    client = state.client()
    files = (file for prefix in prefixes or ("",) for file in client.list_files(project, prefix))
    if state.json_output:
        print_json([_file_fields(file) for file in files])
        return
    for file in files:
        if long_format:
            facts = (file.language or "-", file.lines, file.chunks, file.connector_id)
            click.echo("\t".join(map(str, (*facts, file.path))))
        else:
            click.echo(file.path)
