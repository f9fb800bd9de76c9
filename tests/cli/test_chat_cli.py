"""``projectqa ask``, ``chat`` and ``chats`` against a real server with a real ingested
project (``local`` connector, the real embedding model). Extractive answers need no LLM;
tool calls, approvals and failures use the fake OpenAI-compatible LLM of tests/fakes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from projectqa.client import Client
from projectqa.client.cli.answers import render_turn
from projectqa.v1 import admin_pb2, chat_pb2
from tests.fakes.llm_server import FakeLlm, Reply

from .conftest import PLAIN, Cli, RunningServer, running_server
from .test_search_tools import write_shop

pytestmark = pytest.mark.model

SHOP = "shop"
QUESTION = "how is the total price of the cart computed?"
SOURCE = re.compile(
    r"^  (?:\[\d+\] )?(?P<path>\S+):(?P<start>\d+)-(?P<end>\d+)(?: \(unverified\))?$"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Overrides the session server of conftest: this one has the ``local`` connector."""
    with running_server(tmp_path_factory.mktemp("chat-server"), plugins=["local"]) as started:
        yield started


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shop(tmp_path_factory.mktemp("shop"))


@pytest.fixture(scope="module")
def shop(server: RunningServer, folder: Path) -> str:
    """The only project of the server, ingested; its ``run_checks`` tool (side effects) on."""
    cli = Cli(server.address, server.admin_token)
    cli.ok("admin", "project", "create", SHOP, "--name", "Shop")
    config = json.dumps({"path": str(folder)})
    cli.ok("admin", "connector", "create", SHOP, "--type", "local", "--name", "files",
           "--config", config)  # fmt: skip
    cli.ok("ingest", SHOP, env=PLAIN)
    cli.ok("admin", "tool", "enable", SHOP, "run_checks")
    return SHOP


@pytest.fixture
def fake() -> Iterator[FakeLlm]:
    with FakeLlm() as llm:
        yield llm


def llm_profile(cli: Cli, base_url: str, name: str, timeout: int = 10) -> str:
    """The id of a new profile of the shop for the LLM at ``base_url``."""
    created = cli.json(
        "admin", "llm", "create", name, "--project", SHOP, "--provider", "openai-compatible",
        "--model", "fake-model", "--base-url", base_url, "--api-key-env", "FAKE_LLM_KEY",
        "--timeout", str(timeout), env={"FAKE_LLM_KEY": "sk-test"},
    )  # fmt: skip
    return created["id"]


def sources(output: str) -> list[tuple[str, int, int]]:
    """The ``path:start-end`` lines printed under "Sources:"."""
    lines = output.splitlines()
    assert "Sources:" in lines, output
    cited = []
    for line in lines[lines.index("Sources:") + 1 :]:
        if match := SOURCE.match(line):
            cited.append((match["path"], int(match["start"]), int(match["end"])))
    return cited


def assert_cites_real_lines(folder: Path, cited: list[tuple[str, int, int]]) -> None:
    assert cited
    for path, start, end in cited:
        line_count = len((folder / path).read_text().splitlines())
        assert 1 <= start <= end <= line_count, (path, start, end)


def chat_id_of(admin_cli: Cli, title: str) -> str:
    [found] = [c for c in admin_cli.json("chats", "-p", SHOP) if c["title"] == title]
    return found["id"]


# ------------------------------------------------------------------- ask


def test_ask_streams_an_extractive_answer_citing_ingested_lines(
    admin_cli: Cli, shop: str, folder: Path
) -> None:
    out = admin_cli.ok("ask", "-p", shop, "--extractive", QUESTION).stdout
    answer = out.split("Sources:")[0]
    assert answer.strip()
    cited = sources(out)
    assert_cites_real_lines(folder, cited)
    assert "shop/cart.py" in {path for path, _, _ in cited}


