import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  initializationOptions,
  needsRestart,
  serverCommand,
  startFailureMessage,
  workspaceConfiguresProjectQA,
} from "../settings";

describe("initializationOptions", () => {
  it("passes every setting that is set, with the token given (from secret storage)", () => {
    const options = initializationOptions(
      {
        serverPath: "/opt/projectqa/bin/projectqa-lsp",
        address: " qa.internal:50051 ",
        token: "tok_plain.setting",
        project: "shop",
        codeLens: true,
        extractive: true,
      },
      "tok_1.secret",
    );
    assert.deepEqual(options, {
      address: "qa.internal:50051",
      token: "tok_1.secret",
      project: "shop",
      codeLens: true,
      extractive: true,
    });
  });

  it("never passes the plain token setting itself", () => {
    assert.ok(!("token" in initializationOptions({ token: "tok_plain.setting" })));
  });

  it("leaves out empty strings so the bridge falls back to env and defaults", () => {
    const options = initializationOptions({ address: "", project: undefined }, "  ");
    assert.deepEqual(options, { codeLens: false, extractive: false });
    assert.ok(!("token" in options));
  });
});

describe("serverCommand", () => {
  it("defaults to projectqa-lsp on PATH", () => {
    assert.equal(serverCommand({}), "projectqa-lsp");
    assert.equal(serverCommand({ serverPath: " " }), "projectqa-lsp");
    assert.equal(
      serverCommand({ serverPath: "/venv/bin/projectqa-lsp" }),
      "/venv/bin/projectqa-lsp",
    );
  });
});

describe("needsRestart", () => {
  it("restarts for the settings read at initialize, not for tracing", () => {
    assert.ok(needsRestart((key) => key === "projectqa.token"));
    assert.ok(needsRestart((key) => key === "projectqa.serverPath"));
    assert.ok(!needsRestart((key) => key === "projectqa.trace.server"));
    assert.ok(!needsRestart((key) => key === "editor.fontSize"));
  });
});

describe("startFailureMessage", () => {
  it("names the program and the fix", () => {
    const message = startFailureMessage("projectqa-lsp", new Error("spawn projectqa-lsp ENOENT"));
    assert.match(message, /'projectqa-lsp' \(spawn projectqa-lsp ENOENT\)/);
    assert.match(message, /projectqa\.serverPath/);
  });
});

describe("workspaceConfiguresProjectQA", () => {
  it("is true for a projectqa value in the workspace's or a folder's settings only", () => {
    assert.ok(workspaceConfiguresProjectQA([undefined, { workspaceValue: "shop" }]));
    assert.ok(workspaceConfiguresProjectQA([{ workspaceFolderValue: false }]));
    // User settings (globalValue) apply to every window: they start nothing by themselves.
    const userOnly = [{ globalValue: "qa:50051" } as { workspaceValue?: unknown }];
    assert.ok(!workspaceConfiguresProjectQA(userOnly));
    assert.ok(!workspaceConfiguresProjectQA([undefined, {}]));
  });
});
