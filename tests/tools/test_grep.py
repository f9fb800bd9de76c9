"""grep: the real ripgrep over real folders."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from projectqa.server.errors import FailedPrecondition, InvalidArgument, NotFound
from projectqa.server.tools import ripgrep, searched_files
from projectqa.server.tools.base import Checkout
from projectqa.server.tools.grep import (
    MAX_LINE_CHARS,
    FileLine,
    GrepQuery,
    GrepResult,
    grep,
)
from projectqa.server.tools.ripgrep import MAX_RECORD_BYTES


def write(root: Path, key: str, content: str | bytes) -> Path:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def checkout(root: Path, name: str = "repo", commit: str = "c0ffee") -> Checkout:
    return Checkout(f"con_{name}", name, root.resolve(), commit)


def rg_children() -> list[int]:
    """Live or unreaped ``rg`` processes started by this test process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        if comm == "rg" and int(rest.split()[1]) == os.getpid():
            found.append(int(entry.name))
    return found


def found(result: GrepResult) -> list[tuple[str, int]]:
    return [(m.path, m.line.number) for m in result.matches]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(root, "src/app.py", "import os\n\ndef handler(request):\n    return request.user\n")
    write(root, "src/util.py", "def helper():\n    return 'Request'\n")
    write(root, "tests/test_app.py", "def test_handler():\n    assert handler(request)\n")
    write(root, "README.md", "# Demo\nSee src/app.py for the request handler.\n")
    write(root, ".env.example", "REQUEST_TIMEOUT=5\n")
    return root


async def test_matches_carry_connector_path_line_and_commit(repo: Path) -> None:
    result = await grep([checkout(repo)], GrepQuery("request"))
    assert found(result) == [
        ("README.md", 2),
        ("src/app.py", 3),
        ("src/app.py", 4),
        ("tests/test_app.py", 2),
    ]
    first = result.matches[1]
    assert (first.connector_id, first.commit) == ("con_repo", "c0ffee")
    assert first.line == FileLine(3, "def handler(request):")
    assert (first.before, first.after) == ((), ())
    assert not result.truncated and result.truncated_reason == ""
    assert result.files_searched == 5


async def test_context_lines_before_and_after_each_match(repo: Path) -> None:
    result = await grep([checkout(repo)], GrepQuery("request", context_lines=1))
    by_line = {(m.path, m.line.number): m for m in result.matches}
    handler = by_line["src/app.py", 3]
    assert handler.before == (FileLine(2, ""),)
    # The next line is a match itself; it is still this match's context.
    assert handler.after == (FileLine(4, "    return request.user"),)
    last = by_line["src/app.py", 4]
    assert last.before == (FileLine(3, "def handler(request):"),)
    assert last.after == ()  # end of file
    readme = by_line["README.md", 2]
    assert readme.before == (FileLine(1, "# Demo"),)


async def test_context_is_cut_at_gaps_between_groups(tmp_path: Path) -> None:
    lines = [f"line {n}" for n in range(1, 21)]
    lines[2], lines[14] = "hit A", "hit B"
    write(tmp_path, "f.txt", "\n".join(lines) + "\n")
    result = await grep([checkout(tmp_path)], GrepQuery("hit", context_lines=2))
    a, b = result.matches
    assert [ln.number for ln in a.before] == [1, 2]
    assert [ln.number for ln in a.after] == [4, 5]
    assert [ln.number for ln in b.before] == [13, 14]
    assert [ln.number for ln in b.after] == [16, 17]


async def test_globs_include_and_exclude(repo: Path) -> None:
    only_python = await grep([checkout(repo)], GrepQuery("request", path_globs=("*.py",)))
    assert {path for path, _ in found(only_python)} == {"src/app.py", "tests/test_app.py"}
    no_tests = await grep([checkout(repo)], GrepQuery("request", path_globs=("*.py", "!tests/**")))
    assert {path for path, _ in found(no_tests)} == {"src/app.py"}
    exclude_only = await grep([checkout(repo)], GrepQuery("request", path_globs=("!src/**",)))
    assert {path for path, _ in found(exclude_only)} == {"README.md", "tests/test_app.py"}


async def test_ignore_case_and_hidden_files(repo: Path) -> None:
    result = await grep([checkout(repo)], GrepQuery("REQUEST", ignore_case=True))
    paths = {path for path, _ in found(result)}
    assert {".env.example", "src/util.py", "src/app.py"} <= paths


