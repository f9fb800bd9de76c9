"""ToolsService.ListFiles end to end, on both store backends: a project's indexed files
by path, below a folder, in pages; bad arguments named; another project's files answer
exactly as a missing project.

Files are written to the server's Store as ingestion writes them (documents with their
chunks), so the listing is what the server's own store returns, without the model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest

from projectqa.server.models import DocumentWrite
from projectqa.v1 import common_pb2, tools_pb2, tools_pb2_grpc
from tests.store.contract_ingestion import make_document, with_chunks

from .conftest import RunningServer
from .helpers import Caller, Code, all_pages, bearer_interceptors, flatten, rpc_error

FILES = ["README.md", "docs/guide.md", "src/app.py", "src/api/routes.py", "src/api/v2/x.py"]
ToolsAs = Callable[[str | None], tools_pb2_grpc.ToolsServiceStub]


@pytest.fixture
async def tools_as(server: RunningServer) -> AsyncIterator[ToolsAs]:
    """``tools_as(secret)``: a ToolsService stub sending that bearer token (None: none)."""
    channels: list[grpc.aio.Channel] = []

    def stub(token: str | None) -> tools_pb2_grpc.ToolsServiceStub:
        interceptors = bearer_interceptors(token) if token is not None else None
        channel = grpc.aio.insecure_channel(server.address, interceptors=interceptors)
        channels.append(channel)
        return tools_pb2_grpc.ToolsServiceStub(channel)

    yield stub
    for channel in channels:
        await channel.close()


def index_files(server: RunningServer, project_id: str, paths: list[str], **changes: Any) -> None:
    writes = [
        with_chunks(make_document("con_code", path, project_id=project_id, **changes), 2)
        for path in paths
    ]
    issue = make_document("con_code", "issue-1", project_id=project_id, kind="issue", path="")
    server.server.store.write_documents([*writes, DocumentWrite(issue, [])])


def request(project: str, **fields: Any) -> tools_pb2.ListFilesRequest:
    return tools_pb2.ListFilesRequest(project=project, **fields)


@pytest.fixture
async def member_tools(
    server: RunningServer, project: common_pb2.Project, member: Caller, tools_as: ToolsAs
) -> tools_pb2_grpc.ToolsServiceStub:
    index_files(server, project.id, FILES, language="python", line_count=12)
    return tools_as(member.secret)


async def test_a_member_lists_every_indexed_file_by_path(
    member_tools: tools_pb2_grpc.ToolsServiceStub, project: common_pb2.Project
) -> None:
    response = await member_tools.ListFiles(request(project.slug))

    assert [f.path for f in response.files] == sorted(FILES)
    assert response.next_page_token == ""
    first = response.files[0]
    assert (first.connector_id, first.language, first.lines, first.chunks) == (
        "con_code",
        "python",
        12,
        2,
    )
    assert (first.version, first.size_bytes) == ("v1", 10)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("src", ["src/api/routes.py", "src/api/v2/x.py", "src/app.py"]),
        ("./src/api/", ["src/api/routes.py", "src/api/v2/x.py"]),
        ("src/api/v2", ["src/api/v2/x.py"]),
        ("src/app.py", []),  # a file is no folder
        ("sr", []),
        (".", sorted(FILES)),
    ],
)
async def test_a_prefix_lists_the_files_below_that_folder(
    member_tools: tools_pb2_grpc.ToolsServiceStub,
    project: common_pb2.Project,
    prefix: str,
    expected: list[str],
) -> None:
    response = await member_tools.ListFiles(request(project.slug, prefix=prefix))

    assert [f.path for f in response.files] == expected


async def test_pages_follow_the_token_to_the_end(
    member_tools: tools_pb2_grpc.ToolsServiceStub, project: common_pb2.Project
) -> None:
    pages = await all_pages(member_tools.ListFiles, request(project.id), "files", page_size=2)

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [f.path for f in flatten(pages)] == sorted(FILES)
    below = await all_pages(member_tools.ListFiles, request(project.id, prefix="src"), "files", 1)
    assert [f.path for f in flatten(below)] == [p for p in sorted(FILES) if p.startswith("src/")]


async def test_a_token_is_bound_to_its_project_and_folder(
    member_tools: tools_pb2_grpc.ToolsServiceStub, project: common_pb2.Project
) -> None:
    first = await member_tools.ListFiles(request(project.slug, page_size=1))

    await rpc_error(
        member_tools.ListFiles(
            request(project.slug, prefix="src", page_token=first.next_page_token)
        ),
        Code.INVALID_ARGUMENT,
        "page_token",
    )
    await rpc_error(
        member_tools.ListFiles(request(project.slug, page_token="not a token")),
        Code.INVALID_ARGUMENT,
        "page_token",
    )


@pytest.mark.parametrize(
    ("fields", "field", "problem"),
    [
        ({"prefix": "../other"}, "prefix", "'..'"),
        ({"prefix": "src/../../etc"}, "prefix", "'..'"),
        ({"prefix": "/etc"}, "prefix", "absolute"),
        ({"prefix": "C:/Windows"}, "prefix", "absolute"),
        ({"prefix": "src\\api"}, "prefix", "separator"),
        ({"prefix": ".git/hooks"}, "prefix", ".git"),
        ({"prefix": "src%2f.."}, "prefix", "percent"),
        ({"page_size": 1001}, "page_size", "1000"),
        ({"page_size": -1}, "page_size", "1000"),
    ],
)
async def test_bad_arguments_are_invalid_naming_the_field(
    member_tools: tools_pb2_grpc.ToolsServiceStub,
    project: common_pb2.Project,
    fields: dict[str, Any],
    field: str,
    problem: str,
) -> None:
    details = await rpc_error(
        member_tools.ListFiles(request(project.slug, **fields)), Code.INVALID_ARGUMENT, problem
    )

    assert details.startswith(f"{field}: ")


async def test_the_largest_page_is_served(
    server: RunningServer, project: common_pb2.Project, member: Caller, tools_as: ToolsAs
) -> None:
    index_files(server, project.id, [f"pkg/m{i:04d}.py" for i in range(1001)])

    response = await tools_as(member.secret).ListFiles(request(project.slug, page_size=1000))

    assert len(response.files) == 1000 and response.next_page_token


async def test_another_projects_files_answer_as_a_missing_project(
    server: RunningServer,
    new_project: Callable[..., Awaitable[common_pb2.Project]],
    new_user: Callable[..., Awaitable[Caller]],
    tools_as: ToolsAs,
) -> None:
    hidden = await new_project("hidden")
    index_files(server, hidden.id, ["secret/plan.md"])
    outsider = tools_as((await new_user("olga")).secret)

    for ref in (hidden.slug, hidden.id):
        theirs = await rpc_error(outsider.ListFiles(request(ref)), Code.NOT_FOUND, ref)
        missing = await rpc_error(outsider.ListFiles(request("nope")), Code.NOT_FOUND)
        assert theirs.replace(ref, "X") == missing.replace("nope", "X")
        # Arguments are not looked at first: a bad prefix still says nothing of the project.
        await rpc_error(outsider.ListFiles(request(ref, prefix="../x")), Code.NOT_FOUND)


async def test_without_credentials_it_is_unauthenticated(
    project: common_pb2.Project, tools_as: ToolsAs
) -> None:
    await rpc_error(
        tools_as(None).ListFiles(request(project.slug)), Code.UNAUTHENTICATED, "credentials"
    )
