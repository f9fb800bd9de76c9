"""Process figures from Linux /proc: CPU time (per process and thread), RSS, machine load.

Used by ``chat_load.py`` to measure the server and the fake LLM from outside.
"""

from __future__ import annotations

import os
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    return cpu_seconds_of(Path(f"/proc/{pid}/stat"))


def cpu_seconds_of(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds per thread id of a process (threads that ended are not counted)."""
    times = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            times[int(task.name)] = cpu_seconds_of(task / "stat")
        except (OSError, ValueError):
            continue  # the thread ended meanwhile
    return times


def thread_split(pid: int, before: dict[int, float], after: dict[int, float]) -> str:
    """The phase's CPU by thread: the main thread (event loop), the busiest others."""
    spent = {tid: t - before.get(tid, 0.0) for tid, t in after.items()}
    main = spent.pop(pid, 0.0)
    others = sorted(spent.values(), reverse=True)
    top = ", ".join(f"{t:.2f}" for t in others[:3])
    return (
        f"main thread (event loop) {main:.2f} s, busiest other threads {top} s, "
        f"{len(others)} other threads {sum(others):.2f} s in all"
    )


def memory_mib(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) in MiB."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = int(value.split()[0]) / 1024
    return figures


def reset_peak(pid: int) -> bool:
    """Restart VmHWM from the current RSS (Linux >= 4.0); False when not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot, summed over all cores."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / CLK_TCK  # less idle and iowait