async def test_fixed_strings_are_literal(tmp_path: Path) -> None:
    write(tmp_path, "f.txt", "a.b\naxb\n(x+\n")
    literal = await grep([checkout(tmp_path)], GrepQuery("a.b", fixed_strings=True))
    assert [m.line.text for m in literal.matches] == ["a.b"]
    regex = await grep([checkout(tmp_path)], GrepQuery("a.b"))
    assert [m.line.text for m in regex.matches] == ["a.b", "axb"]
    not_a_regex = await grep([checkout(tmp_path)], GrepQuery("(x+", fixed_strings=True))
    assert [m.line.text for m in not_a_regex.matches] == ["(x+"]


async def test_pattern_and_glob_starting_with_a_dash(tmp_path: Path) -> None:
    write(tmp_path, "-flags.txt", "run --verbose now\n")
    write(tmp_path, "other.txt", "--verbose too\n")
    result = await grep([checkout(tmp_path)], GrepQuery("--verbose"))
    assert found(result) == [("-flags.txt", 1), ("other.txt", 1)]
    only_dash = await grep([checkout(tmp_path)], GrepQuery("--verbose", path_globs=("-*",)))
    assert found(only_dash) == [("-flags.txt", 1)]


async def test_invalid_regex_names_the_pattern_with_the_parser_message(tmp_path: Path) -> None:
    write(tmp_path, "f.txt", "x\n")
    with pytest.raises(InvalidArgument) as error:
        await grep([checkout(tmp_path)], GrepQuery("foo(bar"))
    assert error.value.field == "pattern"
    assert "unclosed group" in str(error.value)
    with pytest.raises(InvalidArgument, match="look-around") as error:
        await grep([checkout(tmp_path)], GrepQuery("(?<=a)b"))
    assert error.value.field == "pattern"


async def test_a_trailing_backslash_is_named_as_such(tmp_path: Path) -> None:
    write(tmp_path, "f.txt", "a\\b\n")
    with pytest.raises(InvalidArgument, match="unfinished escape") as error:
        await grep([checkout(tmp_path)], GrepQuery("a\\"))
    assert error.value.field == "pattern"
    literal = await grep([checkout(tmp_path)], GrepQuery("a\\", fixed_strings=True))
    assert found(literal) == [("f.txt", 1)]
    escaped = await grep([checkout(tmp_path)], GrepQuery("a\\\\"))
    assert found(escaped) == [("f.txt", 1)]


async def test_failing_fast_leaves_no_unreaped_child(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "f.txt", "x\n")
    for _ in range(10):
        with pytest.raises(InvalidArgument):
            await grep([checkout(tmp_path)], GrepQuery("x", path_globs=("{",)))
    assert "Unknown child process" not in caplog.text
    assert rg_children() == []


async def test_invalid_glob_names_path_globs(tmp_path: Path) -> None:
    write(tmp_path, "f.txt", "x\n")
    with pytest.raises(InvalidArgument, match="unclosed") as error:
        await grep([checkout(tmp_path)], GrepQuery("x", path_globs=("src/{a,b",)))
    assert error.value.field == "path_globs"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (GrepQuery(""), "pattern"),
        (GrepQuery("x" * 1001), "pattern"),
        (GrepQuery("a\x00b"), "pattern"),
        (GrepQuery("x", context_lines=11), "context_lines"),
        (GrepQuery("x", context_lines=-1), "context_lines"),
        (GrepQuery("x", max_matches=1001), "max_matches"),
        (GrepQuery("x", max_matches=-1), "max_matches"),
        (GrepQuery("x", path_globs=("",)), "path_globs"),
        (GrepQuery("x", path_globs=("a\nb",)), "path_globs"),
        (GrepQuery("x", path_globs=("*",) * 51), "path_globs"),
    ],
)
async def test_requests_out_of_bounds_name_the_field(
    tmp_path: Path, query: GrepQuery, field: str
) -> None:
    with pytest.raises(InvalidArgument) as error:
        await grep([checkout(tmp_path)], query)
    assert error.value.field == field


async def test_max_matches_truncates_only_when_there_are_more(tmp_path: Path) -> None:
    write(tmp_path, "f.txt", "hit\n" * 5)
    three = await grep([checkout(tmp_path)], GrepQuery("hit", max_matches=3))
    assert [n for _, n in found(three)] == [1, 2, 3]
    assert (three.truncated, three.truncated_reason) == (True, "max_matches")
    assert three.files_searched == 0  # stopped early: not counted
    five = await grep([checkout(tmp_path)], GrepQuery("hit", max_matches=5))
    assert len(five.matches) == 5 and not five.truncated


