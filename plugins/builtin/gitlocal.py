"""Fetching from a repository on the server's own disk without following it elsewhere.

A repository under PROJECTQA_LOCAL_ROOTS is written by whoever may write there (a
project admin, say), and git follows what a repository says: a ``.git`` symlink or
``gitdir:`` file, symlinked ``objects``, ``refs`` or packs, ``objects/info/alternates``,
``commondir``, a partial clone's promisor remote. Any of these could make a fetch read
another repository the server can read, such as another connector's private clone in
the data directory. So, from the folder descriptor ``data_guard.open_folder`` judged:

- the git directory is opened through descriptors: ``.git`` with ``O_NOFOLLOW`` (a
  ``.git`` that is a file or symlink, a linked worktree or submodule checkout, is
  refused), else the folder itself (bare); then ``objects``, also with ``O_NOFOLLOW``;
- it is refused if anything in it (but ``hooks``) is a symlink or neither a file nor a
  folder, or it holds ``commondir``, ``objects/info/alternates`` or ``http-alternates``,
  or its config sets a key beyond a few harmless ones (``HARMLESS_KEYS``: a promisor
  remote, ``protocol.*``, ``include.*``, ``core.fsmonitor`` ... are refused);
- ``git upload-pack --strict`` serves ``/proc/self/fd/<git dir>`` (no ``.git`` is looked
  for inside), with ``GIT_COMMON_DIR`` and ``GIT_OBJECT_DIRECTORY`` naming the
  descriptors too (a ``commondir`` file or an ``objects`` symlink written after the
  checks is not read) and lazy fetching off;
- where the kernel has Landlock, the whole fetch (git, the shell, upload-pack) runs
  confined (``landlock.py``): it may read the repository (beneath its descriptor), git's
  own installation and ``/etc``, and write the connector's work folder; nothing else.
  A symlink or alternates file swapped in after the checks then leads nowhere.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from projectqa.server.data_guard import FOLDER_FLAGS

from . import landlock

LEADS_ELSEWHERE = ("commondir", "objects/info/alternates", "objects/info/http-alternates")
NOT_WALKED = ("hooks",)  # upload-pack runs no hook of the repository
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
# What a repository's config may set: git reads it when it serves the fetch, and much of
# git's config runs commands (core.fsmonitor, core.sshCommand), reads other files
# (include.*, includeIf.*, extensions.worktreeConfig) or fetches from elsewhere (a
# promisor remote, extensions.partialClone, protocol.*.allow). An allow-list: a key git
# adds later is refused until judged harmless here.
HARMLESS_KEYS = frozenset(
    {
        "core.repositoryformatversion",
        "core.filemode",
        "core.bare",
        "core.logallrefupdates",
        "core.ignorecase",
        "core.precomposeunicode",
        "core.symlinks",
        "core.autocrlf",
        "core.eol",
        "extensions.objectformat",
        "init.defaultbranch",
    }
)
HARMLESS_SECTIONS = frozenset({"user", "author", "committer", "i18n", "color", "advice"})
HARMLESS_SUBSECTION_KEYS = {
    "remote": frozenset({"url", "pushurl", "fetch", "push", "mirror", "tagopt"}),
    "branch": frozenset({"remote", "merge", "rebase", "description"}),
    "submodule": frozenset({"url", "active", "branch"}),  # upload-pack does not read them
}
HARMLESS_SHOWN = "basic core settings, user.*, remote.*.url/fetch, branch.* and submodule.*.url"
WORKTREE = (
    "{what}: a linked worktree or submodule checkout; point the connector at the main "
    "repository (or a bare one) instead"
)


class RepositoryRefused(Exception):
    """A local repository git may not fetch from; ``str()`` says why."""


@dataclass(frozen=True, slots=True)
class LocalRepository:
    """An opened git directory, and how git is to fetch from it (descriptors it inherits)."""

    git_dir: int
    objects: int

    @property
    def url(self) -> str:
        return f"/proc/self/fd/{self.git_dir}"

    @property
    def fds(self) -> tuple[int, int]:
        return self.git_dir, self.objects

    @property
    def upload_pack(self) -> str:
        """The command ``git fetch --upload-pack`` runs (in a shell, the URL appended)."""
        return (
            f"GIT_COMMON_DIR={self.url} GIT_OBJECT_DIRECTORY=/proc/self/fd/{self.objects} "
            "GIT_NO_LAZY_FETCH=1 git upload-pack --strict"
        )

    def confinement(self, work_dir: Path, data_dir: Path | None) -> tuple[str, ...]:
        """The argv prefix that runs git under Landlock (none where the kernel has none).
        A system folder that holds ``data_dir`` is left out (git may then fail to start:
        the data directory belongs elsewhere); Landlock cannot carve a hole in a rule."""
        if landlock.abi_version() < 1:
            return ()
        rules = [("--read", f"fd:{self.git_dir}"), ("--read", f"fd:{self.objects}")]
        rules += [("--run", where) for where in (*SYSTEM, *_git_install())]
        rules += [("--read", where) for where in ("/etc", "/dev/urandom", *_git_config_files())]
        rules = [rule for rule in rules if not _holds(rule[1], data_dir)]
        rules += [("--write", str(work_dir)), ("--write", "/dev/null")]
        script = landlock.__file__
        return (sys.executable, "-I", "-S", script, *[x for rule in rules for x in rule], "--")


def _holds(where: str, data_dir: Path | None) -> bool:
    """Whether the folder ``where`` is or contains the data directory."""
    if data_dir is None or where.startswith("fd:"):
        return False
    data = Path(os.path.realpath(data_dir))
    return data.is_relative_to(os.path.realpath(where))


@contextmanager
def open_repository(folder: int) -> Iterator[LocalRepository]:
    """The git directory of the opened folder ``folder`` (``.git`` in it, or itself if
    bare), checked; raises ``RepositoryRefused`` or ``OSError``."""
    with ExitStack() as stack:
        git_dir = _open_git_dir(folder)
        stack.callback(os.close, git_dir)
        reason = refusal(git_dir)
        if reason:
            raise RepositoryRefused(reason)
        objects = _open_below(git_dir, "objects")
        stack.callback(os.close, objects)
        yield LocalRepository(git_dir, objects)


def _open_git_dir(folder: int) -> int:
    try:
        info = os.stat(".git", dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return os.dup(folder)  # a bare repository, or no repository (git says so)
    if stat.S_ISLNK(info.st_mode):
        raise RepositoryRefused(WORKTREE.format(what=".git is a symlink"))
    if not stat.S_ISDIR(info.st_mode):
        raise RepositoryRefused(WORKTREE.format(what=".git is a file"))
    return os.open(".git", FOLDER_FLAGS, dir_fd=folder)


def _open_below(folder: int, name: str) -> int:
    try:
        return os.open(name, FOLDER_FLAGS, dir_fd=folder)
    except OSError as error:
        raise RepositoryRefused(f"{name} cannot be opened as a folder ({error.strerror})") from None


def refusal(git_dir: int) -> str:
    """Why git may not fetch from the git directory ``git_dir`` ("" if it may)."""
    for name in LEADS_ELSEWHERE:
        if _exists(git_dir, name):
            return f"the repository holds {name}, which points git at another repository"
    odd = _first_link(git_dir, "")
    if odd:
        return odd
    return _config_refusal(git_dir)


def _config_refusal(git_dir: int) -> str:
    """Why the repository's ``config`` may not be given to git ("" if it may): it sets a
    key beyond the harmless ones, or git cannot read it."""
    try:
        fd = os.open("config", _FILE, dir_fd=git_dir)
    except FileNotFoundError:
        return ""
    try:
        keys = _config_keys(fd)
    finally:
        os.close(fd)
    if keys is None:
        return "git cannot read the repository's config"
    for key in keys:
        if not _harmless(key):
            return f"the repository's config sets {key}, which only {HARMLESS_SHOWN} may"
    return ""


def _config_keys(fd: int) -> list[str] | None:
    """The keys the config file ``fd`` sets, as git reads it (lower-case sections and
    names, no include followed); None if git cannot read it."""
    try:
        done = subprocess.run(
            ["git", "config", "--no-includes", "--file", f"/proc/self/fd/{fd}", "--list", "-z"],
            capture_output=True,
            pass_fds=(fd,),
            timeout=30,
            env={"PATH": os.environ.get("PATH", ""), "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    entries = done.stdout.split(b"\0")
    return [entry.partition(b"\n")[0].decode("utf-8", "replace") for entry in entries if entry]


def _harmless(key: str) -> bool:
    section, _, name = key.partition(".")
    name = name.lower()  # a subsection keeps its case; variables compare lower-case
    if section in HARMLESS_SECTIONS:
        return True
    if section in HARMLESS_SUBSECTION_KEYS:  # remote.<name>.url, branch.<name>.merge
        return name.rpartition(".")[2] in HARMLESS_SUBSECTION_KEYS[section]
    return f"{section}.{name}" in HARMLESS_KEYS


def _exists(git_dir: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=git_dir, follow_symlinks=False)
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        return False
    return True


def _first_link(folder: int, shown: str) -> str:
    """Why something below ``folder`` may lead git away ("" if nothing does): a symlink,
    or an entry neither a file nor a folder (a FIFO would stall git)."""
    with os.scandir(folder) as entries:
        listed = [
            (entry.name, entry.is_symlink(), entry.is_dir(follow_symlinks=False))
            for entry in entries
        ]
    for name, is_link, is_dir in listed:
        where = f"{shown}{name}"
        if is_link:
            return f"{where} in the repository's git directory is a symlink"
        if is_dir and where not in NOT_WALKED:
            below = _open_below(folder, name)
            try:
                odd = _first_link(below, where + "/")
            finally:
                os.close(below)
            if odd:
                return odd
        elif not is_dir and not stat.S_ISREG(
            os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode
        ):
            return f"{where} in the repository's git directory is not a regular file"
    return ""


@cache
def _git_install() -> tuple[str, ...]:
    """Where git's programs are (``/usr`` on most systems, but not all)."""
    found = shutil.which("git")
    places = [os.path.dirname(os.path.realpath(found))] if found else []
    try:
        done = subprocess.run(["git", "--exec-path"], capture_output=True, check=True, timeout=30)
        places.append(os.path.realpath(done.stdout.decode().strip()))
    except (OSError, subprocess.SubprocessError):
        pass
    return tuple(places)


def _git_config_files() -> tuple[str, ...]:
    """The server user's own git config, which git reads (and would fail without)."""
    home = os.environ.get("HOME", "")
    xdg = os.environ.get("XDG_CONFIG_HOME") or (f"{home}/.config" if home else "")
    return tuple(
        p for p in (f"{home}/.gitconfig" if home else "", f"{xdg}/git" if xdg else "") if p
    )
