"""The example plugin pip-installed, on a real server: ListPlugins names its distribution, and
its signature-derived tool is listed with the derived schema and runs through InvokeTool."""

from __future__ import annotations

from pathlib import Path

import grpc
from google.protobuf import json_format, struct_pb2

from projectqa.server.app import create_server
from projectqa.server.config import Settings
from projectqa.v1 import admin_pb2, admin_pb2_grpc, tools_pb2, tools_pb2_grpc

from ..service.helpers import bearer_interceptors
from .example_site import installed_fixture, site_fixture  # noqa: F401 (fixtures)


async def test_listed_and_its_typed_tool_runs_through_grpc(
    example_installed: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "app.py").write_text("def f():\n    pass  # TODO: implement\n", encoding="utf-8")
    settings = Settings(
        data_dir=tmp_path / "data", listen_address="127.0.0.1:0", plugins=["example", "local"]
    )
    server, port = await create_server(settings)
    token = settings.admin_token_path.read_text(encoding="utf-8").strip()
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{port}", interceptors=bearer_interceptors(token)
    )
    try:
        async with channel:
            admin = admin_pb2_grpc.AdminServiceStub(channel)
            tools = tools_pb2_grpc.ToolsServiceStub(channel)
            plugins = (await admin.ListPlugins(admin_pb2.ListPluginsRequest())).plugins
            await admin.CreateProject(admin_pb2.CreateProjectRequest(slug="demo", name="Demo"))
            config = struct_pb2.Struct()
            config.update({"path": str(folder)})
            await admin.CreateConnector(
                admin_pb2.CreateConnectorRequest(
                    project="demo", name="repo", type="local", config=config
                )
            )
            await admin.SetProjectToolEnabled(
                admin_pb2.SetProjectToolEnabledRequest(
                    project="demo", tool="find_markers", enabled=True
                )
            )
            listed = await tools.ListTools(tools_pb2.ListToolsRequest(project="demo"))
            called = await tools.InvokeTool(
                tools_pb2.InvokeToolRequest(project="demo", tool="find_markers")
            )
    finally:
        await server.stop(0)

    example = {p.name: p for p in plugins}["example"]
    assert (example.distribution, example.version) == ("projectqa-example-plugin", "0.1.0")
    assert example.module == "projectqa_example_plugin"
    assert list(example.connector_types) == ["rss"]
    assert list(example.tools) == ["count_lines", "find_markers"]
    assert not example.blocked
    (markers,) = [t for t in listed.tools if t.name == "find_markers"]
    schema = json_format.MessageToDict(markers.arguments_schema)
    assert schema["properties"]["marker"]["enum"] == ["TODO", "FIXME", "XXX", "HACK"]
    assert schema["additionalProperties"] is False
    assert markers.description.startswith("Find a marker (TODO, FIXME, XXX, HACK)")
    assert not called.is_error, called.error
    assert json_format.MessageToDict(called.result) == {
        "hits": [{"connector": "repo", "at": "app.py:2", "line": "pass  # TODO: implement"}],
        "truncated": False,
    }