async def test_default_budget_is_100_matches(tmp_path: Path) -> None:
    write(tmp_path, "f.txt", "hit\n" * 150)
    result = await grep([checkout(tmp_path)], GrepQuery("hit"))
    assert len(result.matches) == 100 and result.truncated_reason == "max_matches"


async def test_the_last_match_keeps_its_after_context(tmp_path: Path) -> None:
    write(tmp_path, "f.txt", "hit 1\nhit 2\nplain\nhit 4\n")
    result = await grep([checkout(tmp_path)], GrepQuery("hit", max_matches=1, context_lines=2))
    (only,) = result.matches
    assert only.after == (FileLine(2, "hit 2"), FileLine(3, "plain"))
    assert result.truncated_reason == "max_matches"


async def test_checkouts_share_the_match_budget_in_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write(first, "x.txt", "hit\nhit\n")
    write(second, "y.txt", "hit\nhit\n")
    both = [checkout(second, "zeta"), checkout(first, "alpha")]
    result = await grep(both, GrepQuery("hit", max_matches=3))
    assert [(m.connector_id, m.path) for m in result.matches] == [
        ("con_zeta", "y.txt"),
        ("con_zeta", "y.txt"),
        ("con_alpha", "x.txt"),
    ]
    assert result.truncated_reason == "max_matches"
    exactly = await grep(both, GrepQuery("hit", max_matches=4))
    assert len(exactly.matches) == 4 and not exactly.truncated
    assert exactly.files_searched == 2


