"""RunGate: ripgrep runs at once, in total and per project, with a bounded queue."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from projectqa.server.limits import OverBudget, RunGate

LONG_S = 60.0  # never reached: turns come (or are refused) long before


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_project_past_its_runs_waits_and_other_projects_run() -> None:
    gate = RunGate.for_grep(max_runs=3, per_project=2)
    async with contextlib.AsyncExitStack() as held:
        for _ in range(2):
            await held.enter_async_context(gate.turn("prj_a", LONG_S))
        waiting = asyncio.ensure_future(gate.turn("prj_a", LONG_S).__aenter__())
        await settle()
        assert not waiting.done() and gate.queued == 1
        await held.enter_async_context(gate.turn("prj_b", LONG_S))  # another project runs
    await asyncio.wait_for(waiting, 5)  # a turn came once the project's runs ended
    assert gate.queued == 0


async def test_runs_past_the_total_wait_and_the_queue_is_bounded() -> None:
    gate = RunGate.for_grep(max_runs=1, per_project=1)
    async with gate.turn("prj_a", LONG_S):
        queued = [
            asyncio.ensure_future(gate.turn(f"prj_{n}", LONG_S).__aenter__()) for n in range(4)
        ]
        await settle()
        assert gate.queued == 4
        with pytest.raises(OverBudget) as refused:
            async with gate.turn("prj_z", LONG_S):
                pass
        assert "PROJECTQA_GREP_MAX_RUNS" in str(refused.value)
        assert "at most 4 grep calls waiting" in str(refused.value)
        for future in queued:
            future.cancel()
        await asyncio.gather(*queued, return_exceptions=True)
    assert gate.queued == 0
    async with gate.turn("prj_a", LONG_S):  # cancelled waiters left nothing held
        pass


async def test_no_turn_within_the_time_bound_is_refused_naming_the_limit() -> None:
    gate = RunGate.for_grep(max_runs=2, per_project=1)
    async with gate.turn("prj_a", LONG_S):
        with pytest.raises(OverBudget) as refused:
            async with gate.turn("prj_a", 0.01):
                pass
    assert "PROJECTQA_GREP_MAX_RUNS_PER_PROJECT" in str(refused.value)
    assert gate.queued == 0 and not gate._keys  # nothing of prj_a stays in memory
