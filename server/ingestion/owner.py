"""Who runs a run: an owner id that lets a restarted server tell a dead owner from a live one.

``host:pid:start`` where ``host`` is the host name and the PID namespace (containers
on the host's network share its name but not its pids), and ``start`` the process
start time from ``/proc/<pid>/stat`` (so a recycled pid is not mistaken for the old
process).
A worker adds ``:<random>`` to tell the workers of one process apart. Workers take
over at once the runs of a process of this host that no longer exists; any
other run only when its lease has stood still for the lease time.
"""

from __future__ import annotations

import os
import secrets
import socket
from functools import cache
from pathlib import Path


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime), counted after the parenthesised command name.
    return stat.rsplit(")", 1)[1].split()[19]


@cache
def _host() -> str:
    """This host as far as pids go: its name and the PID namespace's inode."""
    try:
        namespace = os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:  # no /proc: a random one, so no other process is judged by our pids
        namespace = secrets.token_hex(4)
    return f"{socket.gethostname()}/{namespace}"


@cache
def this_owner() -> str:
    pid = os.getpid()
    return f"{_host()}:{pid}:{_start_time(pid) or secrets.token_hex(4)}"


def owner_is_dead(owner: str) -> bool:
    """True when ``owner`` was a process of this host that is gone; False when unsure."""
    # host:pid:start, then anything the process adds to tell its workers apart.
    host, pid_text, start = ([*owner.split(":", 3), "", ""])[:3]
    if host != _host() or not pid_text.isdigit():  # another host or PID namespace: unsure
        return False
    if f"{host}:{pid_text}:{start}" == this_owner():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    current = _start_time(pid)
    return current is not None and current != start
