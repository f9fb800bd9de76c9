"""Run a command confined by Linux Landlock to the folders it may read and write.

``python -I -S landlock.py --read P … --write P … -- command args…`` restricts itself
(and so everything it then starts) with ``landlock_restrict_self`` and execs the
command. ``P`` is a path, or a descriptor number the process inherited (``fd:N``): a
folder opened once and judged is given by descriptor, never by a name that could be
swapped. Every filesystem access Landlock knows (at the kernel's ABI) is handled; only
what is beneath a rule is allowed, whatever symlink, ``..`` or hard-linked name leads
there (Landlock judges the file reached, not the path written).

Run as its own process, not in ``preexec_fn`` (unsafe in a threaded server), and from
the standard library alone (``-I -S``: no site, no environment, no project imports).
The kernel needs Landlock (5.13+, in the LSM list); ``abi_version()`` says whether it
has it, and a caller that gets 0 runs the command unconfined.
"""

from __future__ import annotations

import ctypes
import os
import sys

CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446  # the same on every architecture
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
TRUNCATE, IOCTL_DEV = 1 << 14, 1 << 15  # ABI 3 and 5; ``REFER`` (1 << 13) is ABI 2
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # all a file rule may hold
READ = READ_FILE | READ_DIR
RUN = READ | EXECUTE


class _PathBeneath(ctypes.Structure):
    _pack_ = 1  # the kernel's struct is packed: 12 bytes
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI version, 0 without Landlock (or not on Linux)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        version = _libc().syscall(CREATE_RULESET, None, ctypes.c_size_t(0), CREATE_RULESET_VERSION)
    except (OSError, AttributeError):
        return 0
    return max(int(version), 0)


def handled_rights(abi: int) -> int:
    """Every filesystem right the kernel's ABI can restrict."""
    rights = (1 << 13) - 1  # ABI 1: execute … make_sym
    if abi >= 2:
        rights |= 1 << 13  # refer
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def confine(rules: list[tuple[str, int]]) -> None:
    """Restrict this process to ``rules``: (a path or ``fd:N``, the rights beneath it);
    paths that do not exist are skipped. Raises ``OSError``."""
    libc = _libc()
    handled = handled_rights(abi_version())
    attr = ctypes.c_uint64(handled)  # ``handled_access_fs`` alone: the kernel takes a prefix
    ruleset = libc.syscall(CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(8), 0)
    _check(ruleset, "landlock_create_ruleset")
    try:
        for where, rights in rules:
            _add_rule(libc, ruleset, where, rights & handled)
        _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
        _check(libc.syscall(RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    finally:
        os.close(ruleset)


def _add_rule(libc: ctypes.CDLL, ruleset: int, where: str, rights: int) -> None:
    try:
        fd = int(where[3:]) if where.startswith("fd:") else os.open(where, os.O_PATH)
    except FileNotFoundError:
        return
    try:
        if not os.path.isdir(f"/proc/self/fd/{fd}"):
            rights &= FILE_RIGHTS
        rule = _PathBeneath(rights, fd)
        done = libc.syscall(ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), 0)
        _check(done, f"landlock_add_rule({where})")
    finally:
        if not where.startswith("fd:"):
            os.close(fd)


def _check(result: int, what: str) -> None:
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def main(argv: list[str]) -> None:
    """``--read P``, ``--run P``, ``--write P`` … ``--`` command: confine, then exec
    the command (``--run``: read and execute; ``--write``: everything)."""
    rights = {"--read": READ, "--run": RUN, "--write": ~0}
    rules: list[tuple[str, int]] = []
    while argv and argv[0] != "--":
        rules.append((argv[1], rights[argv[0]]))
        argv = argv[2:]
    command = argv[1:]
    program = _found(command[0])  # before: finding it reads Python's own modules
    try:
        confine(rules)
    except OSError as error:
        sys.stderr.write(f"fatal: cannot confine {command[0]} with Landlock: {error}\n")
        sys.exit(126)
    os.execv(program, command)


def _found(name: str) -> str:
    """``name`` as ``execvp`` would find it on ``PATH``."""
    if "/" in name:
        return name
    for folder in os.get_exec_path():
        if os.access(os.path.join(folder, name), os.X_OK):
            return os.path.join(folder, name)
    sys.stderr.write(f"fatal: {name}: command not found\n")
    sys.exit(127)


if __name__ == "__main__":
    main(sys.argv[1:])
