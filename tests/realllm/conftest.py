"""The real LLM peers for the whole session: each started on first use, stopped at the end.

``llm_peer`` is llama-cpp-python's server with SmolLM2's own chat template and
a 2,048-token context; ``tool_peer`` the same model shown how to write a tool
call (``smollm2_tools.jinja``); ``llm_peers(n_ctx)`` starts another with a
different context, for the tests that need the prompt not to fit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .peer import Peer, peer_model, peer_python, start_peer

N_CTX = 2048  # SmolLM2's training context
TOOL_TEMPLATE = Path(__file__).with_name("smollm2_tools.jinja")

StartPeer = Callable[..., Peer]


@pytest.fixture(scope="session")
def llm_peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartPeer]:
    """``llm_peers(n_ctx, chat_template=None)``: the running peer with that context size and
    template (started on first use; skips, or fails in CI, when it cannot run here)."""
    running: dict[tuple[int, Path | None], Peer] = {}
    found: list[tuple[Path, Path]] = []  # (interpreter, model), looked up once

    def peer(n_ctx: int, chat_template: Path | None = None) -> Peer:
        key = (n_ctx, chat_template)
        if key not in running:
            if not found:
                python = peer_python()
                found.append((python, peer_model(python)))
            python, model = found[0]
            log = tmp_path_factory.mktemp(f"llm-peer-{n_ctx}") / "peer.log"
            running[key] = start_peer(python, model, n_ctx, log, chat_template)
        return running[key]

    yield peer
    for started in running.values():
        started.stop()


@pytest.fixture(scope="session")
def llm_peer(llm_peers: StartPeer) -> Peer:
    """The peer as a user would run it: the model's own chat template."""
    return llm_peers(N_CTX)


@pytest.fixture(scope="session")
def tool_peer(llm_peers: StartPeer) -> Peer:
    """The peer whose template shows the model two tool calls before the conversation."""
    return llm_peers(N_CTX, TOOL_TEMPLATE)
