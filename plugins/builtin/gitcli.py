"""Running the ``git`` CLI for the ``git`` connector, safely.

- argv lists, never a shell; ``--`` before every URL; URLs that would pick a
  transport helper (``ext::…``) or look like options are refused.
- No prompts (``GIT_TERMINAL_PROMPT=0``, empty ``GIT_ASKPASS``, ssh in batch mode),
  no hooks, no LFS smudging, stalled transfers abort, every call has a timeout and
  stops when the run is cancelled.
- Credentials (a token, or a user and password written in an http(s) URL) travel
  as an ``http.<origin>/.extraHeader`` set through ``GIT_CONFIG_*`` environment
  variables of the fetch alone: never on a command line (other users can read
  those), never in the clone's config, and scrubbed from every message.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

LOCAL_TIMEOUT_S = 600
FETCH_TIMEOUT_S = 3600
POLL_S = 0.2
NO_GIT = "the git command is not installed on the server"
TRANSPORT_HELPER = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
URL_SCHEMES = ("https", "http", "ssh", "git", "file")
SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?[^/:]+:.+$")
SAFE_CONFIG = {
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
    http(s) URL; either way they travel in a header, not in the URL.
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
        if "\n" in self.token or "\r" in self.token:
            raise GitError("the token must be a single line")
        insecure = self.scheme == "http" and not _is_loopback(_split(self.url).hostname)
        if insecure and self._basic():
            raise GitError(f"refusing to send credentials over plain http to {self.display}")

    @property
    def scheme(self) -> str:
        return _split(self.url).scheme if "://" in self.url else ""

    @property
    def display(self) -> str:
        """The URL shown and given to git: no credentials (an ssh user name stays)."""
        parts = _split(self.url)
        if "://" not in self.url or "@" not in parts.netloc:
            return self.url
        userinfo, host = parts.netloc.rsplit("@", 1)
        user = "" if self.scheme in ("http", "https") else userinfo.split(":", 1)[0] + "@"
        return urlunsplit(parts._replace(netloc=user + host))

    def auth_config(self) -> dict[str, str]:
        """The header carrying the credentials, scoped to the remote's origin (http/https)."""
        basic = self._basic()
        if not basic:
            return {}
        host = _split(self.url).netloc.rsplit("@", 1)[-1]
        return {f"http.{self.scheme}://{host}/.extraHeader": f"Authorization: Basic {basic}"}

    def scrub(self, text: str) -> str:
        """``text`` with the token, its encodings and any URL password removed."""
        text = text.replace(self.url, self.display) if self.url else text
        for secret in (self.token, self._basic(), _split(self.url).password):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _basic(self) -> str:
        """Basic-auth credentials for http(s): the token, else the URL's user and password."""
        parts = _split(self.url)
        if self.scheme not in ("http", "https"):
            return ""
        if self.token:
            pair = f"x-access-token:{self.token}"
        elif parts.username:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        else:
            return ""
        return base64.b64encode(pair.encode()).decode()


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


class Git:
    """``git -C <repo_dir> …`` with timeouts, cancellation and scrubbed errors."""

    def __init__(self, repo_dir: Path, remote: Remote, cancelled: Callable[[], bool]) -> None:
        self.repo_dir = repo_dir
        self.remote = remote
        self.cancelled = cancelled

    def run(self, *args: str, with_token: bool = False, timeout: float = LOCAL_TIMEOUT_S) -> bytes:
        """Run git; return stdout or raise ``GitError`` with the scrubbed stderr."""
        env = git_env(self.remote.auth_config() if with_token else {})
        argv = ["git", "-C", str(self.repo_dir), *args]
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
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


class BlobReader:
    """Reads blobs through one ``git cat-file --batch`` process."""

    def __init__(self, repo_dir: Path) -> None:
        self.process = subprocess.Popen(
            ["git", "-C", str(repo_dir), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=git_env({}),
        )

    def read(self, sha: str) -> bytes:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(sha.encode("ascii") + b"\n")
        self.process.stdin.flush()
        header = self.process.stdout.readline().split()
        if len(header) != 3:
            raise GitError(f"object {sha} is missing from the clone")
        data = self.process.stdout.read(int(header[2]))
        self.process.stdout.read(1)  # the newline after each object
        return data

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