async def test_connector_picks_one_checkout(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write(first, "x.txt", "hit\n")
    write(second, "y.txt", "hit\n")
    both = [checkout(first, "alpha"), checkout(second, "beta")]
    by_name = await grep(both, GrepQuery("hit", connector="beta"))
    by_id = await grep(both, GrepQuery("hit", connector="con_beta"))
    assert found(by_name) == found(by_id) == [("y.txt", 1)]
    with pytest.raises(NotFound):
        await grep(both, GrepQuery("hit", connector="gamma"))
    with pytest.raises(FailedPrecondition, match="no files"):
        await grep([], GrepQuery("hit"))


async def test_max_bytes_stops_the_output(tmp_path: Path) -> None:
    write(tmp_path, "f.txt", ("hit " + "x" * 96 + "\n") * 50)
    result = await grep([checkout(tmp_path)], GrepQuery("hit"), max_bytes=1000)
    assert 1 <= len(result.matches) < 50
    assert sum(len(m.line.text) + len(m.path) for m in result.matches) <= 1000
    assert (result.truncated, result.truncated_reason) == (True, "max_bytes")


def many_files(root: Path, count: int, text: str) -> None:
    for folder in range(10):
        (root / f"d{folder}").mkdir(parents=True)
    for n in range(count):
        (root / f"d{n % 10}" / f"f{n}.txt").write_text(text)


async def test_time_bound_kills_the_search(tmp_path: Path) -> None:
    many_files(tmp_path, 500, "nothing to see here\n" * 20)
    result = await grep([checkout(tmp_path)], GrepQuery("needle"), timeout_s=0.001)
    assert (result.truncated, result.truncated_reason) == (True, "timeout")
    assert result.files_searched == 0
    assert rg_children() == []


@pytest.mark.parametrize("steps", [1, 5, 50])
async def test_cancelled_search_leaves_no_process(tmp_path: Path, steps: int) -> None:
    many_files(tmp_path, 300, "hit\n" * 10)
    task = asyncio.ensure_future(grep([checkout(tmp_path)], GrepQuery("hit", max_matches=1000)))
    for _ in range(steps):
        await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert rg_children() == []


async def test_stopping_with_output_still_pending_returns(tmp_path: Path) -> None:
    # rg fills the pipe far beyond what is read before the budget stops the search.
    write(tmp_path, "f.txt", ("hit " + "x" * 500 + "\n") * 20_000)
    query = GrepQuery("hit", max_matches=1000)
    # wait_for is only a safety net: a regression would hang here, not fail.
    result = await asyncio.wait_for(grep([checkout(tmp_path)], query), 60)
    assert len(result.matches) == 1000 and result.truncated_reason == "max_matches"
    assert rg_children() == []


async def test_git_folders_are_never_searched(tmp_path: Path) -> None:
    write(tmp_path, ".git/config", "secret = needle\n")
    write(tmp_path, "vendor/lib/.git/HEAD", "needle\n")
    write(tmp_path, "sub/.git", "gitdir: needle\n")  # a worktree's .git file
    write(tmp_path, "src/.gitignore", "needle.log\n")
    plain = await grep([checkout(tmp_path)], GrepQuery("needle"))
    assert found(plain) == [("src/.gitignore", 1)]
    for glob in (".git/**", "**/.git/**", ".git", "**/.git", "*"):
        result = await grep([checkout(tmp_path)], GrepQuery("needle", path_globs=(glob,)))
        assert all(".git/" not in path and path != "sub/.git" for path, _ in found(result))


async def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    outside, root = tmp_path / "outside", tmp_path / "root"
    write(outside, "secret.txt", "needle outside\n")
    write(root, "inside.txt", "needle inside\n")
    (root / "dir-link").symlink_to(outside, target_is_directory=True)
    (root / "file-link.txt").symlink_to(outside / "secret.txt")
    result = await grep([checkout(root)], GrepQuery("needle"))
    assert found(result) == [("inside.txt", 1)]


async def test_long_lines_are_cut_around_the_match(tmp_path: Path) -> None:
    write(tmp_path, "min.js", "x" * 5000 + "needle" + "y" * 5000 + "\n")
    (match,) = (await grep([checkout(tmp_path)], GrepQuery("needle"))).matches
    assert len(match.line.text) == MAX_LINE_CHARS
    assert "needle" in match.line.text


async def test_lines_longer_than_a_record_keep_their_line_number(tmp_path: Path) -> None:
    huge = "a" * (MAX_RECORD_BYTES + 1000)
    write(tmp_path, "big.txt", f"needle first\n{huge} needle\nneedle last\n")
    result = await grep([checkout(tmp_path)], GrepQuery("needle", context_lines=1))
    assert found(result) == [("big.txt", 1), ("big.txt", 2), ("big.txt", 3)]
    middle = result.matches[1]
    assert middle.line.text == "a" * MAX_LINE_CHARS
    assert middle.before == (FileLine(1, "needle first"),)
    assert middle.after == (FileLine(3, "needle last"),)


async def test_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    write(tmp_path, "latin1.txt", b"caf\xe9 needle\n")
    (match,) = (await grep([checkout(tmp_path)], GrepQuery("needle"))).matches
    assert match.line.text == "caf\ufffd needle"


async def test_catastrophic_patterns_finish(tmp_path: Path) -> None:
    # Exponential for backtracking engines; ripgrep's are linear, so these just return.
    write(tmp_path, "a.txt", "a" * 50_000 + "b\n" + "x" * 5_000 + "\n" + "a" * 50_000 + "\n")
    nested = await grep([checkout(tmp_path)], GrepQuery("(a+)+$"))
    assert found(nested) == [("a.txt", 3)]
    doubled = await grep([checkout(tmp_path)], GrepQuery("(x+x+)+y"))
    assert doubled.matches == []


async def test_huge_patterns_fail_cleanly(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "word\n")
    try:
        result = await grep([checkout(tmp_path)], GrepQuery(r"\w{500}{500}"))
    except InvalidArgument as error:
        assert error.field == "pattern"
        assert "size limit" in str(error)
    else:
        assert result.truncated or result.matches == []


async def test_searches_return_the_same_result_twice(repo: Path) -> None:
    query = GrepQuery("re", context_lines=1)
    assert await grep([checkout(repo)], query) == await grep([checkout(repo)], query)
    assert await grep([checkout(repo)], replace(query, ignore_case=True))


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 2, 8, 8, ... files, so a few files make many rg runs (and lookahead)."""
    monkeypatch.setattr(searched_files, "FIRST_BATCH_FILES", 2)
    monkeypatch.setattr(searched_files, "BATCH_FILES", 8)


@pytest.mark.usefixtures("small_batches")
async def test_many_batches_keep_path_order_budget_and_no_descriptor(tmp_path: Path) -> None:
    many_files(tmp_path, 60, "a hit\nno\nhit again\n")
    write(tmp_path, "d0/blob.bin", b"hit\0\0binary")
    before = open_descriptors()
    everything = await grep([checkout(tmp_path)], GrepQuery("hit", max_matches=1000))
    assert found(everything) == sorted(found(everything))
    assert len(everything.matches) == 120 and everything.files_searched == 61  # binary counts
    assert "d0/blob.bin" not in {m.path for m in everything.matches}
    some = await grep([checkout(tmp_path)], GrepQuery("hit", max_matches=7, context_lines=1))
    assert found(some) == found(everything)[:7] and some.truncated_reason == "max_matches"
    assert open_descriptors() == before and rg_children() == []


@pytest.mark.usefixtures("small_batches")
@pytest.mark.parametrize("steps", [1, 3, 10, 30])
async def test_a_cancelled_search_closes_every_descriptor(tmp_path: Path, steps: int) -> None:
    many_files(tmp_path, 60, "hit\n" * 10)
    before = open_descriptors()
    task = asyncio.ensure_future(grep([checkout(tmp_path)], GrepQuery("hit", max_matches=1000)))
    for _ in range(steps):
        await asyncio.sleep(0.001)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert open_descriptors() == before and rg_children() == []


async def test_the_pattern_is_judged_even_with_nothing_to_search(tmp_path: Path) -> None:
    write(tmp_path, "only.bin", b"\0\0\0")
    for root in (tmp_path, tmp_path / "empty"):
        root.mkdir(exist_ok=True)
        with pytest.raises(InvalidArgument) as error:
            await grep([checkout(root)], GrepQuery("(unclosed"))
        assert error.value.field == "pattern"


async def test_utf16_files_are_searched_and_files_grown_past_the_cap_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "wide.txt", "\ufeffneedle wide\r\n".encode("utf-16-le"))
    write(tmp_path, "big.txt", "needle big\n" * 10)
    monkeypatch.setattr(searched_files, "MAX_FILE_BYTES", 60)  # big.txt grew past it
    result = await grep([checkout(tmp_path)], GrepQuery("needle"))
    assert [(m.path, m.line.text) for m in result.matches] == [("wide.txt", "needle wide")]
    assert result.files_searched == 1


def rg_record(kind: str, text: str, number: int) -> dict[str, object]:
    path = {"text": "./f.txt"}
    lines = {"text": text}
    data = {"path": path, "lines": lines, "line_number": number, "absolute_offset": 0}
    return {"type": kind, "data": {**data, "submatches": []}}


@pytest.mark.parametrize(
    ("chunk", "head"), [(1, 109), (7, 115), (64, 119), (100_000, 122), (3, 123), (5, 128)]
)
def test_records_split_at_any_chunk_size(
    monkeypatch: pytest.MonkeyPatch, chunk: int, head: int
) -> None:
    monkeypatch.setattr(ripgrep, "MAX_RECORD_BYTES", 200)
    monkeypatch.setattr(ripgrep, "HEAD_BYTES", head)  # cut through every kind of escape
    # Quotes, backslashes and a fake key inside the text: only the real key counts.
    long_text = 'say "hi" \\ tab\t ,"line_number":99, é' * 20 + "\n"
    records = [
        {"type": "begin", "data": {"path": {"text": "./f.txt"}}},
        rg_record("context", "before\n", 6),
        rg_record("match", long_text, 7),
        rg_record("context", "after\n", 8),
        {"type": "end", "data": {"path": {"text": "./f.txt"}}},
    ]
    compact = {"ensure_ascii": False, "separators": (",", ":")}  # as rg writes it
    raw = "".join(json.dumps(r, **compact) + "\n" for r in records).encode()
    splitter = ripgrep._RecordSplitter()
    parsed = [r for i in range(0, len(raw), chunk) for r in splitter.feed(raw[i : i + chunk])]
    assert [r["type"] for r in parsed] == ["begin", "context", "match", "context", "end"]
    assert [r["data"].get("line_number") for r in parsed[1:4]] == [6, 7, 8]
    cut = ripgrep.text_of(parsed[2]["data"]["lines"])
    assert 0 < len(cut) < len(long_text) and long_text.startswith(cut)


async def test_without_dev_fd_grep_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "a.txt", "needle\n")
    monkeypatch.setattr(searched_files, "DEV_FD", str(tmp_path / "no-dev-fd"))
    with pytest.raises(FailedPrecondition, match="no-dev-fd"):
        await grep([checkout(tmp_path)], GrepQuery("needle"))
