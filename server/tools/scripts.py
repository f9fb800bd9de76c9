"""Running script tools: a project admin's argv in a checkout, never through a shell.

Arguments reach the program as argv items and environment variables only, so
shell metacharacters in them stay literal. The program runs in a new session
(its own process group) with a minimal environment and no stdin; on timeout or
when its output passes the tool's cap, the whole group is killed.

Its working directory is the checkout's root as opened and judged by descriptor
(``CheckoutRoot``): the child inherits the descriptor and starts in
``/proc/self/fd/<n>``, so a checkout folder swapped for a symlink since the checkouts were
listed cannot start it elsewhere. Below that the program reads by name, as any program
does: script tools are commands a project admin configured, not confined against swaps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data_guard import DataDirGuard
from ..models import CustomTool
from ..threads import run_to_end
from .base import Checkout, ToolResult
from .beneath import CheckoutRoot, RootUnavailable

# ``{name}`` in a command item: a property of the tool's arguments schema.
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_-]*)\}")
# Variables copied from the server's environment; nothing else is (no secrets,
# no PROJECTQA_* settings).
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "USER", "LOGNAME")
DEFAULT_ENV = {"PATH": os.defpath, "LANG": "C.UTF-8"}
DRAIN_GRACE_S = 1.0  # after the group is killed, for a pipe an escaped process still holds
ERROR_TAIL_CHARS = 500


class CommandError(Exception):
    """The command cannot be started; the message says why, for the caller."""


def placeholders(item: str) -> list[str]:
    """Argument names a command item refers to, in order."""
    return PLACEHOLDER.findall(item)


def argument_text(value: Any) -> str:
    """How an argument is written into argv and the environment: strings as they are,
    everything else as JSON text."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def expand_command(command: list[str], arguments: dict[str, Any]) -> list[str]:
    """The argv for ``arguments`` (rules in ``CustomTool``'s docstring and admin.proto).

    An item that is exactly ``{name}`` becomes the argument (an array, one item
    per element); ``{name}`` inside a longer item is replaced by its text. An
    item naming an argument that was not given is dropped.
    """
    argv: list[str] = []
    for item in command:
        whole = PLACEHOLDER.fullmatch(item)
        if whole:
            argv.extend(_whole_item(arguments, whole.group(1)))
        elif all(name in arguments for name in placeholders(item)):
            argv.append(PLACEHOLDER.sub(lambda m: argument_text(arguments[m.group(1)]), item))
    return argv


def _whole_item(arguments: dict[str, Any], name: str) -> list[str]:
    if name not in arguments:
        return []
    value = arguments[name]
    items = [argument_text(e) for e in value] if isinstance(value, list) else [argument_text(value)]
    for item in items:
        # A whole argv item starting with "-" is read as an option by nearly every
        # program (``rg --pre=prog``, ``git -c core.pager=…``): a caller would pick
        # the program's behaviour, not just its input. Inside a longer item
        # (``--select={x}``) a value is only ever that option's value.
        if item.startswith("-"):
            raise CommandError(
                f"argument {name!r} must not start with '-': it would be read as an option"
            )
    return items


def script_env(arguments: dict[str, Any]) -> dict[str, str]:
    """A minimal environment plus ``PROJECTQA_ARG_<NAME>`` per argument and ``PROJECTQA_ARGS``."""
    env = dict(DEFAULT_ENV)
    env.update({name: os.environ[name] for name in PASSED_ENV if name in os.environ})
    for name, value in arguments.items():
        env["PROJECTQA_ARG_" + re.sub(r"[^A-Z0-9_]", "_", name.upper())] = argument_text(value)
    env["PROJECTQA_ARGS"] = json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))
    return env


def resolve_program(program: str, cwd: Path, path: str) -> str:
    """The executable to run: a bare name from ``path`` (PATH), a relative path inside ``cwd``
    (symlinks included), or an absolute path; ``CommandError`` if there is none."""
    if "/" not in program:
        found = shutil.which(program, path=path)
        if found is None:
            raise CommandError(f"command {program!r} not found in PATH")
        return found
    candidate = Path(program) if os.path.isabs(program) else cwd / program
    if not os.path.isabs(program):
        real = candidate.resolve()
        if not real.is_relative_to(cwd.resolve()):
            raise CommandError(f"command {program!r} leaves the working directory")
    if not candidate.exists():
        raise CommandError(f"command {program!r} does not exist")
    if not candidate.is_file():
        raise CommandError(f"command {program!r} is not a file")
    if not os.access(candidate, os.X_OK):
        raise CommandError(f"command {program!r} is not executable")
    return str(candidate)


@dataclass
class _Output:
    """stdout and stderr as read, bounded together by ``cap`` bytes."""

    cap: int
    streams: dict[int, bytearray] = field(default_factory=lambda: {1: bytearray(), 2: bytearray()})
    flooded: bool = False

    def keep(self, fd: int, chunk: bytes) -> bool:
        """Add ``chunk``; False once the cap is passed (the rest is dropped)."""
        room = self.cap - sum(len(b) for b in self.streams.values())
        if room > 0:
            self.streams[fd] += chunk[:room]
        if len(chunk) > room:
            self.flooded = True
        return not self.flooded

    def text(self, fd: int) -> str:
        return self.streams[fd].decode("utf-8", errors="replace")


