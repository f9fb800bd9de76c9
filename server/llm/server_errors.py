"""How OpenAI-compatible servers say they refuse a request, read from their error bodies.

Two refusals matter to the client: a request the server finds invalid (retrying the
same request cannot help, even when the server answers it with a 500, as
llama-cpp-python does for any exception) and a prompt longer than the model's
context. Each server words them its own way; the forms recognised are these:

- llama-cpp-python: 500 with pydantic's errors ("7 validation errors: {'type':
  'string_type', … 'msg': 'Input should be a valid string', …}") or its chat template's
  ("'dict object' has no attribute 'content'"); 400 ``context_length_exceeded``
  "This model's maximum context length is M tokens. However, you requested N tokens
  (P in the messages, None in the completion)." — without streaming only: a stream
  that overflows is a 200 whose body ends empty (the client then asks once unstreamed).
- llama.cpp's llama-server: 400 ``exceed_context_size_error`` "request (P tokens) exceeds
  the available context size (M tokens)" with ``n_prompt_tokens`` and ``n_ctx`` (older
  builds: "the request exceeds the available context size"); a JSON type mismatch is
  a 500 with nlohmann::json's "[json.exception.type_error.302] …".
- vLLM: 400 "This model's maximum context length is M tokens. However, you requested N
  tokens (P in the messages, C in the completion)", newer versions "… and your request
  has P input tokens"; invalid requests are 400s (pydantic text again).
- OpenAI: 400 ``context_length_exceeded`` "… However, your messages resulted in P tokens."
- Ollama: truncates an overlong prompt silently by default (keeping the start of the
  conversation; only its log says "truncating input prompt"); some versions refuse with
  "the input length exceeds the context length". Bad JSON is Go's "json: cannot
  unmarshal …".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# A 5xx body saying so means the request itself is wrong: pydantic (llama-cpp-python,
# vLLM), a chat template that cannot render the messages (jinja2, llama-cpp-python),
# nlohmann::json (llama-server), Go's encoding/json (Ollama).
_INVALID_REQUEST = re.compile(
    r"validation errors?(?: for |:)|Input should be |\[type=[a-z_]+|Field required"
    r"|'dict object' has no attribute|\[json\.exception\.|json: cannot unmarshal"
    r"|invalid_request_error",
    re.IGNORECASE,
)

_OVERFLOW = re.compile(
    r"context_length_exceeded|exceed_context_size_error|maximum context length"
    r"|exceeds? the available context size|exceed context window"
    r"|input length exceeds the context length|longer than the maximum model length",
    re.IGNORECASE,
)
# (pattern, the groups' meanings), tried in order; a later match never overrides a number
_NUMBERS: list[tuple[re.Pattern[str], tuple[str, ...]]] = [
    (re.compile(r"request \((\d+) tokens\) exceeds the available context size \((\d+)"),
     ("prompt", "context")),
    (re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)"),
     ("prompt", "context")),
    (re.compile(r"prompt \(length (\d+)\) is longer than the maximum model length of (\d+)"),
     ("prompt", "context")),
    (re.compile(r"maximum context length is (\d+) tokens"), ("context",)),
    (re.compile(r"(\d+) in the messages"), ("prompt",)),
    (re.compile(r"your request has (\d+) input tokens"), ("prompt",)),
    (re.compile(r"your messages resulted in (\d+) tokens"), ("prompt",)),
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Overflow:
    """The prompt does not fit the model's context; the numbers when the server gave them."""

    prompt_tokens: int | None
    context_tokens: int | None

    def describe(self) -> str:
        known = []
        if self.prompt_tokens is not None:
            known.append(f"the prompt has {self.prompt_tokens} tokens")
        if self.context_tokens is not None:
            known.append(f"the model's context is {self.context_tokens}")
        details = f" ({'; '.join(known)})" if known else ""
        return f"the prompt does not fit the model's context{details}"


def says_invalid_request(body_text: str) -> bool:
    """Whether an error body says the request is invalid (so sending it again cannot help)."""
    return bool(_INVALID_REQUEST.search(body_text[:20_000]) or _OVERFLOW.search(body_text[:20_000]))


def context_overflow(error: Any) -> Overflow | None:
    """The overflow an error body (the ``error`` object, or its text) reports, or None."""
    fields = error if isinstance(error, dict) else {}
    text = " ".join(str(fields.get(key) or "") for key in ("message", "type", "code"))
    text = text if fields else str(error or "")
    if not _OVERFLOW.search(text):
        return None
    found: dict[str, int] = {}
    if isinstance(fields.get("n_prompt_tokens"), int) and isinstance(fields.get("n_ctx"), int):
        found = {"prompt": fields["n_prompt_tokens"], "context": fields["n_ctx"]}
    for pattern, meanings in _NUMBERS:
        if match := pattern.search(text):
            for meaning, number in zip(meanings, match.groups(), strict=True):
                found.setdefault(meaning, int(number))
    return Overflow(found.get("prompt"), found.get("context"))
