"""``projectqa search`` and ``projectqa symbols``: find passages and definitions.

``search`` prints one block per hit: its rank, the citation (``path:start-end``
or a record's key), the symbol, the score, then the first lines of the
passage, numbered as in the file, and a dim line when the index is incomplete
("dense index 40 % … — results may improve"). ``--json`` prints the whole
SearchResponse.

``search --files`` ranks files instead (docs/FILE_SEARCH.md): a table of the
files, best first, each with its best passages' line ranges; ``--per-document``
is then the number of line ranges per file.
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table
from rich.text import Text

from projectqa.client.cli.files import render_code
from projectqa.client.cli.index_view import echo_status_line
from projectqa.client.cli.output import console, message_to_dict, print_json
from projectqa.client.cli.project_param import ProjectCommand, project_argument
from projectqa.client.cli.state import CliState, pass_state
from projectqa.client.retrieval import SEARCH_MODES, search_mode
from projectqa.v1 import retrieval_pb2, tools_pb2

SYMBOL_COLUMNS = ("name", "kind", "location", "language", "score")


def filter_options(function: Any) -> Any:
    """``--kind``, ``--connector``, ``--path`` and ``--language``, each repeatable."""
    options = (
        click.option(
            "--kind",
            "kinds",
            multiple=True,
            help="Only this kind of source: file, issue, pull_request, ticket, page.",
        ),
        click.option("--connector", "connectors", multiple=True, metavar="NAME|ID"),
        click.option(
            "--path", "paths", multiple=True, metavar="GLOB", help="Only paths matching GLOB."
        ),
        click.option("--language", "languages", multiple=True, help="e.g. python, markdown."),
    )
    for option in reversed(options):
        function = option(function)
    return function


def _heading(rank: int, hit: retrieval_pb2.SearchHit) -> Text:
    heading = Text(f"{rank:>2}  ", style="bold")
    heading.append(hit.citation.label or hit.citation.document_key, style="bold cyan")
    if hit.symbol:
        kind = f" ({hit.symbol_kind})" if hit.symbol_kind else ""
        heading.append(f"  {hit.symbol}{kind}", style="green")
    elif hit.citation.title and not hit.citation.path:
        heading.append(f"  {hit.citation.title}", style="green")
    heading.append(f"  score {hit.score:.4f}", style="dim")
    return heading


def render_hit(rank: int, hit: retrieval_pb2.SearchHit, lines: int) -> None:
    """The hit's heading, its link for records, and its first ``lines`` lines."""
    out = console()
    out.print(_heading(rank, hit), soft_wrap=True)
    if hit.citation.url:
        out.print(Text(f"    {hit.citation.url}", style="dim"), soft_wrap=True)
    if lines > 0 and hit.snippet:
        shown = "\n".join(hit.snippet.split("\n")[:lines])
        first = hit.citation.start_line if hit.citation.path else 0
        render_code(shown, hit.language, first, indent="    ")


def render_search(response: retrieval_pb2.SearchResponse, lines: int) -> None:
    if not response.hits:
        console().print(Text("No hits.", style="dim"))
        return
    for rank, hit in enumerate(response.hits, start=1):
        if rank > 1 and lines > 0:
            click.echo()
        render_hit(rank, hit, lines)


def line_ranges(file: retrieval_pb2.FileHit) -> str:
    """The file's cited lines: "12-30, 45"."""
    return ", ".join(
        str(c.start_line) if c.start_line == c.end_line else f"{c.start_line}-{c.end_line}"
        for c in file.citations
    )


def render_files(response: retrieval_pb2.SearchResponse) -> None:
    if not response.files:
        console().print(Text("No files.", style="dim"))
        return
    table = Table(title="files", title_justify="left", title_style="bold")
    for column in ("#", "file", "lines", "score", "passages"):
        table.add_column(column, overflow="fold")
    for rank, found in enumerate(response.files, start=1):
        table.add_row(
            str(rank),
            Text(found.path),
            line_ranges(found),
            f"{found.score:.4f}",
            str(found.passages),
        )
    console().print(table)


@click.command(cls=ProjectCommand)
@project_argument()
@click.argument("query")
@click.option(
    "--files",
    "by_file",
    is_flag=True,
    help="Rank files instead of passages: which file answers, with its best lines.",
)
@click.option(
    "--mode",
    type=click.Choice(list(SEARCH_MODES)),
    default="hybrid",
    show_default=True,
    help="dense (embeddings), keyword (BM25) or both fused.",
)
@click.option(
    "-k", "--top-k", type=click.IntRange(1, 100), help="Number of hits (1-100; default 10)."
)
@filter_options
@click.option(
    "--per-document",
    type=click.IntRange(1, 100),
    help="Most hits from one document (default 3); with --files, line ranges per file (1-10).",
)
@click.option(
    "--lines",
    type=click.IntRange(min=0),
    default=6,
    show_default=True,
    help="Lines of each passage to show.",
)
@pass_state
def search(
    state: CliState,
    project: str,
    query: str,
    by_file: bool,
    mode: str,
    top_k: int | None,
    kinds: tuple[str, ...],
    connectors: tuple[str, ...],
    paths: tuple[str, ...],
    languages: tuple[str, ...],
    per_document: int | None,
    lines: int,
) -> None:
    """Search PROJECT for the passages that answer QUERY, each with its citation
    (with --files: the files that answer it)."""
    filters: dict[str, Any] = {
        "kinds": kinds, "connectors": connectors, "path_globs": paths, "languages": languages
    }  # fmt: skip
    client = state.client()
    if by_file:
        response = client.search_files(
            project,
            query,
            mode=search_mode(mode),
            top_k=top_k or 0,
            citations_per_file=per_document or 0,
            **filters,
        )
    else:
        response = client.search(
            project,
            query,
            mode=search_mode(mode),
            top_k=top_k or 0,
            max_per_document=per_document or 0,
            **filters,
        )
    if state.json_output:
        print_json(message_to_dict(response))
        return
    if by_file:
        render_files(response)
    else:
        render_search(response, lines)
    echo_status_line(response.index_status)


def symbol_rows(symbols: list[tools_pb2.SymbolMatch]) -> list[list[str]]:
    return [
        [s.name, s.kind, f"{s.path}:{s.start_line}-{s.end_line}", s.language, f"{s.score:.2f}"]
        for s in symbols
    ]


@click.command(cls=ProjectCommand)
@project_argument()
@click.argument("name")
@click.option("--exact", is_flag=True, help="Only exact matches of NAME or its last parts.")
@click.option("--kind", "kinds", multiple=True, help="Only this kind: function, class, method, …")
@click.option("--limit", type=click.IntRange(1, 200), help="Most definitions (1-200; default 20).")
@pass_state
def symbols(
    state: CliState,
    project: str,
    name: str,
    exact: bool,
    kinds: tuple[str, ...],
    limit: int | None,
) -> None:
    """Find the definitions called NAME in PROJECT ("request", "Session.request")."""
    found = state.client().find_symbol(project, name, exact=exact, kinds=kinds, limit=limit or 0)
    if state.json_output:
        print_json([message_to_dict(symbol) for symbol in found])
        return
    if not found:
        console().print(Text("No symbols.", style="dim"))
        return
    _print_symbols(found)


def _print_symbols(found: list[tools_pb2.SymbolMatch]) -> None:
    table = Table(title="symbols", title_justify="left", title_style="bold")
    for column in SYMBOL_COLUMNS:
        table.add_column(column, overflow="fold")
    for row in symbol_rows(found):
        table.add_row(*(Text(cell) for cell in row))
    console().print(table)
