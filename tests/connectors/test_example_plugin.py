"""The example third-party plugin, installed with pip like any plugin, then seen and used.

The package at ``plugins/example-plugin`` is built and installed (``pip install
--target``) into a temporary folder once per session; putting that folder on
``sys.path`` is all it takes for the ``projectqa`` entry point to be found, as
it would be in a virtualenv's site-packages.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2

from projectqa.server.app import create_server
from projectqa.server.config import Settings
from projectqa.server.plugin_host import load_plugins
from projectqa.server.sources import (
    Checkpoint,
    DocumentKind,
    SourceContext,
    SourceDocument,
    SourceError,
)
from projectqa.v1 import admin_pb2, admin_pb2_grpc, tools_pb2, tools_pb2_grpc

from ..plugins.example_site import installed_fixture, site_fixture  # noqa: F401 (fixtures)
from .fakes import FakeFeed

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title>Hello releases</title>
    <link>https://hello.example/releases</link>
    <description>Release notes</description>
    <item>
      <title>Hello 2.0</title>
      <link>https://hello.example/releases/2.0</link>
      <guid isPermaLink="false">release-2.0</guid>
      <pubDate>Tue, 02 Jan 2024 10:00:00 GMT</pubDate>
      <dc:creator>Ann Lee</dc:creator>
      <content:encoded><![CDATA[<p>Dark mode &amp; faster search.</p>
        <ul><li>Removed the <code>--legacy</code> flag</li></ul><script>track()</script>]]>
      </content:encoded>
    </item>
    <item>
      <title>Hello 1.9</title>
      <link>https://hello.example/releases/1.9</link>
      <description>Bug fixes.</description>
    </item>
  </channel>
</rss>"""
ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Status</title>
  <id>urn:uuid:60a76c80-d399-11d9-b91C-0003939e0af6</id>
  <updated>2024-01-03T18:30:02Z</updated>
  <entry>
    <title>API degraded</title>
    <link rel="alternate" href="https://status.example/incidents/7"/>
    <id>urn:incident:7</id>
    <updated>2024-01-03T18:30:02Z</updated>
    <author><name>Ops</name></author>
    <summary type="html">&lt;p&gt;Elevated error rates.&lt;/p&gt;</summary>
  </entry>
