"""run_plugin_tool: plugin functions on their own threads, whatever they do."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from projectqa.server.registry import ToolSpec
from projectqa.server.tools.base import Checkout, ToolContext
from projectqa.server.tools.plugin_runner import (
    MAX_RESULT_BYTES,
    PluginToolThreads,
    run_plugin_tool,
)

SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def spec(function: Callable[[dict[str, Any], ToolContext], Any], name: str = "t") -> ToolSpec:
    return ToolSpec(name, "test tool", SCHEMA, function)


@pytest.fixture
def context(tmp_path: Path) -> ToolContext:
    return ToolContext("prj_1", "alpha", (Checkout("con_1", "repo", tmp_path),))


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown, so functions that "hang" on it give their threads back."""
    event = threading.Event()
    yield event
    event.set()


async def call(function: Any, context: ToolContext, arguments: Any = None, **kw: Any) -> Any:
    kw.setdefault("timeout_s", 10)
    return await run_plugin_tool(spec(function), arguments or {}, context, **kw)


async def test_value_comes_back_as_plain_json_data(context: ToolContext) -> None:
    seen = []

    def tool(arguments: dict[str, Any], ctx: ToolContext) -> Any:
        seen.append((arguments, ctx))
        arguments["mutated"] = True  # must not reach the caller's dict
        return {"pair": (1, 2), "n": 3, "ok": True, "none": None, 4: "int key"}

    arguments = {"glob": "*.py"}
    result = await call(tool, context, arguments)

    assert not result.is_error, result.error
    assert result.value == {"pair": [1, 2], "n": 3, "ok": True, "none": None, "4": "int key"}
    assert result.duration_ms >= 0
    assert seen == [({"glob": "*.py", "mutated": True}, context)]
    assert arguments == {"glob": "*.py"}


async def test_an_exception_becomes_an_error_with_type_and_message(
    context: ToolContext, caplog: pytest.LogCaptureFixture
) -> None:
    def tool(arguments: dict[str, Any], ctx: ToolContext) -> Any:
        raise KeyError("no such thing")

    with caplog.at_level(logging.WARNING, logger="projectqa"):
        result = await call(tool, context)

    assert result.is_error
    assert result.error == "KeyError: 'no such thing'"
    assert "Traceback" not in result.error
    assert result.value is None
    (record,) = [r for r in caplog.records if "plugin tool" in r.getMessage()]
    assert record.exc_info is not None  # the traceback goes to the log


async def test_system_exit_is_an_error_too(context: ToolContext) -> None:
    def tool(arguments: dict[str, Any], ctx: ToolContext) -> Any:
        raise SystemExit(3)

    result = await call(tool, context)

    assert (result.is_error, result.error) == (True, "SystemExit: 3")


async def test_a_hung_call_times_out(context: ToolContext, release: threading.Event) -> None:
    def tool(arguments: dict[str, Any], ctx: ToolContext) -> Any:
        release.wait()
        return "late"

    result = await call(tool, context, timeout_s=0.2, threads=PluginToolThreads(2))

    assert result.is_error
    assert result.error == "timed out after 0.2 s"


