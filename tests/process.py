"""Run a program to completion from async tests, never blocking the event loop and never
waiting forever."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest

DEFAULT_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[dict[str, Any]]:
        """The JSON objects the program printed, one per line."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


async def run(*argv: str, timeout: float = DEFAULT_TIMEOUT_S, **options: Any) -> Completed:
    """Runs ``argv`` (stdin closed unless ``options`` say otherwise), capturing its output.

    Fails the test, after killing the program, when it is not done within ``timeout``.
    """
    options.setdefault("stdin", asyncio.subprocess.DEVNULL)
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, **options
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"{' '.join(argv)} did not finish within {timeout:.0f} s")
    assert process.returncode is not None
    return Completed(process.returncode, out.decode(), err.decode())