class _Run(asyncio.SubprocessProtocol):
    """Collects a process's output as it arrives and reports its end.

    A protocol rather than ``Process`` streams: ``Process.wait()`` also waits
    for the pipes to close, which a process that left the group can hold open
    forever; here the exit and the pipes are seen separately.
    """

    def __init__(self, cap: int) -> None:
        loop = asyncio.get_running_loop()
        self.output = _Output(cap)
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.pid = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, asyncio.SubprocessTransport):
            raise TypeError("a script runs as a subprocess")
        self.pid = transport.get_pid()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if not self.output.flooded and not self.output.keep(fd, data):
            _kill_group(self.pid)

    def process_exited(self) -> None:
        _resolve(self.exited)

    def connection_lost(self, exc: Exception | None) -> None:  # exited and both pipes closed
        _resolve(self.exited)
        _resolve(self.closed)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def run_script_tool(
    tool: CustomTool,
    arguments: dict[str, Any],
    checkout: Checkout,
    guard: DataDirGuard | None = None,
) -> ToolResult:
    """Run ``tool`` with ``arguments`` in ``checkout``'s root (opened and judged by
    ``guard``); every failure is an error result.

    The value is ``{"exit_code", "stdout", "stderr", "truncated"}`` (output
    decoded as UTF-8 with replacements), also on errors after the start: a
    non-zero exit, a timeout or output past ``tool.max_output_bytes``.
    """
    started = time.monotonic()
    try:
        with _opened_root(checkout, guard) as root:
            transport, run = await _start(tool, arguments, Path(root.proc_path), root.fd)
    except CommandError as exc:
        return ToolResult(is_error=True, error=str(exc), duration_ms=_since(started))
    try:
        timed_out = await _supervise(run, tool.timeout_seconds)
        code = transport.get_returncode()
    finally:
        if not run.closed.done():  # the caller gave up (cancelled) mid-run
            _kill_group(run.pid)
        # Reaped by the child watcher first: closing the transport of a program that
        # exited unseen would reap it itself ("Unknown child process pid …").
        await run_to_end(run.exited)
        transport.close()
    return _result(tool, code, run.output, timed_out, started)


def _opened_root(checkout: Checkout, guard: DataDirGuard | None) -> CheckoutRoot:
    try:
        return CheckoutRoot.of(checkout, guard)
    except RootUnavailable as unavailable:
        raise CommandError(
            f"the working directory (the connector's checkout) does not exist or may not "
            f"be read ({unavailable})"
        ) from None


async def _start(
    tool: CustomTool, arguments: dict[str, Any], cwd: Path, cwd_fd: int
) -> tuple[asyncio.SubprocessTransport, _Run]:
    """Start the program in ``cwd``, the ``/proc/self/fd`` path of ``cwd_fd``: the child
    inherits the descriptor, so the path names the same folder in it."""
    env = script_env(arguments)
    argv = expand_command(tool.command, arguments)
    if not argv:
        raise CommandError("the command is empty after leaving out missing arguments")
    program = resolve_program(argv[0], cwd, env["PATH"])
    loop = asyncio.get_running_loop()
    try:
        # exec, as asyncio.create_subprocess_exec does (never a shell), with a
        # protocol of our own instead of stream readers.
        return await loop.subprocess_exec(
            lambda: _Run(tool.max_output_bytes),
            program,
            *argv[1:],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, killed as a whole
            pass_fds=(cwd_fd,),
        )
    except ValueError as exc:  # an argument with a NUL character
        raise CommandError(f"cannot pass the arguments: {exc}") from None
    except OSError as exc:  # ENOEXEC, EACCES, E2BIG (arguments too long) …
        raise CommandError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from None


async def _supervise(run: _Run, timeout_s: float) -> bool:
    """Wait for the program to end, or kill it when it times out; True if it timed out."""
    timed_out = False
    try:
        await asyncio.wait_for(asyncio.shield(run.exited), timeout_s)
    except TimeoutError:
        timed_out = True
    # The run ends with its program: whatever it left in its group goes too,
    # which closes the pipes those processes held.
    _kill_group(run.pid)
    # Past the grace, a process that left the group holds a pipe: stop reading it.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(run.closed), DRAIN_GRACE_S)
    return timed_out


def _kill_group(pid: int) -> None:
    # The group id is the leader's pid (start_new_session); Linux does not reuse
    # a pid while a group of that id has members, so this cannot hit strangers.
    if pid > 0:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
            os.killpg(pid, signal.SIGKILL)


def _result(
    tool: CustomTool, code: int | None, output: _Output, timed_out: bool, started: float
) -> ToolResult:
    value = {
        "exit_code": code if code is not None else -1,
        "stdout": output.text(1),
        "stderr": output.text(2),
        "truncated": output.flooded,
    }
    error = _error(tool, value, output.flooded, timed_out)
    return ToolResult(value=value, is_error=bool(error), error=error, duration_ms=_since(started))


def _error(tool: CustomTool, value: dict[str, Any], flooded: bool, timed_out: bool) -> str:
    if flooded:
        return f"output exceeded {tool.max_output_bytes} bytes; the command was killed"
    if timed_out:
        return f"timed out after {tool.timeout_seconds} s; the command was killed"
    code = value["exit_code"]
    if code < 0:
        return f"killed by {_signal_name(-code)}{_tail(value)}"
    if code > 0:
        return f"exited with code {code}{_tail(value)}"
    return ""


def _tail(value: dict[str, Any]) -> str:
    text = (value["stderr"] or value["stdout"]).strip()
    if not text:
        return ""
    return ": " + (text if len(text) <= ERROR_TAIL_CHARS else "..." + text[-ERROR_TAIL_CHARS:])


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _since(started: float) -> float:
    return (time.monotonic() - started) * 1000.0