async def test_stuck_threads_make_calls_fail_at_once_until_they_return(
    context: ToolContext, release: threading.Event
) -> None:
    threads = PluginToolThreads(workers=1)

    def hang(arguments: dict[str, Any], ctx: ToolContext) -> Any:
        release.wait()

    first = await call(hang, context, timeout_s=0.1, threads=threads)
    assert first.error == "timed out after 0.1 s"
    assert threads.stuck == 1

    # Not queued behind the hung call: refused without running.
    ran = threading.Event()
    refused = await call(lambda a, c: ran.set(), context, timeout_s=3600, threads=threads)
    assert refused.is_error
    assert "all 1 plugin tool threads are stuck" in refused.error
    assert not ran.is_set()

    release.set()  # the hung call returns and gives its thread back
    for _ in range(1000):
        if threads.stuck == 0:
            break
        await asyncio.sleep(0.01)
    assert threads.stuck == 0
    again = await call(lambda a, c: "fine", context, threads=threads)
    assert (again.is_error, again.value) == (False, "fine")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({1, 2}, "not JSON: Object of type set is not JSON serializable"),
        ({"x": float("nan")}, "not JSON: Out of range float values are not JSON compliant"),
        ([float("inf")], "not JSON"),
        (object(), "not JSON: Object of type object"),
        ({(1, 2): "tuple key"}, "not JSON"),
        ("x" * (MAX_RESULT_BYTES + 1), f"more than {MAX_RESULT_BYTES} bytes"),
        (["é" * (MAX_RESULT_BYTES // 2)], f"more than {MAX_RESULT_BYTES} bytes"),  # UTF-8 bytes
        ("\udc80 lone surrogate", "not valid Unicode"),
    ],
    ids=["set", "nan", "inf", "object", "tuple-key", "huge", "huge-utf8", "surrogate"],
)
async def test_garbage_results_are_errors(context: ToolContext, value: Any, expected: str) -> None:
    result = await call(lambda a, c: value, context)

    assert result.is_error
    assert expected in result.error
    assert result.value is None


async def test_a_cycle_is_an_error(context: ToolContext) -> None:
    loop: list[Any] = []
    loop.append(loop)

    result = await call(lambda a, c: loop, context)

    assert result.is_error
    assert "Circular reference" in result.error


async def test_async_functions_are_awaited_on_a_pool_thread(context: ToolContext) -> None:
    loop_thread = threading.get_ident()

    async def tool(arguments: dict[str, Any], ctx: ToolContext) -> Any:
        await asyncio.sleep(0)  # a real await, on a loop of the tool thread's own
        return {"thread": threading.current_thread().name, "project": ctx.project_slug}

    result = await call(tool, context)

    assert not result.is_error, result.error
    assert result.value["thread"].startswith("projectqa-plugin-tool")
    assert result.value["project"] == "alpha"
    assert threading.get_ident() == loop_thread


async def test_an_async_tool_is_cancelled_at_its_timeout_and_frees_its_thread(
    context: ToolContext,
) -> None:
    threads = PluginToolThreads(workers=1)
    cancelled = threading.Event()

    async def tool(arguments: dict[str, Any], ctx: ToolContext) -> Any:
        try:
            await asyncio.Event().wait()  # never set
        except asyncio.CancelledError:
            cancelled.set()
            raise

    result = await call(tool, context, timeout_s=0.2, threads=threads)

    assert (result.is_error, result.error) == (True, "timed out after 0.2 s")
    for _ in range(1000):  # the thread's own loop cancels the coroutine at the same bound
        if threads.stuck == 0:
            break
        await asyncio.sleep(0.01)
    assert cancelled.is_set()
    assert threads.stuck == 0
    again = await call(lambda a, c: "fine", context, threads=threads)
    assert again.value == "fine"


class QueueClock:
    """Monotonic time plus a jump the test makes while a call waits in the queue."""

    def __init__(self) -> None:
        self.jump = 0.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return time.monotonic() + self.jump


async def queued_behind_a_busy_thread(
    tool: Any, context: ToolContext, release: threading.Event, queued_for: float
) -> Any:
    """Run ``tool`` (timeout 1000 s) on a one-thread pool whose thread is busy while
    ``queued_for`` seconds pass on the pool's clock; the call's result."""
    clock = QueueClock()
    threads = PluginToolThreads(workers=1, clock=clock)
    busy = threading.Event()

    def hold(arguments: dict[str, Any], ctx: ToolContext) -> Any:
        busy.set()
        release.wait()

    holder = asyncio.create_task(call(hold, context, timeout_s=3600, threads=threads))
    while not busy.is_set():  # bounded by the holder's call, which starts at once
        await asyncio.sleep(0.01)
    reads = clock.reads
    queued = asyncio.create_task(call(tool, context, timeout_s=1000, threads=threads))
    while clock.reads == reads:  # the call took its deadline and is queued
        await asyncio.sleep(0.01)
    clock.jump = queued_for
    release.set()  # the thread takes the queued call up only now
    await holder
    return await asyncio.wait_for(queued, 60)  # old code: the coroutine got all 1000 s


async def test_an_async_tool_is_cancelled_at_the_deadline_of_its_call_not_of_its_start(
    context: ToolContext, release: threading.Event
) -> None:
    started, cancelled = threading.Event(), threading.Event()

    async def tool(arguments: dict[str, Any], ctx: ToolContext) -> Any:
        started.set()
        try:
            await asyncio.Event().wait()  # never set
        except asyncio.CancelledError:
            cancelled.set()
            raise

    # 999.8 of its 1000 s pass in the queue: 0.2 s are left when it starts.
    result = await queued_behind_a_busy_thread(tool, context, release, queued_for=999.8)

    assert (result.is_error, result.error) == (True, "timed out after 1000 s")
    assert started.is_set() and cancelled.is_set()


async def test_a_call_queued_past_its_deadline_is_not_started(
    context: ToolContext, release: threading.Event
) -> None:
    ran = threading.Event()

    result = await queued_behind_a_busy_thread(
        lambda a, c: ran.set(), context, release, queued_for=1000.5
    )

    assert (result.is_error, result.error) == (True, "timed out after 1000 s")
    assert not ran.is_set()


async def test_an_async_tool_that_raises_is_an_error(context: ToolContext) -> None:
    async def tool(arguments: dict[str, Any], ctx: ToolContext) -> Any:
        raise TimeoutError("the upstream API did not answer")

    result = await call(tool, context)

    assert (result.is_error, result.error) == (
        True,
        "TimeoutError: the upstream API did not answer",
    )


async def test_schema_defaults_are_filled_in_before_the_call(context: ToolContext) -> None:
    schema = {
        "type": "object",
        "properties": {
            "glob": {"type": "string", "default": "**/*.py"},
            "limit": {"type": "integer", "default": 10},
            "given": {"type": "string", "default": "unused"},
            "options": {
                "type": "object",
                "properties": {"case": {"type": "boolean", "default": True}},
            },
        },
    }
    explicit = ToolSpec("t", "test tool", schema, lambda arguments, ctx: arguments)
    arguments = {"given": "mine", "options": {}}

    result = await run_plugin_tool(explicit, arguments, context, timeout_s=10)

    assert result.value == {
        "glob": "**/*.py",
        "limit": 10,
        "given": "mine",
        "options": {"case": True},
    }
    assert arguments == {"given": "mine", "options": {}}  # the caller's dict is untouched


async def test_a_result_of_exactly_the_cap_is_fine(context: ToolContext) -> None:
    text = "y" * (MAX_RESULT_BYTES - 2)  # plus the two quotes

    result = await call(lambda a, c: text, context)

    assert not result.is_error
    assert result.value == text


async def test_calls_run_off_the_event_loop_thread(context: ToolContext) -> None:
    loop_thread = threading.get_ident()

    result = await call(lambda a, c: threading.current_thread().name, context)

    assert result.value.startswith("projectqa-plugin-tool")
    assert threading.get_ident() == loop_thread
