"""The bridge when the server is unreachable, refuses the token, goes away and comes back,
and when the editor goes away."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.process import run
from tests.service.retrieval_fixtures import IndexedProject

from .conftest import BRIDGE, Bridge, admin_token, bridge_env, connection_options, open_bridge
from .proxy import Proxy

pytestmark = pytest.mark.asyncio(loop_scope="module")

REQUEST_FAILED = -32803


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def failed(bridge: Bridge) -> str:
    with pytest.raises(JsonRpcException) as raised:
        await bridge.command("projectqa.ask", {"question": "What does the cart do?"})
    assert raised.value.code == REQUEST_FAILED
    return raised.value.message


async def until(condition, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def test_an_unreachable_server_at_start_is_reported_once_and_the_bridge_lives(
    qa: IndexedProject,
) -> None:
    address = f"127.0.0.1:{closed_port()}"
    async with open_bridge(qa.shop, options={"address": address, "token": "t"}) as bridge:
        await until(lambda: bridge.shown(types.MessageType.Error))
        message = await failed(bridge)
        assert message.startswith(f"the server at {address} is unreachable"), message
        # showMessage adds the one product prefix ("ProjectQA: ProjectQA server at …" was shown).
        [shown] = bridge.shown(types.MessageType.Error)
        assert shown.startswith(f"ProjectQA: the server at {address} is unreachable"), shown
        await failed(bridge)
        status = await bridge.status()
        assert status["connected"] is False and "unreachable" in status["message"]
        assert len(bridge.shown(types.MessageType.Error)) == 1
        uri = bridge.open("shop/cart.py")  # hover and symbols stay quiet: one message only
        hovered = await bridge.client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=2, character=8),
            )
        )
        assert hovered is None
        query = types.WorkspaceSymbolParams(query="Cart")
        assert not await bridge.client.workspace_symbol_async(query)
        for _ in range(2):  # unchanged settings during an outage: the probe carries on
            bridge.client.workspace_did_change_configuration(
                types.DidChangeConfigurationParams(settings={})
            )
        await bridge.status()
        assert len(bridge.shown(types.MessageType.Error)) == 1


async def test_a_rejected_token_is_reported_clearly(qa: IndexedProject) -> None:
    options = {"address": f"127.0.0.1:{qa.port}", "token": "not-a-token"}
    async with open_bridge(qa.shop, options=options) as bridge:
        await until(lambda: bridge.shown(types.MessageType.Error))
        [message] = bridge.shown(types.MessageType.Error)
        rejected = f"ProjectQA: the server at {options['address']} rejected the token"
        assert message.startswith(rejected), message
        assert "projectqa.token" in message
        assert "rejected the token" in await failed(bridge)


async def test_the_token_may_come_from_the_editor_settings(qa: IndexedProject) -> None:
    options = {"address": f"127.0.0.1:{qa.port}"}
    settings = {"token": admin_token(qa), "project": "shop"}
    async with open_bridge(qa.shop, options=options, settings=settings) as bridge:
        status = await bridge.wait_connected()
        assert status["project"] == "shop"


async def test_a_workspace_no_project_indexes_asks_for_the_setting(
    qa: IndexedProject, tmp_path: Path
) -> None:
    async with open_bridge(tmp_path, options=connection_options(qa)) as bridge:
        await until(lambda: bridge.shown(types.MessageType.Error))
        message = await failed(bridge)
        assert f"no project indexes {tmp_path}" in message
        assert "projectqa.project" in message


async def test_an_unknown_project_is_not_found(qa: IndexedProject) -> None:
    options = connection_options(qa, project="no-such-project")
    async with open_bridge(qa.shop, options=options) as bridge:
        await until(lambda: bridge.shown(types.MessageType.Error))
        assert "NOT_FOUND" in await failed(bridge)


async def test_the_bridge_reconnects_when_the_server_comes_back(qa: IndexedProject) -> None:
    proxy = Proxy(qa.port)
    port = await proxy.start()
    options = connection_options(qa, address=f"127.0.0.1:{port}")
    async with open_bridge(qa.shop, options=options) as bridge:
        await bridge.wait_connected()
        await proxy.cut()
        assert "unreachable" in await failed(bridge)
        await failed(bridge)
        assert len(bridge.shown(types.MessageType.Error)) == 1  # one message per outage
        await asyncio.sleep(1.0)  # the probe fails a few times meanwhile
        await proxy.start()  # back, on the same port
        await bridge.wait_connected()
        assert any("connected to" in m for m in bridge.shown(types.MessageType.Info))
        result = await bridge.command(
            "projectqa.ask", {"question": "How is the discount applied?", "extractive": True}
        )
        assert result["citations"]
    await proxy.cut()


async def test_the_bridge_exits_when_the_editor_process_dies(qa: IndexedProject) -> None:
    editor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        async with open_bridge(
            qa.shop, options=connection_options(qa), process_id=editor.pid
        ) as bridge:
            await bridge.wait_connected()
            editor.kill()
            editor.wait()
            process = bridge.client._server
            assert process is not None
            assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        editor.kill()


async def test_the_bridge_exits_when_its_stdin_closes() -> None:
    process = await asyncio.create_subprocess_exec(
        *BRIDGE,
        "--stdio",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=bridge_env(),
    )
    assert process.stdin is not None
    process.stdin.close()
    try:
        await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode is not None


async def test_the_bridge_serves_tcp_when_asked() -> None:
    port = closed_port()
    process = await asyncio.create_subprocess_exec(
        *BRIDGE, "--tcp", "--port", str(port),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env=bridge_env(),
    )  # fmt: skip
    try:
        async with asyncio.timeout(30):
            while True:
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    break
                except OSError:
                    await asyncio.sleep(0.1)
            body = json.dumps(
                {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                 "params": {"processId": None, "rootUri": None, "capabilities": {}}}
            ).encode()  # fmt: skip
            writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
            headers = await reader.readuntil(b"\r\n\r\n")
            length = int(headers.split(b"Content-Length:")[1].split(b"\r\n")[0])
            response = json.loads(await reader.readexactly(length))
            writer.close()
        commands = response["result"]["capabilities"]["executeCommandProvider"]["commands"]
        assert {"projectqa.ask", "projectqa.explainSelection", "projectqa.status"} <= set(commands)
    finally:
        process.kill()
        await process.wait()


async def test_a_request_right_after_start_waits_for_the_connection(qa: IndexedProject) -> None:
    async with open_bridge(qa.shop, options=connection_options(qa)) as bridge:
        result = await bridge.command(
            "projectqa.ask", {"question": "How is a price parsed?", "extractive": True}
        )
        assert result["citations"]


async def test_tcp_refuses_a_host_other_than_loopback() -> None:
    done = await run(*BRIDGE, "--tcp", "--host", "0.0.0.0", env=bridge_env())
    assert done.returncode != 0
    assert "--host must be a loopback address" in done.stderr