def test_ask_json_prints_one_event_per_line(admin_cli: Cli, shop: str) -> None:
    out = admin_cli.ok("--json", "ask", "-p", shop, "--extractive", QUESTION).stdout
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["turn_started"]["model"] == "extractive"
    assert events[-1]["done"]["status"] == "TURN_STATUS_COMPLETE"
    answer = "".join(e["answer_delta"]["text"] for e in events if "answer_delta" in e)
    assert answer == events[-1]["done"]["answer"]
    labels = [e["citation"]["citation"]["label"] for e in events if "citation" in e]
    assert any(label.startswith("shop/cart.py:") for label in labels)


def test_ask_defaults_to_the_only_project(admin_cli: Cli, shop: str, folder: Path) -> None:
    out = admin_cli.ok("ask", "--extractive", QUESTION, env={"PROJECTQA_PROJECT": None}).stdout
    assert_cites_real_lines(folder, sources(out))
    from_env = admin_cli.ok("ask", "--extractive", QUESTION, env={"PROJECTQA_PROJECT": shop})
    assert sources(from_env.stdout) == sources(out)


def test_ask_in_an_unknown_project_exits_not_found(admin_cli: Cli, shop: str) -> None:
    result = admin_cli("ask", "-p", "no-such-project", "--extractive", QUESTION)
    assert result.exit_code == 3
    assert "NOT_FOUND" in result.stderr


def test_ask_shows_tool_calls_and_usage(admin_cli: Cli, shop: str, fake: FakeLlm) -> None:
    fake.script(
        Reply(tool_calls=[("grep", {"pattern": "def total"})]),
        Reply(text="It multiplies each price by its quantity.", usage=(120, 9)),
    )
    profile = llm_profile(admin_cli, fake.base_url, "fake-tools")
    out = admin_cli.ok("ask", "-p", shop, "--profile", profile, QUESTION).stdout
    lines = out.splitlines()
    assert lines[0] == '→ grep {"pattern": "def total"}'
    assert lines[1].startswith("← ") and "failed" not in lines[1]
    assert lines[2] == "It multiplies each price by its quantity."
    assert any(line.startswith("Tokens: ") for line in lines)


def test_a_failed_turn_goes_to_stderr_with_exit_1(admin_cli: Cli, shop: str) -> None:
    profile = llm_profile(admin_cli, "http://127.0.0.1:9/v1", "unreachable", timeout=2)
    result = admin_cli("ask", "-p", shop, "--profile", profile, QUESTION)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: llm_unreachable: ")


# ------------------------------------------------------------------ chat


def test_chat_answers_a_line_then_ends_at_eof(admin_cli: Cli, shop: str, folder: Path) -> None:
    out = admin_cli.ok("chat", "-p", shop, "--title", "Totals", input=f"{QUESTION}\n").stdout
    assert out.count("you> ") == 2  # the question, then end of input
    assert_cites_real_lines(folder, sources(out))
    chat_id = chat_id_of(admin_cli, "Totals")
    again = admin_cli.ok("chat", "--chat", chat_id, input="/quit\n").stdout
    assert f"you> {QUESTION}" in again  # the end of the chat, shown before the prompt
    assert "assistant> " in again


def test_chat_asks_before_running_a_tool_with_side_effects(
    admin_cli: Cli, shop: str, fake: FakeLlm
) -> None:
    fake.script(
        Reply(tool_calls=[("run_checks", {"target": "all"})]),
        Reply(text="The checks passed."),
        Reply(tool_calls=[("run_checks", {"target": "cart"})]),
        Reply(text="I did not run them."),
    )
    profile = llm_profile(admin_cli, fake.base_url, "fake-approvals")
    typed = "run the checks\ny\nand the cart's?\nn\n"
    out = admin_cli.ok("chat", "-p", shop, "--profile", profile, input=typed).stdout
    first, second = out.split("Chat chat_")[1].split("you> ")[1:3]
    assert 'run_checks {"target": "all"}' in first
    assert "Run run_checks? [y/N] " in first
    assert "← ok" in first and "The checks passed." in first
    assert "← run_checks failed: " in second and "I did not run them." in second


