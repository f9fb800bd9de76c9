"""The ``git`` connector against real repositories, over paths, file:// and smart HTTP."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from projectqa.plugins.git import GitSource, github_web_base
from projectqa.server.sources import (
    Checkpoint,
    Deletion,
    SourceContext,
    SourceDocument,
    SourceError,
    SourceItem,
    SourceWarning,
)

from .fakes import FakeGitHost

TOKEN = "ghp_t0ken_that_must_never_leak_4242"
BASIC = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()


def git(repo: Path, *args: str) -> str:
    identity = ("-c", "user.name=Test", "-c", "user.email=test@example.com")
    done = subprocess.run(
        ["git", *identity, "-C", str(repo), *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def commit_all(repo: Path, message: str = "change") -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def write(repo: Path, key: str, content: str | bytes = "text\n") -> None:
    path = repo / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    repo = tmp_path / "origin"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo, "README.md", "# Demo\n")
    write(repo, "src/app.py", "def main():\n    return 1\n")
    write(repo, "src/util.py", "def helper():\n    pass\n")
    write(repo, "docs/guide.md", "Guide\n")
    commit_all(repo, "first")
    return repo


def run(
    work_dir: Path, cursor: dict[str, Any] | None = None, full: bool = True, **config: Any
) -> list[SourceItem]:
    context = SourceContext(config=config, cursor=cursor, work_dir=work_dir, full=full)
    return list(GitSource(context).items())


def docs(items: list[SourceItem]) -> dict[str, SourceDocument]:
    """The files of a run (its commit records: test_git_history.py)."""
    return {i.key: i for i in items if isinstance(i, SourceDocument) and i.kind == "file"}


def warnings(items: list[SourceItem]) -> dict[str, str]:
    return {i.key: i.message for i in items if isinstance(i, SourceWarning)}


def deletions(items: list[SourceItem]) -> list[str]:
    return sorted(i.key for i in items if isinstance(i, Deletion))


def test_a_full_run_reads_every_file_and_records_the_commit(origin: Path, tmp_path: Path) -> None:
    head = git(origin, "rev-parse", "HEAD")
    work = tmp_path / "work"
    items = run(work, url=str(origin))
    assert sorted(docs(items)) == ["README.md", "docs/guide.md", "src/app.py", "src/util.py"]
    app = docs(items)["src/app.py"]
    assert app.text == "def main():\n    return 1\n"
    assert app.version == git(origin, "rev-parse", "HEAD:src/app.py")
    assert app.metadata == {"size": 25, "commit": head}
    assert (app.path, app.title, app.url) == ("src/app.py", "app.py", "")
    last = items[-1]
    assert isinstance(last, Checkpoint)
    assert last.revision == head
    assert last.cursor == {"commit": head, "checkout": str(work / "checkout"), "history": 10_000}
    checkout = Path(last.cursor["checkout"])
    assert (checkout / "src" / "app.py").read_text() == app.text
    assert git(checkout, "rev-parse", "HEAD") == head


def test_incremental_run_yields_exactly_the_changes(origin: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    write(origin, "image.txt", "text today\n")
    commit_all(origin)
    cursor = run(work, url=str(origin))[-1].cursor

    write(origin, "src/app.py", "def main():\n    return 2\n")  # modified
    write(origin, "src/new.py", "NEW = 1\n")  # added
    (origin / "src" / "util.py").unlink()  # deleted
    git(origin, "mv", "docs/guide.md", "docs/handbook.md")  # renamed
    write(origin, "image.txt", b"\x89PNG\0\0binary now")  # modified, now skipped
    new_head = commit_all(origin)
    items = run(work, cursor=cursor, full=False, url=str(origin))

    assert sorted(docs(items)) == ["docs/handbook.md", "src/app.py", "src/new.py"]
    assert docs(items)["src/app.py"].text.endswith("return 2\n")
    assert docs(items)["docs/handbook.md"].text == "Guide\n"
    assert deletions(items) == ["docs/guide.md", "image.txt", "src/util.py"]
    assert warnings(items) == {}
    assert items[-1] == Checkpoint(
        {"commit": new_head, "checkout": str(work / "checkout"), "history": 10_000},
        revision=new_head,
    )
    assert not (work / "checkout" / "src" / "util.py").exists()
    # Nothing new since: nothing to do but the checkpoint.
    again = run(work, cursor=items[-1].cursor, full=False, url=str(origin))
    assert again == [items[-1]]


def test_a_lost_previous_commit_falls_back_to_reading_everything(
    origin: Path, tmp_path: Path
) -> None:
    gone = {"commit": "0" * 40, "checkout": "somewhere"}
    items = run(tmp_path / "work", cursor=gone, full=False, url=str(origin))
    assert "gone" in warnings(items)[""]
    assert len(docs(items)) == 4


def test_a_full_run_checkpoints_and_resumes_at_the_same_commit(
    origin: Path, tmp_path: Path
) -> None:
    keys = sorted(f"many/f{n:03}.txt" for n in range(230))
    for key in keys:
        write(origin, key, key)
    head = commit_all(origin)
    work = tmp_path / "work"
    items = run(work, url=str(origin))
    checkpoints = [i for i in items if isinstance(i, Checkpoint)]
    all_keys = sorted(docs(items))
    assert checkpoints[0].cursor == {"commit": head, "after": all_keys[199]}
    assert len(checkpoints) == 2

    write(origin, "later.txt", "pushed after the interruption")
    commit_all(origin)
    resumed = run(work, cursor=checkpoints[0].cursor, url=str(origin))
    assert sorted(docs(resumed)) == all_keys[200:]
    assert resumed[-1].revision == head


def test_a_branch_that_does_not_exist_fails_with_a_clear_message(
    origin: Path, tmp_path: Path
) -> None:
    with pytest.raises(SourceError) as caught:
        run(tmp_path / "work", url=str(origin), branch="nope", token=TOKEN)
    assert str(caught.value) == f"branch 'nope' not found in {origin}"
    assert TOKEN not in git(tmp_path / "work" / "checkout", "config", "--list")


def test_a_file_url_and_a_named_branch(origin: Path, tmp_path: Path) -> None:
    git(origin, "checkout", "-q", "-b", "feature")
    write(origin, "feature.txt", "only on the branch\n")
    feature = commit_all(origin)
    git(origin, "checkout", "-q", "main")
    items = run(tmp_path / "work", url=origin.as_uri(), branch="feature")
    assert "feature.txt" in docs(items)
    assert items[-1].revision == feature
    default = run(tmp_path / "work2", url=origin.as_uri())
    assert "feature.txt" not in docs(default)


def test_subdirectory_excludes_includes_and_size_cap(origin: Path, tmp_path: Path) -> None:
    write(origin, "src/big.py", "x = 1\n" * 100)
    write(origin, "src/gen/out.py", "generated\n")
    commit_all(origin)
    items = run(
        tmp_path / "work",
        url=str(origin),
        subdirectory="src/",
        exclude=["gen/", "src/gen/"],
        include=["*.py"],
        max_file_bytes=100,
    )
    assert sorted(docs(items)) == ["src/app.py", "src/util.py"]
    assert "max_file_bytes" in warnings(items)["src/big.py"]
    with pytest.raises(SourceError, match="subdirectory 'nowhere' not found"):
        run(tmp_path / "work", url=str(origin), subdirectory="nowhere")


def test_symlinks_are_not_indexed_and_those_leaving_the_repo_are_reported(
    origin: Path, tmp_path: Path
) -> None:
    (origin / "escape").symlink_to("../../../etc/passwd")
    (origin / "absolute").symlink_to("/etc/hostname")
    (origin / "src" / "alias.py").symlink_to("app.py")
    commit_all(origin)
    items = run(tmp_path / "work", url=str(origin))
    assert "escape" not in docs(items) and "src/alias.py" not in docs(items)
    assert set(warnings(items)) == {"escape", "absolute"}
    assert "outside the repository" in warnings(items)["escape"]


def test_unsafe_urls_and_branches_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for url in (f"ext::sh -c touch% {marker}", f"--upload-pack=touch {marker}", "relative/dir"):
        with pytest.raises(SourceError):
            run(tmp_path / "work", url=url)
    with pytest.raises(SourceError, match="invalid branch"):
        run(tmp_path / "work", url="/x", branch="--upload-pack=x")
    with pytest.raises(SourceError, match="credentials over plain http"):
        run(tmp_path / "work", url="http://example.com/r.git", token=TOKEN)
    assert not marker.exists()


def test_github_remotes_get_web_urls() -> None:
    for url in (
        "https://github.com/octo/demo.git",
        "https://github.com/octo/demo",
        "git@github.com:octo/demo.git",
        "ssh://git@github.com/octo/demo.git",
    ):
        assert github_web_base(url) == "https://github.com/octo/demo"
    assert github_web_base("https://gitlab.com/octo/demo.git") == ""


@pytest.fixture
def http_remote(origin: Path) -> Iterator[FakeGitHost]:
    with FakeGitHost(origin.parent, "x-access-token", TOKEN) as server:
        yield server


def test_a_token_reaches_the_server_but_no_file_or_config(
    http_remote: FakeGitHost, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    items = run(work / "token", url=http_remote.url("origin"), token=TOKEN)
    assert "src/app.py" in docs(items)
    assert http_remote.seen_auth[-1] == f"Basic {BASIC}"
    in_url = http_remote.url("origin", userinfo=f"x-access-token:{TOKEN}@")
    assert "src/app.py" in docs(run(work / "in_url", url=in_url))
    assert http_remote.seen_auth[-1] == f"Basic {BASIC}"
    for checkout in (work / "token" / "checkout", work / "in_url" / "checkout"):
        assert TOKEN not in git(checkout, "config", "--list", "--show-origin")
    for path in work.rglob("*"):
        if path.is_file() and not path.is_symlink():
            content = path.read_bytes()
            assert TOKEN.encode() not in content and BASIC.encode() not in content, path


def test_failures_never_show_the_token(http_remote: FakeGitHost, tmp_path: Path) -> None:
    with pytest.raises(SourceError) as no_token:
        run(tmp_path / "a", url=http_remote.url("origin"))
    assert "cannot fetch" in str(no_token.value)

    with pytest.raises(SourceError) as missing_repo:
        run(tmp_path / "b", url=http_remote.url("nothing-here"), token=TOKEN)
    in_url = http_remote.url("origin", userinfo=f"me:{TOKEN}@")
    with pytest.raises(SourceError) as wrong_in_url:
        run(tmp_path / "c", url=in_url)
    for caught in (no_token, missing_repo, wrong_in_url):
        message = str(caught.value)
        assert TOKEN not in message and BASIC not in message, message
    assert http_remote.url("origin") in str(wrong_in_url.value)


def test_cancelling_stops_the_run_without_a_final_checkpoint(origin: Path, tmp_path: Path) -> None:
    context = SourceContext({"url": str(origin)}, None, tmp_path / "work", cancelled=lambda: True)
    assert not any(isinstance(i, Checkpoint) for i in GitSource(context).items())


def test_a_server_without_git_fails_the_run_clearly(
    origin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SourceError, match="git command is not installed"):
        run(tmp_path / "work", url=str(origin))


@dataclass(frozen=True)
class ChildProcess:
    """What another process of the same user can read of a running child: /proc/PID/…"""

    pid: int
    cmdline: bytes
    environ: bytes


def child_processes() -> list[ChildProcess]:
    """Every live descendant of this test process (git, git-remote-http, helpers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, pending = [], list(children.get(os.getpid(), []))
    while pending:
        pid = pending.pop()
        pending += children.get(pid, [])
        try:
            proc = Path(f"/proc/{pid}")
            found.append(
                ChildProcess(pid, (proc / "cmdline").read_bytes(), (proc / "environ").read_bytes())
            )
        except OSError:
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_no_git_process_holds_the_credentials_in_argv_or_environ(
    http_remote: FakeGitHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A credential helper of the server's user must never receive (and store) them.
    home, leaked = tmp_path / "home", tmp_path / "leaked-credentials"
    home.mkdir()
    (home / ".gitconfig").write_text(f"[credential]\n\thelper = store --file={leaked}\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    seen: list[ChildProcess] = []
    modes: list[tuple[int, int]] = []

    def look(work: Path) -> None:
        seen.extend(child_processes())
        for file in work.glob(".git-credentials-*/*"):
            modes.append((file.parent.stat().st_mode & 0o777, file.stat().st_mode & 0o777))

    in_url = http_remote.url("origin", userinfo=f"x-access-token:{TOKEN}@")
    for work, config in (
        (tmp_path / "token", {"url": http_remote.url("origin"), "token": TOKEN}),
        (tmp_path / "in_url", {"url": in_url}),
    ):
        stale = work / ".git-credentials-crashed" / "credentials"  # left by a killed run
        stale.parent.mkdir(parents=True)
        stale.write_text("password=old\n")
        http_remote.on_request = lambda work=work: look(work)
        assert "src/app.py" in docs(run(work, **config))
        assert http_remote.seen_auth[-1] == f"Basic {BASIC}"
        assert not list(work.glob(".git-credentials-*")), "credentials left on disk"

    assert any(b"remote-http" in p.cmdline for p in seen), "no git was caught running"
    for process in seen:
        for secret in (TOKEN, BASIC):
            where = f"{process.cmdline!r} (pid {process.pid})"
            assert secret.encode() not in process.cmdline, f"secret in argv of {where}"
            assert secret.encode() not in process.environ, f"secret in environ of {where}"
    assert modes and set(modes) == {(0o700, 0o600)}
    assert not leaked.exists()
