"""Each MCP tool as the gRPC call it makes, and its answer as text with citations.

The built-ins go to their typed RPCs (``search`` to RetrievalService.Search, …) and the
MCP server's own tools to theirs (``ask`` to ChatService.Ask), with arguments the catalog
schema has already accepted; every other catalog tool (plugin and script tools) goes
through ToolsService.InvokeTool by name. Which one is decided by the tool's origin, not
its name alone: a plugin tool can never take a built-in's place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format

from projectqa.client import AsyncServerCalls as ServerCalls
from projectqa.client.chat import AsyncChatStream
from projectqa.client.index_status import status_line
from projectqa.client.toolcalls import tool_result
from projectqa.mcp.catalog import OWN, CatalogTool
from projectqa.mcp.errors import ToolFailure
from projectqa.mcp.render import as_json, indented, label
from projectqa.v1 import chat_pb2, common_pb2, retrieval_pb2, tools_pb2


@dataclass
class Answer:
    """What a tool found: the text for the agent and the citations behind it."""

    text: str
    citations: Sequence[common_pb2.Citation] = field(default_factory=list)


# An answer streams until done; a hung model must not hang the agent's call for ever.
ASK_TIMEOUT_S = 600.0

Handler = Callable[[ServerCalls, str, dict[str, Any]], Awaitable[Answer]]


def _hits(hits: Sequence[retrieval_pb2.SearchHit]) -> Answer:
    if not hits:
        return Answer("No hits.")
    blocks = []
    for rank, hit in enumerate(hits, 1):
        symbol = f"  {hit.symbol}" if hit.symbol else ""
        head = f"{rank}. {label(hit.citation)}{symbol}  (score {hit.score:.3f})"
        blocks.append(f"{head}\n{indented(hit.snippet)}")
    return Answer("\n\n".join(blocks), [hit.citation for hit in hits])


async def search(calls: ServerCalls, project: str, args: dict[str, Any]) -> Answer:
    response = await calls.search(
        project,
        args["query"],
        mode=args["mode"],
        top_k=args["top_k"],
        kinds=args.get("kinds", ()),
        path_globs=args.get("path_globs", ()),
        languages=args.get("languages", ()),
    )
    answer = _hits(response.hits)
    # The same words the CLI and the editors use: an agent learns that the results may
    # improve (dense index filling in, keyword part skipped during a tokenizer upgrade, …).
    if line := status_line(response.index_status):
        answer.text += f"\n\n({line})"
    return answer


async def keyword_search(calls: ServerCalls, project: str, args: dict[str, Any]) -> Answer:
    hits = await calls.keyword_search(
        project,
        args["query"],
        top_k=args["top_k"],
        kinds=args.get("kinds", ()),
        path_globs=args.get("path_globs", ()),
        languages=args.get("languages", ()),
    )
    return _hits(hits)


async def find_symbol(calls: ServerCalls, project: str, args: dict[str, Any]) -> Answer:
    symbols = await calls.find_symbol(
        project, args["name"], exact=args["exact"], kinds=args.get("kinds", ()),
        limit=args["limit"],
    )  # fmt: skip
    if not symbols:
        return Answer("No definitions found.")
    lines = [
        f"{s.path}:{s.start_line}-{s.end_line}  {s.kind} {s.name}  (score {s.score:.2f})"
        for s in symbols
    ]
    citations = [
        common_pb2.Citation(path=s.path, start_line=s.start_line, end_line=s.end_line, kind="file")
        for s in symbols
    ]
    return Answer("\n".join(lines), citations)


def _grep_match(match: tools_pb2.GrepMatch) -> str:
    lines = [f"{match.path}-{line.number}- {line.text}" for line in match.before]
    lines.append(f"{match.path}:{match.line.number}: {match.line.text}")
    lines += [f"{match.path}-{line.number}- {line.text}" for line in match.after]
    return "\n".join(lines)


async def grep(calls: ServerCalls, project: str, args: dict[str, Any]) -> Answer:
    response = await calls.grep(
        project,
        args["pattern"],
        fixed_strings=args["fixed_strings"],
        ignore_case=args["ignore_case"],
        path_globs=args.get("path_globs", ()),
        context_lines=args["context_lines"],
        max_matches=args["max_matches"],
        connector=args.get("connector", ""),
    )
    if not response.matches:
        return Answer("No matches.")
    separator = "\n--\n" if args["context_lines"] else "\n"
    text = separator.join(_grep_match(match) for match in response.matches)
    if response.truncated:
        text += f"\n[stopped early: {response.truncated_reason}]"
    citations = [
        common_pb2.Citation(
            path=m.path, start_line=m.line.number, end_line=m.line.number, kind="file"
        )
        for m in response.matches
    ]
    return Answer(text, citations)


async def open_file(calls: ServerCalls, project: str, args: dict[str, Any]) -> Answer:
    response = await calls.open_file(
        project,
        args["path"],
        start_line=args.get("start_line", 0),
        end_line=args.get("end_line", 0),
        connector=args.get("connector", ""),
    )
    return Answer(file_text(response), [file_citation(response)])


def file_citation(response: tools_pb2.OpenFileResponse) -> common_pb2.Citation:
    return common_pb2.Citation(
        path=response.path,
        start_line=response.start_line,
        end_line=response.end_line,
        kind="file",
    )


def file_text(response: tools_pb2.OpenFileResponse) -> str:
    """A header citing the lines, then the lines numbered as an editor shows them."""
    head = f"{label(file_citation(response))} of {response.total_lines} lines"
    if response.truncated:
        head += " (cut by the server's size cap: ask for a line range)"
    width = len(str(response.end_line))
    numbered = [
        f"{number:>{width}}  {text}"
        for number, text in enumerate(response.content.split("\n"), response.start_line)
    ]
    return head + "\n" + "\n".join(numbered)


async def project_metadata(calls: ServerCalls, project: str, args: dict[str, Any]) -> Answer:
    response = await calls.project_metadata(project)
    return Answer(as_json(json_format.MessageToDict(response)))


async def ask(calls: ServerCalls, project: str, args: dict[str, Any]) -> Answer:
    stream: AsyncChatStream = calls.ask(
        project, args["question"], extractive=args["extractive"], timeout=ASK_TIMEOUT_S
    )
    parts: list[str] = []
    cited: list[chat_pb2.ChatCitation] = []
    async with stream:
        async for event in stream:
            kind = event.WhichOneof("event")
            if kind == "answer_delta":
                parts.append(event.answer_delta.text)
            elif kind == "citation":
                cited.append(event.citation)
            elif kind == "done":
                parts = [event.done.answer or "".join(parts)]
            elif kind == "error":
                raise ToolFailure(f"{event.error.reason}: {event.error.message}")
            elif kind == "approval_required":
                raise ToolFailure("the answer needs a tool call approved; ask in `projectqa chat`")
    return _answer("".join(parts).strip(), cited)


def _answer(text: str, cited: Sequence[chat_pb2.ChatCitation]) -> Answer:
    verified = [c for c in cited if c.verified]
    if verified:
        sources = [
            f"[{c.marker}] {label(c.citation)}" if c.marker else label(c.citation) for c in verified
        ]
        text += "\n\nSources:\n" + "\n".join(sources)
    return Answer(text or "No answer.", [c.citation for c in verified])


async def list_projects(calls: ServerCalls, project: str, args: dict[str, Any]) -> Answer:
    """Every project the token can read; only ``project`` when the server serves one."""
    if project:
        return Answer(_project_line(await calls.get_project(project)))
    lines = []
    async for item in calls.list_projects(page_size=200):
        lines.append(_project_line(item))
        if len(lines) >= 1000:
            break
    return Answer("\n".join(lines) or "No project is readable with this token.")


def _project_line(project: common_pb2.Project) -> str:
    description = f": {project.description}" if project.description else ""
    return f"{project.slug}  {project.name}{description}"


def invoke(name: str) -> Handler:
    """A plugin or script tool, run by the server (which checks its schema and approval
    policy again) through InvokeTool."""

    async def run(calls: ServerCalls, project: str, args: dict[str, Any]) -> Answer:
        response = await calls.invoke_tool(project, name, args)
        if response.is_error:
            raise ToolFailure(f"the tool {name!r} failed: {response.error}")
        value = tool_result(response)
        return Answer(value if isinstance(value, str) else as_json(value))

    return run


BUILTIN: dict[str, Handler] = {
    "search": search,
    "keyword_search": keyword_search,
    "find_symbol": find_symbol,
    "grep": grep,
    "open_file": open_file,
    "project_metadata": project_metadata,
}
OWN_TOOLS: dict[str, Handler] = {"ask": ask, "list_projects": list_projects}


def handler(tool: CatalogTool) -> Handler:
    """The typed call of a built-in or of the MCP server's own tool; InvokeTool for the rest."""
    typed = OWN_TOOLS if tool.origin == OWN else BUILTIN if tool.origin == "builtin" else {}
    return typed.get(tool.name) or invoke(tool.name)