def test_chat_json_keeps_stdout_to_json_lines(admin_cli: Cli, shop: str, fake: FakeLlm) -> None:
    fake.script(Reply(tool_calls=[("run_checks", {"target": "all"})]), Reply(text="Done."))
    profile = llm_profile(admin_cli, fake.base_url, "fake-json")
    typed = "run the checks\ny\n"
    result = admin_cli.ok("--json", "chat", "-p", shop, "--profile", profile, input=typed)
    events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert any("approval_required" in event for event in events)
    assert events[-1]["done"]["answer"] == "Done."
    assert "Run run_checks? [y/N] " in result.stderr  # the conversation itself is on stderr


def test_ctrl_c_while_streaming_cancels_the_turn(shop: str, server: RunningServer) -> None:
    with FakeLlm() as fake, Client(server.address, server.admin_token) as client:
        fake.script(Reply(text="word " * 200, token_delay_s=0.05), Reply(text="Next."))
        profile = client.create_llm_profile(
            "fake-slow",
            provider=admin_pb2.LLM_PROVIDER_OPENAI_COMPATIBLE,
            model="fake-model",
            project=SHOP,
            base_url=fake.base_url,
            api_key="sk-test",
        )
        chat = client.create_chat(SHOP, "Interrupted", profile.id)
        outcome = render_turn(KeyAfterDeltas(client.send_message(chat.id, "go"), 3))
        assert outcome.interrupted and outcome.answer.startswith("word word")
        details = wait_for_turn(client, chat.id)
        assert details.messages[-1].role == chat_pb2.MESSAGE_ROLE_SYSTEM
        assert "interrupted" in details.messages[-1].content
        next_answer = render_turn(client.send_message(chat.id, "again"))
        assert next_answer.answer == "Next."


class KeyAfterDeltas:
    """The events of a real stream, with Ctrl-C pressed after ``count`` answer deltas."""

    def __init__(self, stream: object, count: int) -> None:
        self.stream = stream
        self.count = count

    def __iter__(self) -> Iterator[chat_pb2.ChatEvent]:
        for event in self.stream:  # type: ignore[attr-defined]
            yield event
            self.count -= event.HasField("answer_delta")
            if self.count == 0:
                raise KeyboardInterrupt

    def cancel(self) -> None:
        self.stream.cancel()  # type: ignore[attr-defined]


def wait_for_turn(client: Client, chat_id: str) -> chat_pb2.GetChatResponse:
    for _ in range(200):  # the server stores the interruption right after the cancel
        details = client.get_chat(chat_id)
        if details.chat.turn_count:
            return details
        time.sleep(0.05)
    raise AssertionError("the interrupted turn was never stored")


# ----------------------------------------------------------------- chats


def test_chats_lists_shows_sets_policy_and_deletes(admin_cli: Cli, shop: str) -> None:
    admin_cli.ok("chat", "-p", shop, "--title", "Managed", input=f"{QUESTION}\n")
    chat_id = chat_id_of(admin_cli, "Managed")
    listed = admin_cli.ok("chats").stdout
    assert chat_id in listed and "Managed" in listed and SHOP in listed

    shown = admin_cli.ok("chats", "show", chat_id).stdout
    assert f"you> {QUESTION}" in shown and "assistant> " in shown
    assert sources(shown)
    details = admin_cli.json("chats", "show", chat_id)
    assert [m["role"] for m in details["messages"]][:2] == [
        "MESSAGE_ROLE_USER",
        "MESSAGE_ROLE_ASSISTANT",
    ]

    policy = admin_cli.ok("chats", "policy", chat_id, "grep=deny", "run_checks=auto").stdout
    assert re.search(r"grep\s+│\s+deny\s+│\s+explicitly", policy), policy
    as_json = admin_cli.json("chats", "policy", chat_id, "grep=default")
    assert "grep" not in as_json["tools"]
    assert as_json["tools"]["run_checks"] == "TOOL_PERMISSION_AUTO"
    assert as_json["effective"]["grep"] == "TOOL_PERMISSION_AUTO"
    bad = admin_cli("chats", "policy", chat_id, "grep=sometimes")
    assert bad.exit_code == 2

    assert admin_cli.ok("chats", "delete", chat_id).stdout.strip() == f"Deleted chat {chat_id}."
    assert admin_cli("chats", "show", chat_id).exit_code == 3
    assert chat_id not in admin_cli.ok("chats").stdout


