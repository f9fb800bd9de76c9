"""How real servers refuse a request: not retried when retrying cannot help, and a
context overflow reported as such, with the numbers the server gave."""

from __future__ import annotations

import pytest

from projectqa.server.llm.client import LlmClient, LlmError
from tests.fakes.llm_server import (
    OVERFLOW_FORMS,
    FakeLlm,
    Reply,
    context_overflow,
    invalid_request,
)
from tests.llm.helpers import QUESTION, collect, failure


# ---------------------------------------------------------------- retries
@pytest.mark.parametrize("form", ["llama-cpp-python", "llama-server", "ollama"])
async def test_a_500_saying_the_request_is_invalid_is_not_retried(
    fake: FakeLlm, client: LlmClient, form: str
) -> None:
    fake.handler = lambda body: invalid_request(form)
    error = await failure(client)
    assert (error.reason, error.status) == ("llm_error", 500)
    assert fake.request_count == 1


CALL = {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": "{}"}}
RESULT = {"role": "tool", "tool_call_id": "call_1", "content": "src/http.py:12 retries=3"}


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "assistant", "content": None, "tool_calls": [CALL]}, RESULT],
        [{"role": "assistant", "tool_calls": [CALL]}, RESULT],
        [{"role": "assistant", "content": "", "tool_calls": [CALL]}, {**RESULT, "content": []}],
        [
            {"role": "assistant", "content": "", "tool_calls": [CALL]},
            {"role": "tool", "content": "x"},
        ],
        [
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{**CALL, "function": {"name": "search", "arguments": {}}}],
            },
            RESULT,
        ],
    ],
    ids=["null-content", "no-content", "parts-content", "no-tool-call-id", "object-arguments"],
)
async def test_message_shapes_llama_cpp_python_refuses_are_refused_once(
    fake: FakeLlm, client: LlmClient, messages: list[dict[str, object]]
) -> None:
    fake.strict = True
    with pytest.raises(LlmError) as caught:
        async for _ in client.stream([*QUESTION, *messages]):
            pass
    assert caught.value.status == 500
    assert fake.request_count == 1


async def test_the_strict_fake_takes_what_llama_cpp_python_takes(
    fake: FakeLlm, client: LlmClient
) -> None:
    fake.strict = True
    assistant = {"role": "assistant", "content": "", "tool_calls": [CALL]}
    events = [e async for e in client.stream([*QUESTION, assistant, {**RESULT, "name": "search"}])]
    assert events[-1].finish_reason == "stop"


async def test_an_ordinary_500_is_still_retried(fake: FakeLlm, client: LlmClient) -> None:
    fake.script(Reply(status=500), Reply(status=502), Reply(text="Recovered."))
    events = await collect(client)
    assert events[-1].finish_reason == "stop"
    assert fake.request_count == 3


async def test_an_invalid_request_500_of_complete_is_not_retried(
    fake: FakeLlm, client: LlmClient
) -> None:
    fake.handler = lambda body: invalid_request()
    with pytest.raises(LlmError):
        await client.complete(QUESTION)
    assert fake.request_count == 1


# ---------------------------------------------------------------- context overflow
@pytest.mark.parametrize("form", [f for f in OVERFLOW_FORMS if f != "ollama"])
async def test_a_context_overflow_is_reported_with_the_numbers(
    fake: FakeLlm, client: LlmClient, form: str
) -> None:
    fake.handler = lambda body: context_overflow(form, prompt=2523, context=2048, max_tokens=200)
    error = await failure(client)
    assert error.reason == "context_overflow"
    assert "the prompt has 2523 tokens; the model's context is 2048" in str(error)
    assert (error.prompt_tokens, error.context_tokens) == (2523, 2048)
    if form == "llama-cpp-python":  # its stream ends empty: asked again without streaming
        first, again = fake.requests
        assert first.stream and not again.stream and again.body["max_tokens"] == 1
        assert again.body["messages"] == first.body["messages"]
    else:
        assert fake.request_count == 1


async def test_a_stream_ending_empty_for_another_reason_is_a_bad_response(
    fake: FakeLlm, client: LlmClient
) -> None:
    fake.script(Reply(empty_stream=True), Reply(text="A"))
    error = await failure(client)
    assert error.reason == "llm_bad_response"
    assert "the stream ended without any data" in str(error)
    assert fake.request_count == 2


async def test_ollamas_overflow_has_no_numbers(fake: FakeLlm, client: LlmClient) -> None:
    fake.handler = lambda body: context_overflow("ollama", prompt=2523, context=2048)
    error = await failure(client)
    assert error.reason == "context_overflow"
    assert "does not fit the model's context" in str(error)
    assert (error.prompt_tokens, error.context_tokens) == (None, None)
    assert fake.request_count == 1  # a 500, but retrying the same prompt cannot help


async def test_a_context_overflow_of_complete(fake: FakeLlm, client: LlmClient) -> None:
    fake.script(context_overflow("llama-server", prompt=3000, context=2048))
    with pytest.raises(LlmError) as caught:
        await client.complete(QUESTION)
    assert caught.value.reason == "context_overflow"


async def test_other_bad_requests_stay_llm_errors(fake: FakeLlm, client: LlmClient) -> None:
    fake.script(Reply(status=400, error_message="Invalid value for 'temperature'"))
    error = await failure(client)
    assert (error.reason, error.status) == ("llm_error", 400)
