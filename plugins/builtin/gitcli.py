"""Running the ``git`` CLI for the ``git`` connector, safely.

- argv lists, never a shell; ``--`` before every URL; URLs that would pick a
  transport helper (``ext::…``) or look like options are refused.
- No prompts (``GIT_TERMINAL_PROMPT=0``, empty ``GIT_ASKPASS``, ssh in batch mode),
  no hooks, no LFS smudging, stalled transfers abort, every call has a timeout and
  stops when the run is cancelled.
- Credentials (a token, or a user and password written in an http(s) URL) reach
  git through a credential helper that reads them from a 0600 file in a fresh
  0700 folder of the connector's work directory, removed when the fetch ends
  (and, should a run be killed, when the next one starts). The helper is
  configured for the remote's origin alone; the URL given to git has no
  credentials. So they are in no command line (anyone on the host can read
  those), no process environment (its owner can, in /proc), not in the clone's
  config, and scrubbed from every message. Helpers of the server's own git
  config are switched off: they would store the credentials, or hand the
  server user's own to a remote a project admin chose.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Self
from urllib.parse import SplitResult, urlsplit

from projectqa.server.url_credentials import login, without_credentials

LOCAL_TIMEOUT_S = 600
FETCH_TIMEOUT_S = 3600
POLL_S = 0.2
NO_GIT = "the git command is not installed on the server"
TRANSPORT_HELPER = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
URL_SCHEMES = ("https", "http", "ssh", "git", "file")
SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?[^/:]+:.+$")
CREDENTIALS_FOLDER = ".git-credentials-"  # prefix of the folders the helper reads from
SAFE_CONFIG = {
    "credential.helper": "",  # an empty value drops the helpers of every other config file
    "core.hooksPath": "/dev/null",
    "protocol.ext.allow": "never",
    "advice.detachedHead": "false",
}


class GitError(Exception):
    """A git command failed; the message is scrubbed of credentials."""


class Cancelled(Exception):
    """The run was cancelled while git was working."""


@dataclass(frozen=True)
class Remote:
    """Where to fetch from, and the credentials for it (never shown).

    Credentials come from ``token``, else from the user and password of an
    http(s) URL; either way git gets them from a credential helper, not in the URL.
    """

    url: str
    token: str = ""

    def check(self) -> None:
        """Raise ``GitError`` for a URL git must not be given."""
        if self.url.startswith("-") or TRANSPORT_HELPER.match(self.url):
            raise GitError(f"unsupported repository URL {self.display!r}")
        if "://" in self.url and not _split(self.url).netloc and self.scheme != "file":
            raise GitError(f"malformed repository URL {self.display!r}")
        if "://" in self.url and self.scheme not in URL_SCHEMES:
            raise GitError(f"unsupported URL scheme {self.scheme!r} in {self.display}")
        if not self.scheme and not self.url.startswith("/") and not SCP_LIKE.match(self.url):
            raise GitError(f"{self.display!r} is neither a URL nor an absolute path")
        if any(c in value for value in (self.token, *(self.login() or ())) for c in "\r\n\0"):
            raise GitError("credentials must be a single line")
        insecure = self.scheme == "http" and not _is_loopback(_split(self.url).hostname)
        if insecure and self.login():
            raise GitError(f"refusing to send credentials over plain http to {self.display}")

    @property
    def scheme(self) -> str:
        return _split(self.url).scheme if "://" in self.url else ""

    @property
    def display(self) -> str:
        """The URL shown and given to git: no credentials (an ssh user name stays)."""
        return without_credentials(self.url)

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``, which the credentials are for."""
        return f"{self.scheme}://{_split(self.url).netloc.rsplit('@', 1)[-1]}"

    def login(self) -> tuple[str, str] | None:
        """User and password for http(s): the token, else those written in the URL."""
        if self.scheme not in ("http", "https"):
            return None
        if self.token:
            return "x-access-token", self.token
        return login(self.url)

    def scrub(self, text: str) -> str:
        """``text`` with the token and any credentials of the URL removed."""
        text = text.replace(self.url, self.display) if self.url else text
        for secret in self._secrets():
            text = text.replace(secret, "***")
        return text

    def _secrets(self) -> list[str]:
        """The values to scrub, as given and as git may echo them (URL-encoded)."""
        parts = _split(self.url)
        user, password = self.login() or ("", "")
        # A user name alone is often a token (https://<token>@host); with a password it is
        # a name, and scrubbing it would mangle messages.
        secrets = [self.token, password, parts.password or ""]
        if not password:
            secrets += [user, parts.username or ""]
        return [s for s in secrets if s]


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return SplitResult("", "", "", "", "")


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def git_env(extra_config: dict[str, str]) -> dict[str, str]:
    """The environment for every git call: no prompts, no hooks, literal pathspecs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_CONFIG_")}
    env.pop("SSH_ASKPASS", None)
    config = {**SAFE_CONFIG, **extra_config}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS="",
        GIT_LITERAL_PATHSPECS="1",
        GIT_LFS_SKIP_SMUDGE="1",
        GIT_HTTP_LOW_SPEED_LIMIT="1000",
        GIT_HTTP_LOW_SPEED_TIME="60",
        LC_ALL="C",
        GIT_CONFIG_COUNT=str(len(config)),
    )
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    for index, (key, value) in enumerate(config.items()):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


@contextmanager
def credential_helper(remote: Remote, scratch: Path) -> Iterator[dict[str, str]]:
    """Git config with which git asks a helper for ``remote``'s credentials.

    The helper reads them from a 0600 file in a fresh 0700 folder under
    ``scratch``, which is removed when the block ends. A folder left by a run
    that was killed is removed first (runs of one connector never overlap).
    """
    for stale in scratch.glob(CREDENTIALS_FOLDER + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    credentials = remote.login()
    if credentials is None:
        yield {}
        return
    folder = Path(tempfile.mkdtemp(prefix=CREDENTIALS_FOLDER, dir=scratch))
    try:
        file = folder / "credentials"
        user, password = credentials
        _write_private(file, f"username={user}\npassword={password}\n")
        # Git runs "<helper> get|store|erase" in a shell and sends the request on stdin;
        # only "get" answers. Scoped to the origin: a redirect elsewhere gets nothing.
        answer = f"cat {shlex.quote(str(file))}"
        helper = f'!f() {{ cat >/dev/null; if [ "$1" = get ]; then {answer}; fi; }}; f'
        yield {f"credential.{remote.origin}.helper": helper}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


class Git:
    """``git -C <repo_dir> …`` with timeouts, cancellation and scrubbed errors.

    ``scratch`` is a private folder outside ``repo_dir`` (and outside anything tools
    read) for the credential file of a fetch.
    """

    def __init__(
        self, repo_dir: Path, remote: Remote, cancelled: Callable[[], bool], scratch: Path
    ) -> None:
        self.repo_dir = repo_dir
        self.remote = remote
        self.cancelled = cancelled
        self.scratch = scratch

    def run(
        self,
        *args: str,
        with_token: bool = False,
        timeout: float = LOCAL_TIMEOUT_S,
        pass_fds: tuple[int, ...] = (),
        confinement: tuple[str, ...] = (),
    ) -> bytes:
        """Run git; return stdout or raise ``GitError`` with the scrubbed stderr.

        ``with_token``: the remote's credentials are offered to git (for a fetch).
        ``pass_fds``: descriptors git (and the git it starts) inherits.
        ``confinement``: a command git is run by, which confines it (``gitlocal``).
        """
        if not with_token:
            return self._run(args, {}, timeout, pass_fds, confinement)
        with credential_helper(self.remote, self.scratch) as config:
            return self._run(args, config, timeout, pass_fds, confinement)

    def _run(
        self,
        args: tuple[str, ...],
        config: dict[str, str],
        timeout: float,
        pass_fds: tuple[int, ...] = (),
        confinement: tuple[str, ...] = (),
    ) -> bytes:
        argv = [*confinement, "git", "-C", str(self.repo_dir), *args]
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=git_env(config),
                pass_fds=pass_fds,
            )
        except FileNotFoundError:
            raise GitError(NO_GIT) from None
        with process:
            out, err = self._wait(process, timeout)
        if process.returncode != 0:
            raise GitError(self.remote.scrub(_last_lines(err)) or f"git {args[0]} failed")
        return out

    def _wait(self, process: subprocess.Popen[bytes], timeout: float) -> tuple[bytes, bytes]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return process.communicate(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                if self.cancelled():
                    process.kill()
                    raise Cancelled() from None
                if time.monotonic() > deadline:
                    process.kill()
                    raise GitError(f"git timed out after {timeout:.0f} s") from None

    def ok(self, *args: str) -> bool:
        """True if the command succeeds (for ``cat-file -e`` style checks)."""
        try:
            self.run(*args)
        except GitError:
            return False
        return True


def _last_lines(stderr: bytes, count: int = 3) -> str:
    """The ``fatal:``/``error:`` lines of git's stderr, else its last lines."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    errors = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return "; ".join((errors or lines)[-count:])


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One entry of ``git ls-tree -r -t -z -l``: a file, symlink, submodule or folder."""

    path: bytes  # as stored: any bytes but "/" and NUL in a name
    key: str  # ``path`` decoded; undecodable bytes become replacement characters
    mode: str
    kind: str  # "blob", "tree" or "commit" (a submodule)
    sha: str
    size: int  # 0 for folders and submodules
    name_ok: bool = True  # False: ``path`` is not UTF-8


def list_tree(git: Git, commit: str) -> list[TreeEntry]:
    """Every entry of ``commit``, folders before what they hold (``-z``: no name is quoted)."""
    out = git.run("ls-tree", "-r", "-t", "-z", "-l", "--full-tree", commit)
    return [_tree_entry(record) for record in out.split(b"\0") if record]


def _tree_entry(record: bytes) -> TreeEntry:
    meta, path = record.split(b"\t", 1)
    mode, kind, sha, size = meta.decode("ascii").split()
    try:
        key, name_ok = path.decode("utf-8"), True
    except UnicodeDecodeError:
        key, name_ok = path.decode("utf-8", "replace"), False
    return TreeEntry(path, key, mode, kind, sha, int(size) if size.isdigit() else 0, name_ok)


class _BatchGit:
    """One long-lived git process answering requests on stdin, one at a time."""

    def __init__(self, repo_dir: Path, *args: str) -> None:
        self.command = args[0]
        self.process = subprocess.Popen(
            ["git", "-C", str(repo_dir), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=git_env({}),
        )

    def _ask(self, request: bytes) -> bytes:
        """Send ``request``; return the first line of the answer."""
        assert self.process.stdin and self.process.stdout
        try:
            self.process.stdin.write(request)
            self.process.stdin.flush()
        except BrokenPipeError:
            raise GitError(f"git {self.command} stopped") from None
        return self.process.stdout.readline()

    def close(self) -> None:
        if self.process.stdin:
            with suppress(BrokenPipeError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class BlobReader(_BatchGit):
    """Reads blobs through one ``git cat-file --batch`` process."""

    def __init__(self, repo_dir: Path) -> None:
        super().__init__(repo_dir, "cat-file", "--batch")

    def read(self, sha: str) -> bytes:
        assert self.process.stdout
        header = self._ask(sha.encode("ascii") + b"\n").split()
        if len(header) != 3:
            raise GitError(f"object {sha} is missing from the clone")
        data = self.process.stdout.read(int(header[2]))
        self.process.stdout.read(1)  # the newline after each object
        return data


class TreeWriter(_BatchGit):
    """Writes tree objects through one ``git mktree -z --batch`` process."""

    def __init__(self, repo_dir: Path) -> None:
        super().__init__(repo_dir, "mktree", "-z", "--batch")

    def write(self, entries: list[TreeEntry]) -> str:
        """The id of the tree holding ``entries`` under their last names (none: the empty tree)."""
        records = [
            f"{e.mode} {e.kind} {e.sha}\t".encode() + e.path.rpartition(b"/")[2] + b"\0"
            for e in entries
        ]
        answer = self._ask(b"".join(records) + b"\0").strip()  # an empty record ends a tree
        if not re.fullmatch(rb"[0-9a-f]{40,64}", answer):
            raise GitError("git mktree could not write a tree of the checkout")
        return answer.decode("ascii")