def test_fold_progress_is_a_status_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    progress = chat_pb2.TurnProgress(stage="folding_memory", message="Summarizing 2 turns…")
    events = [
        chat_pb2.ChatEvent(sequence=1, turn_started=chat_pb2.TurnStarted(turn_id="turn_1")),
        chat_pb2.ChatEvent(sequence=2, progress=progress),
        chat_pb2.ChatEvent(sequence=3, answer_delta=chat_pb2.AnswerDelta(text="Done.")),
    ]
    outcome = render_turn(events)
    captured = capsys.readouterr()
    assert outcome.answer == "Done." and captured.out == "Done.\n"
    assert captured.err == "Summarizing 2 turns…\n"


# ------------------------------------------- project, stdin, slash commands (issue 18)


def test_ask_takes_the_project_as_its_first_argument_too(admin_cli: Cli, shop: str) -> None:
    flagged = admin_cli.ok("ask", "-p", shop, "--extractive", QUESTION).stdout
    positional = admin_cli.ok("ask", shop, "--extractive", QUESTION).stdout
    assert sources(positional) == sources(flagged)
    twice = admin_cli("ask", "other", QUESTION, "-p", shop)
    assert twice.exit_code == 2 and "the project is given twice, differently" in twice.stderr


def test_ask_dash_reads_the_question_from_stdin(admin_cli: Cli, shop: str) -> None:
    typed = admin_cli.ok("ask", "-p", shop, "--extractive", QUESTION).stdout
    piped = admin_cli.ok("ask", "--extractive", shop, "-", input=f"{QUESTION}\n").stdout
    assert sources(piped) == sources(typed)
    default_project = admin_cli.ok("ask", "--extractive", "-", input=QUESTION).stdout
    assert sources(default_project) == sources(typed)
    empty = admin_cli("ask", shop, "-", input="  \n")
    assert empty.exit_code == 2
    assert "QUESTION: nothing was read from standard input" in empty.stderr


def test_slash_commands_are_answered_at_the_prompt_and_never_sent(
    admin_cli: Cli, shop: str
) -> None:
    typed = "/help\n/frobnicate now\n/chat\n/exit\n"
    result = admin_cli.ok("chat", shop, "--title", "Slashes", input=typed)
    assert "/quit, /exit   end the chat" in result.stdout
    assert "error: unknown command /frobnicate (not sent)" in result.stderr
    chat_id = chat_id_of(admin_cli, "Slashes")
    assert f"Chat {chat_id}: continue it with `projectqa chat --chat {chat_id}`." in result.stdout
    assert result.stdout.count("you> ") == 4  # /exit ended it, no fifth prompt
    assert admin_cli.json("chats", "show", chat_id)["messages"] == []  # nothing was sent


def test_a_double_slash_sends_the_line_with_one_slash(admin_cli: Cli, shop: str) -> None:
    admin_cli.ok("chat", "-p", shop, "--title", "Paths", input="//shop/cart.py total?\n")
    details = admin_cli.json("chats", "show", chat_id_of(admin_cli, "Paths"))
    assert details["messages"][0]["content"] == "/shop/cart.py total?"


def test_status_shows_the_ingested_project_ready(admin_cli: Cli, shop: str) -> None:
    [project] = admin_cli.json("status")["projects"]
    assert project["slug"] == shop and project["state"] == "ready"
    assert project["last_run"]["status"] == "INGESTION_STATUS_SUCCEEDED"
    row = next(line for line in admin_cli.ok("status").stdout.splitlines() if shop in line)
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells[0] == shop and cells[3] == "100 %" and cells[-1] == "ready"
    assert cells[4].startswith("✔ succeeded  ")