</feed>"""


@pytest.fixture
def feed_module(example_installed: Path) -> ModuleType:
    module = importlib.import_module("projectqa_example_plugin.feed")
    assert Path(module.__file__ or "").is_relative_to(example_installed)  # the installed copy
    return module


def test_pip_installed_plugin_registers_its_connector_type(example_installed: Path) -> None:
    host = load_plugins(["example"])

    assert host.blocked == {}
    entry = host.catalog.connector_types["rss"]
    assert entry.plugin == "example"
    assert entry.item.config_schema["required"] == ["url"]


async def test_a_server_lists_it_in_list_connector_types(
    example_installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PROJECTQA_CONFIG", "PROJECTQA_MONGODB_URI", "PROJECTQA_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(
        data_dir=tmp_path / "data", listen_address="127.0.0.1:0", plugins=["example", "github"]
    )
    server, port = await create_server(settings)
    try:
        token = settings.admin_token_path.read_text(encoding="utf-8").strip()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = admin_pb2_grpc.AdminServiceStub(channel)
            response = await stub.ListConnectorTypes(
                admin_pb2.ListConnectorTypesRequest(),
                metadata=[("authorization", f"Bearer {token}")],
            )
    finally:
        await server.stop(0)

    listed = {t.name: t.plugin for t in response.connector_types}
    assert listed == {"github": "github", "rss": "example"}


async def test_a_project_enables_its_tool_and_invokes_it_through_grpc(
    example_installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PROJECTQA_CONFIG", "PROJECTQA_MONGODB_URI", "PROJECTQA_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "repo"
    (folder / "pkg").mkdir(parents=True)
    (folder / "pkg" / "a.py").write_text("one\ntwo\nthree\n", encoding="utf-8")
    (folder / "notes.md").write_text("not python\n", encoding="utf-8")
    settings = Settings(
        data_dir=tmp_path / "data", listen_address="127.0.0.1:0", plugins=["example", "local"]
    )
    server, port = await create_server(settings)
    try:
        token = settings.admin_token_path.read_text(encoding="utf-8").strip()
        auth = [("authorization", f"Bearer {token}")]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            admin = admin_pb2_grpc.AdminServiceStub(channel)
            tools = tools_pb2_grpc.ToolsServiceStub(channel)
            await admin.CreateProject(
                admin_pb2.CreateProjectRequest(slug="demo", name="Demo"), metadata=auth
            )
            config = struct_pb2.Struct()
            config.update({"path": str(folder)})
            await admin.CreateConnector(
                admin_pb2.CreateConnectorRequest(
                    project="demo", name="repo", type="local", config=config
                ),
                metadata=auth,
            )
            before = await tools.ListTools(
                tools_pb2.ListToolsRequest(project="demo"), metadata=auth
            )
            await admin.SetProjectToolEnabled(
                admin_pb2.SetProjectToolEnabledRequest(
                    project="demo", tool="count_lines", enabled=True
                ),
                metadata=auth,
            )
            after = await tools.ListTools(tools_pb2.ListToolsRequest(project="demo"), metadata=auth)
            arguments = struct_pb2.Struct()
            arguments.update({"glob": "**/*.py"})
            response = await tools.InvokeTool(
                tools_pb2.InvokeToolRequest(
                    project="demo", tool="count_lines", arguments=arguments
                ),
                metadata=auth,
            )
    finally:
        await server.stop(0)

    assert "count_lines" not in {t.name for t in before.tools}  # off until enabled
    listed = {t.name: t for t in after.tools}
    assert listed["count_lines"].provider == "example"
    assert listed["count_lines"].origin == tools_pb2.TOOL_ORIGIN_PLUGIN
    assert not response.is_error, response.error
    result = json_format.MessageToDict(response.result)
    assert result["total_lines"] == 3
    assert [f["path"] for f in result["files"]] == ["pkg/a.py"]


def run(
    module: ModuleType,
    url: str,
    cursor: dict[str, Any] | None = None,
    full: bool = True,
    **config: Any,
) -> list[Any]:
    context = SourceContext(
        config={"url": url, **config}, cursor=cursor, work_dir=Path("."), full=full
    )
    return list(module.open_source(context).items())


def test_the_rss_connector_reads_a_feed(feed_module: ModuleType) -> None:
    with FakeFeed(RSS) as feed:
        items = run(feed_module, f"{feed.url}/feed.xml")

    documents = [i for i in items if isinstance(i, SourceDocument)]
    assert [d.key for d in documents] == [
        "entries/release-2.0",
        "entries/https://hello.example/releases/1.9",  # no guid: the link identifies it
    ]
    release = documents[0]
    assert release.kind is DocumentKind.PAGE
    assert release.url == "https://hello.example/releases/2.0"
    assert release.text == (
        "Hello 2.0\n"
        "Hello releases · Tue, 02 Jan 2024 10:00:00 GMT · Ann Lee\n"
        "\n"
        "Dark mode & faster search.\n"
        "- Removed the --legacy flag\n"
    )
    assert isinstance(items[-1], Checkpoint)
    assert items[-1].cursor["etag"].startswith('"')  # for the next incremental run


def test_an_unchanged_feed_costs_one_304_on_incremental_runs(feed_module: ModuleType) -> None:
    with FakeFeed(RSS) as feed:
        url = f"{feed.url}/feed.xml"
        cursor = run(feed_module, url)[-1].cursor
        again = run(feed_module, url, cursor=cursor, full=False)

    assert again == [Checkpoint(cursor)]
    assert feed.requests[-1].status == 304


def test_atom_feeds_and_max_entries(feed_module: ModuleType) -> None:
    with FakeFeed(ATOM) as feed:
        items = run(feed_module, f"{feed.url}/feed.xml", max_entries=1)

    (incident,) = [i for i in items if isinstance(i, SourceDocument)]
    assert incident.key == "entries/urn:incident:7"
    assert incident.url == "https://status.example/incidents/7"
    assert incident.text.endswith("\nElevated error rates.\n")
    assert incident.metadata == {
        "feed": "Status",
        "published": "2024-01-03T18:30:02Z",
        "author": "Ops",
    }


def test_feed_failures_are_source_errors(feed_module: ModuleType) -> None:
    with FakeFeed("<html><body>login</body>") as feed:
        with pytest.raises(SourceError, match="answered 404"):
            run(feed_module, f"{feed.url}/missing.xml")
        with pytest.raises(SourceError, match="is not valid XML"):
            run(feed_module, f"{feed.url}/feed.xml")
        feed.document = "<html><body>login</body></html>"
        with pytest.raises(SourceError, match=r"not an RSS 2\.0 or Atom feed"):
            run(feed_module, f"{feed.url}/feed.xml")
