import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";

import { EditorCommand, LspCommand } from "../protocol";
import { RESTART_KEYS } from "../settings";

const manifest = JSON.parse(
  readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8"),
) as {
  engines: { vscode: string };
  activationEvents: string[];
  contributes: {
    commands: { command: string; title: string }[];
    menus: Record<string, { command: string }[]>;
    configuration: {
      properties: Record<string, { default?: unknown; markdownDeprecationMessage?: string }>;
    };
  };
  capabilities: { untrustedWorkspaces: { restrictedConfigurations: string[] } };
};

describe("package.json", () => {
  const contributed = manifest.contributes.commands.map((entry) => entry.command);

  it("contributes exactly the editor commands the extension registers", () => {
    assert.deepEqual(contributed.sort(), Object.values(EditorCommand).sort());
  });

  it("never reuses an LSP command id (the language client registers those)", () => {
    for (const id of Object.values(LspCommand)) {
      assert.ok(!contributed.includes(id), `${id} is registered by the language client`);
    }
  });

  it("puts only contributed commands in menus", () => {
    for (const entries of Object.values(manifest.contributes.menus)) {
      for (const entry of entries) {
        assert.ok(contributed.includes(entry.command), entry.command);
      }
    }
  });

  it("declares every setting the extension reads", () => {
    const properties = manifest.contributes.configuration.properties;
    for (const key of [...RESTART_KEYS, "trace.server"]) {
      assert.ok(`projectqa.${key}` in properties, `projectqa.${key}`);
    }
    assert.equal(properties["projectqa.serverPath"].default, "projectqa-lsp");
  });

  it("ignores a workspace's server path, address and token until it is trusted", () => {
    assert.deepEqual(manifest.capabilities.untrustedWorkspaces.restrictedConfigurations.sort(), [
      "projectqa.address",
      "projectqa.serverPath",
      "projectqa.token",
    ]);
  });

  it("activates on its commands and on workspaces with settings, not in every window", () => {
    // VS Code 1.74+ activates an extension on its contributed commands by itself.
    const minimum = /^\^1\.(\d+)\./.exec(manifest.engines.vscode);
    assert.ok(minimum && Number(minimum[1]) >= 74, manifest.engines.vscode);
    assert.deepEqual(manifest.activationEvents, ["workspaceContains:.vscode/settings.json"]);
    for (const broad of ["*", "onStartupFinished"]) {
      assert.ok(!manifest.activationEvents.includes(broad), broad);
    }
  });

  it("contributes Set Token and deprecates the plain token setting", () => {
    const setToken = manifest.contributes.commands.find((c) => c.command === "projectqa.setToken");
    assert.equal(setToken?.title, "Set Token");
    const token = manifest.contributes.configuration.properties["projectqa.token"];
    assert.match(token.markdownDeprecationMessage ?? "", /ProjectQA: Set Token/);
  });
});
