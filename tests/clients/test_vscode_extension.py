"""The VS Code extension compiles, passes its unit tests and packages into a .vsix.

VS Code cannot run here, so its logic is unit-tested under plain Node (`npm test`) and the
package is checked as a zip: what `code --install-extension` would install.
"""

from __future__ import annotations

import json
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.clients.requirements import REPO, require_node_modules, require_tool

PACKAGE = REPO / "clients" / "vscode"
NODE_HINT = "install Node.js 20+ with npm (e.g. `apt-get install nodejs npm`)"


def run(command: list[str], timeout: float) -> str:
    """Runs ``command`` in the extension's folder; its output, or a failure showing it."""
    result = subprocess.run(
        command,
        cwd=PACKAGE,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}:\n{output}"
    return output


@pytest.fixture(scope="module")
def npm() -> str:
    path = require_tool("npm", NODE_HINT)
    require_node_modules(PACKAGE)
    return path


def test_compiles(npm: str) -> None:
    run([npm, "run", "compile"], timeout=300)
    assert (PACKAGE / "out" / "extension.js").is_file()


def test_unit_tests_pass(npm: str) -> None:
    output = run([npm, "test"], timeout=300)
    # The TAP reporter ("# pass 36") or the spec one, depending on Node's version.
    passed = re.search(r"\bpass (\d+)", output)
    assert passed and int(passed.group(1)) > 0, output
    assert re.search(r"\bfail 0\b", output), output
    # activate() under a recording fake `vscode` (src/test/activation.test.ts): when the
    # bridge starts and with which token; and the token's move into SecretStorage.
    for suite in ("activate", "migrateToken", "storeToken", "bridgeToken"):
        assert re.search(rf"^(# Subtest: |▶ ){suite}$", output, re.MULTILINE), suite


def test_packages_a_vsix(npm: str, tmp_path: Path) -> None:
    npx = require_tool("npx", NODE_HINT)
    vsix = tmp_path / "projectqa.vsix"
    run([npx, "--no", "vsce", "package", "--out", str(vsix)], timeout=300)
    with zipfile.ZipFile(vsix) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("extension/package.json"))
    assert "extension/out/extension.js" in names
    assert manifest["main"] == "./out/extension.js"
    # Not started in every window: on its commands (implicit since VS Code 1.74) and in
    # workspaces with settings, which it checks for a projectqa.* value.
    assert manifest["activationEvents"] == ["workspaceContains:.vscode/settings.json"]
    assert "projectqa.setToken" in {c["command"] for c in manifest["contributes"]["commands"]}
    assert "extension/node_modules/vscode-languageclient/package.json" in names
    left_out = ("extension/src/", "extension/out/test/", "extension/node_modules/typescript/")
    assert not [name for name in names if name.startswith(left_out)]
