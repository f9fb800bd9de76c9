"""Settings every test shares.

An LLM the developer configured in their shell (``OPENAI_API_KEY``,
``OPENAI_BASE_URL``, ``OLLAMA_HOST``) would turn the extractive answers the
tests expect into calls to a real model, so the whole session runs without
them; a test that wants one sets it itself (``monkeypatch.setenv``).
"""

from __future__ import annotations

import os
import tempfile

for _name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OLLAMA_HOST"):
    os.environ.pop(_name, None)

# Servers built in the test process run their ingestion worker as a thread: a child
# process could not see an injected store (mongomock) or plugins registered in-process.
# Tests of the worker process itself set it (and subprocesses drop PROJECTQA_*).
os.environ["PROJECTQA_EMBEDDED_WORKER"] = "thread"

# A developer's own `projectqa login` (a saved address and token under
# $XDG_CONFIG_HOME/projectqa) must reach no test, in this process or its children:
# the session gets an empty config folder; tests of the login itself set their own.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="projectqa-test-config-")
