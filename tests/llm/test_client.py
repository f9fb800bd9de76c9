"""LlmClient over real HTTP: the real openai client against the fake OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from projectqa.server.chat.records import Usage
from projectqa.server.llm.client import (
    Completion,
    LlmClient,
    LlmEndpoint,
    LlmError,
    StreamEnd,
    TextDelta,
    ToolCallDone,
    client_for,
    close_clients,
)
from projectqa.server.llm.tokens import estimate_tokens, messages_tokens
from tests.fakes.llm_server import FakeLlm, Reply, ToolCall
from tests.llm.helpers import KEY, QUESTION, SEARCH_TOOL, collect, endpoint_at, failure, free_port


# ---------------------------------------------------------------- answers
async def test_streamed_text_arrives_in_deltas_then_the_end_with_usage(
    fake: FakeLlm, client: LlmClient
) -> None:
    fake.script(Reply(text="Retries use exponential backoff [1].", usage=(42, 7)))
    events = await collect(client)

    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1
    assert "".join(d.text for d in deltas) == "Retries use exponential backoff [1]."
    assert events[-1] == StreamEnd("stop", Usage(42, 7))
    body = fake.requests[0].body
    assert body["model"] == "gpt-test" and body["temperature"] == 0.2
    assert body["messages"] == QUESTION
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert "max_tokens" not in body and "tools" not in body


async def test_streams_one_after_another_reuse_one_connection(
    fake: FakeLlm, client: LlmClient
) -> None:
    """An answer read to its ``[DONE]`` leaves its connection in the pool: a new TCP (and
    TLS) connection per LLM call cost milliseconds per step, more under load."""
    fake.script(Reply(text="one"), Reply(tool_calls=[ToolCall("search", {"query": "x"})]),
                Reply(text="three"))  # fmt: skip
    for _ in range(3):
        await collect(client, tools=[SEARCH_TOOL])

    assert fake.request_count == 3
    assert fake.connections_opened == 1


async def test_max_output_tokens_is_sent_when_set(fake: FakeLlm) -> None:
    client = LlmClient(endpoint_at(fake, max_output_tokens=300))
    await collect(client)
    await client.aclose()
    assert fake.requests[0].body["max_tokens"] == 300


async def test_a_tool_call_streamed_in_fragments_comes_whole(
    fake: FakeLlm, client: LlmClient
) -> None:
    arguments = {"query": "retry policy for the HTTP client", "limit": 5}
    fake.script(Reply(tool_calls=[ToolCall("search", arguments, id="call_abc")]))
    events = await collect(client, tools=[SEARCH_TOOL], tool_choice="required")

    done = [e for e in events if isinstance(e, ToolCallDone)]
    assert len(done) == 1
    assert (done[0].id, done[0].name) == ("call_abc", "search")
    assert done[0].arguments == '{"query": "retry policy for the HTTP client", "limit": 5}'
    assert events[-1].finish_reason == "tool_calls"
    body = fake.requests[0].body
    assert body["tools"] == [SEARCH_TOOL] and body["tool_choice"] == "required"


async def test_two_tool_calls_at_once_keep_their_order_and_arguments(
    fake: FakeLlm, client: LlmClient
) -> None:
    fake.script(
        Reply(
            text="Let me look.",
            tool_calls=[("search", {"query": "retries"}), ("read_file", {"path": "src/http.py"})],
        )
    )
    events = await collect(client, tools=[SEARCH_TOOL])

    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Let me look."
    done = [e for e in events if isinstance(e, ToolCallDone)]
    assert [(d.name, d.arguments) for d in done] == [
        ("search", '{"query": "retries"}'),
        ("read_file", '{"path": "src/http.py"}'),
    ]
    assert done[0].id != done[1].id
    assert isinstance(events[-1], StreamEnd)  # tool calls come before the end


async def test_a_cut_off_length_finish_is_reported(fake: FakeLlm, client: LlmClient) -> None:
    fake.script(Reply(text="A long", finish_reason="length"))
    events = await collect(client)
    assert events[-1].finish_reason == "length"


async def test_complete_reports_a_summary_cut_at_the_length_limit(fake: FakeLlm) -> None:
    client = LlmClient(endpoint_at(fake))
    fake.script(Reply(text='```json\n{\n  "name": "ask_clar', finish_reason="length"))
    answer = await client.complete(QUESTION, max_tokens=20)
    await client.aclose()
    assert answer.finish_reason == "length"


async def test_complete_returns_text_and_usage(fake: FakeLlm) -> None:
    client = LlmClient(endpoint_at(fake, max_output_tokens=200))
    fake.script(Reply(text="Summary: retries.", usage=(90, 4)))
    answer = await client.complete(QUESTION, max_tokens=512)
    await client.aclose()

    assert answer == Completion("Summary: retries.", Usage(90, 4), "stop")
    body = fake.requests[0].body
    assert "stream" not in body and body["max_tokens"] == 200  # the profile's cap wins


# ---------------------------------------------------------------- retries
async def test_rate_limit_is_retried_after_the_servers_delay(
    fake: FakeLlm, client: LlmClient
) -> None:
    fake.script(Reply(status=429, headers={"retry-after-ms": "10"}), Reply(text="Now it works."))
    events = await collect(client)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Now it works."
    assert len(fake.requests) == 2


async def test_server_error_is_retried(fake: FakeLlm, client: LlmClient) -> None:
    fake.script(Reply(status=500), Reply(text="Recovered."))
    assert (await client.complete(QUESTION)).text == "Recovered."
    assert len(fake.requests) == 2


async def test_persistent_server_error_is_an_llm_error_with_status(fake: FakeLlm) -> None:
    client = LlmClient(endpoint_at(fake, retries=1))
    fake.handler = lambda body: Reply(
        status=503, error_message="Overloaded, try later", headers={"retry-after-ms": "5"}
    )
    error = await failure(client)
    await client.aclose()

    assert (error.reason, error.status) == ("llm_error", 503)
    assert "Overloaded, try later" in str(error)
    assert fake.base_url in str(error) and "gpt-test" in str(error)
    assert len(fake.requests) == 2  # the first try and one retry


async def test_unknown_model_is_not_retried(fake: FakeLlm, client: LlmClient) -> None:
    fake.script(Reply(status=404))
    error = await failure(client)
    assert (error.reason, error.status) == ("llm_error", 404)
    assert "does not exist" in str(error)
    assert len(fake.requests) == 1


# ---------------------------------------------------------------- failures
async def test_unreachable_endpoint() -> None:
    endpoint = LlmEndpoint(
        "local", "llm_1", f"http://127.0.0.1:{free_port()}/v1", KEY, "m", 0.2, 0, 5.0, retries=0
    )
    client = LlmClient(endpoint)
    error = await failure(client)
    await client.aclose()
    assert error.reason == "llm_unreachable" and error.status is None
    assert endpoint.base_url in str(error)


async def test_no_answer_within_the_timeout(fake: FakeLlm) -> None:
    client = LlmClient(endpoint_at(fake, timeout_s=0.3, retries=0))
    fake.script(Reply(text="too late", hang_s=30))
    error = await failure(client)
    await client.aclose()
    assert error.reason == "llm_timeout"


async def test_an_idle_gap_mid_stream_is_a_timeout(fake: FakeLlm) -> None:
    client = LlmClient(endpoint_at(fake, timeout_s=0.3, retries=0))
    fake.script(Reply(text="one two three four", token_delay_s=30))
    seen: list[Any] = []
    with pytest.raises(LlmError) as caught:
        async for event in client.stream(QUESTION):
            seen.append(event)
    await client.aclose()
    assert caught.value.reason == "llm_timeout"
    assert seen == [TextDelta("one ")]


async def test_malformed_stream_is_a_bad_response(fake: FakeLlm, client: LlmClient) -> None:
    fake.script(Reply(text="one two three four", malformed=True))
    error = await failure(client)
    assert error.reason == "llm_bad_response"


async def test_malformed_completion_is_a_bad_response(fake: FakeLlm, client: LlmClient) -> None:
    fake.script(Reply(text="summary", malformed=True))
    with pytest.raises(LlmError) as caught:
        await client.complete(QUESTION)
    assert caught.value.reason == "llm_bad_response"


async def test_stream_cut_before_done_is_a_bad_response(fake: FakeLlm, client: LlmClient) -> None:
    fake.script(Reply(text="one two three four five six", cut=True))
    error = await failure(client)
    assert error.reason == "llm_bad_response"
    assert len(fake.requests) == 1  # a broken answer is not retried: it was already streaming


async def test_completion_cut_short_is_a_bad_response(fake: FakeLlm) -> None:
    client = LlmClient(endpoint_at(fake, retries=0))
    fake.script(Reply(text="one two three four", cut=True))
    with pytest.raises(LlmError) as caught:
        await client.complete(QUESTION)
    await client.aclose()
    assert caught.value.reason == "llm_bad_response"


async def test_cancelling_mid_stream_closes_the_connection(
    fake: FakeLlm, client: LlmClient
) -> None:
    fake.script(Reply(text=" ".join(["word"] * 200), token_delay_s=0.05))
    first = asyncio.Event()

    async def consume() -> None:
        async for event in client.stream(QUESTION):
            if isinstance(event, TextDelta):
                first.set()

    task = asyncio.create_task(consume())
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The fake is still streaming (200 tokens take 10s): it sees the client hang up.
    assert await asyncio.to_thread(fake.wait_for_disconnect)


# ---------------------------------------------------------------- credentials
async def test_the_key_is_sent_as_a_bearer_token(fake: FakeLlm, client: LlmClient) -> None:
    await collect(client)
    assert fake.requests[0].authorization == f"Bearer {KEY}"


async def test_keyless_endpoints_send_a_placeholder(fake: FakeLlm) -> None:
    client = LlmClient(endpoint_at(fake, api_key=""))
    await collect(client)
    await client.aclose()
    assert fake.requests[0].authorization == "Bearer unused"


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=401),  # OpenAI echoes a masked key
        Reply(status=400, error_message=f"key {KEY} is not valid for this model"),
    ],
)
async def test_errors_never_show_the_key(fake: FakeLlm, client: LlmClient, reply: Reply) -> None:
    fake.script(reply)
    error = await failure(client)
    assert error.status == reply.status
    assert KEY not in str(error) and "sk-" not in str(error)
    assert KEY not in repr(client.endpoint)


async def test_profiles_do_not_pick_up_the_operators_organization(
    fake: FakeLlm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-operator")
    profile = LlmClient(endpoint_at(fake))
    environment = LlmClient(endpoint_at(fake, name="environment", profile_id=""))
    await collect(profile)
    await collect(environment)
    await profile.aclose()
    await environment.aclose()
    organizations = [seen.headers.get("openai-organization") for seen in fake.requests]
    assert organizations == [None, "org-operator"]


# ---------------------------------------------------------------- sharing
async def test_client_for_shares_one_pool_per_endpoint_address(fake: FakeLlm) -> None:
    first = client_for(endpoint_at(fake))
    other_model = client_for(endpoint_at(fake, model="gpt-other", temperature=0.0))
    other_key = client_for(endpoint_at(fake, api_key="sk-other-key-000"))
    assert first._openai is other_model._openai
    assert first._openai is not other_key._openai
    assert other_model.endpoint.model == "gpt-other"

    await first.aclose()  # shared: stays open for the other turns
    await collect(other_model)
    assert fake.requests[0].body["model"] == "gpt-other"
    await close_clients()


# ---------------------------------------------------------------- usage
async def test_usage_is_counted_locally_when_the_stream_reports_none(
    fake: FakeLlm, client: LlmClient
) -> None:
    text = "Retries use exponential backoff, configured in src/http.py [1]."
    fake.script(Reply(text=text, stream_usage=False))
    end = (await collect(client))[-1]

    assert end.usage_estimated
    assert end.usage.prompt_tokens == messages_tokens(QUESTION)
    assert end.usage.completion_tokens == estimate_tokens(text)


async def test_estimated_usage_counts_the_tools_offered_and_the_calls_made(
    fake: FakeLlm, client: LlmClient
) -> None:
    arguments = {"query": "retry policy"}
    fake.script(Reply(tool_calls=[("search", arguments)], stream_usage=False))
    end = (await collect(client, tools=[SEARCH_TOOL]))[-1]

    assert end.usage_estimated
    tools = estimate_tokens(json.dumps([SEARCH_TOOL]))
    assert end.usage.prompt_tokens == messages_tokens(QUESTION) + tools
    assert end.usage.completion_tokens == estimate_tokens("search" + json.dumps(arguments))


async def test_reported_usage_is_not_marked_estimated(fake: FakeLlm, client: LlmClient) -> None:
    fake.script(Reply(text="Yes.", usage=(12, 2)))
    end = (await collect(client))[-1]
    assert (end.usage, end.usage_estimated) == (Usage(12, 2), False)


# ---------------------------------------------------------------- calls written as text
WRITTEN_CALL = (
    '<tool_call>\n{"name": "search", "arguments": {"query": "retry policy"}}\n</tool_call>'
)


async def test_a_call_written_as_text_becomes_a_tool_call(fake: FakeLlm, client: LlmClient) -> None:
    fake.script(Reply(text=WRITTEN_CALL))
    events = await collect(client, tools=[SEARCH_TOOL])

    assert not [e for e in events if isinstance(e, TextDelta)]
    (call,) = [e for e in events if isinstance(e, ToolCallDone)]
    assert (call.name, call.arguments) == ("search", '{"query": "retry policy"}')
    assert call.id.startswith("call_")
    assert events[-1].finish_reason == "tool_calls"


async def test_without_tools_offered_a_written_call_stays_text(
    fake: FakeLlm, client: LlmClient
) -> None:
    fake.script(Reply(text=WRITTEN_CALL))
    events = await collect(client)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == WRITTEN_CALL
    assert events[-1] == StreamEnd("stop", events[-1].usage)


async def test_a_call_after_prose_needs_the_endpoints_setting(fake: FakeLlm) -> None:
    text = f"Let me search the project.\n{WRITTEN_CALL}"
    fake.handler = lambda body: Reply(text=text)
    for setting, shown, names in [
        (False, text, []),
        (True, "Let me search the project.\n", ["search"]),
    ]:
        client = LlmClient(endpoint_at(fake, tool_calls_in_text=setting))
        events = await collect(client, tools=[SEARCH_TOOL])
        await client.aclose()
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == shown
        assert [e.name for e in events if isinstance(e, ToolCallDone)] == names


@pytest.mark.parametrize(
    "base_url",
    [
        "https://user:s3cret@llm.example:8443/v1",
        "https://llm.example:8443/v1?api_key=s3cret",
        "https://llm.example:8443/v1#s3cret",
        "https://user:s3cret@llm.example:8443/v1?key=s3cret&x=1#s3cret",
    ],
)
def test_where_shows_no_credentials_from_its_url(base_url: str) -> None:
    endpoint = LlmEndpoint(
        name="p",
        profile_id="1",
        base_url=base_url,
        api_key="",
        model="m",
        temperature=0.2,
        max_output_tokens=0,
        timeout_s=5,
    )
    assert endpoint.where == "model 'm' at https://llm.example:8443/v1"
