"""Building hostile folder trees for real: paths past PATH_MAX, FIFOs, sockets, submodules."""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

PATH_MAX = 4096
AN_HOUR_NS = 3600 * 10**9
COMPONENT = "d" * 200


def write_at(dir_fd: int, name: str, content: bytes) -> None:
    """Write a file in the folder ``dir_fd``, dated an hour back as an untouched file would be."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=dir_fd)
    try:
        os.write(fd, content)
        settled = os.fstat(fd).st_mtime_ns - AN_HOUR_NS  # relative to the file's own clock
        os.utime(fd, ns=(settled, settled))
    finally:
        os.close(fd)


@dataclass(frozen=True)
class DeepFolder:
    """Keys (relative to the root) of the deepest folder and of the ``.gitignore`` on the way."""

    key: str
    gitignore_key: str


def deep_folder(root: Path, files: dict[str, bytes], past: int = PATH_MAX) -> DeepFolder:
    """Nest folders under ``root`` until its absolute path is longer than ``past`` bytes.

    The full path is too long for any call taking a path, so each folder is made and
    entered through the descriptor of its parent. The ``.gitignore`` of ``files`` goes
    in the folder whose own path fits but whose ``.gitignore`` path does not (the spot
    of the reported crash); the other files go in the deepest folder, past ``past``.
    """
    parts: list[str] = []
    length = len(os.fsencode(root))
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)

    def descend(name: str) -> None:
        nonlocal fd, length
        os.mkdir(name, dir_fd=fd)
        child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd, length = child, length + 1 + len(name)
        parts.append(name)

    try:
        while length + 1 + len(COMPONENT) < past - 6:
            descend(COMPONENT)
        if rest := past - 6 - length - 1:
            descend("e" * rest)  # this folder's path is past - 6 bytes long
        gitignore_key = "/".join([*parts, ".gitignore"])
        if ".gitignore" in files:
            write_at(fd, ".gitignore", files[".gitignore"])
        while length <= past:
            descend(COMPONENT)
        for name, content in files.items():
            if name != ".gitignore":
                write_at(fd, name, content)
    finally:
        os.close(fd)
    return DeepFolder("/".join(parts), gitignore_key)


def unix_socket(folder: Path, name: str) -> socket.socket:
    """A bound Unix socket file ``folder/name``; the caller closes it.

    Bound by a relative name from inside ``folder``: socket paths are limited to
    about 100 bytes, and a test's folder may be longer.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    here = os.getcwd()
    os.chdir(folder)
    try:
        sock.bind(name)
    finally:
        os.chdir(here)
    return sock


def git(repo: Path, *args: str) -> str:
    identity = ("-c", "user.name=Test", "-c", "user.email=test@example.com")
    allow = ("-c", "protocol.file.allow=always")  # submodules from local paths
    done = subprocess.run(
        ["git", *identity, *allow, "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def clone_without_submodules(base: Path) -> Path:
    """A clone of a repository whose submodule ``lib`` is not checked out (as git clone leaves it),
    and which holds a second repository nested as plain folder ``tools/other``."""
    library = base / "library"
    library.mkdir()
    git(library, "init", "-q", "-b", "main")
    (library / "lib.py").write_text("def lib():\n    return 1\n")
    git(library, "add", "-A")
    git(library, "commit", "-q", "-m", "library")
    upstream = base / "upstream"
    upstream.mkdir()
    git(upstream, "init", "-q", "-b", "main")
    (upstream / "app.py").write_text("import lib\n")
    git(upstream, "submodule", "add", "-q", str(library), "lib")
    git(upstream, "add", "-A")
    git(upstream, "commit", "-q", "-m", "app with a submodule")
    clone = base / "clone"
    git(base, "clone", "-q", str(upstream), str(clone))
    nested = clone / "tools" / "other"
    nested.mkdir(parents=True)
    git(nested, "init", "-q", "-b", "main")
    (nested / "tool.py").write_text("def tool():\n    return 2\n")
    return clone
