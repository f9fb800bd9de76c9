// extension.ts's activate() under plain Node, with the recording fakes of fakeVscode.ts:
// when the bridge starts, what token it gets, and how the token moves into SecretStorage.

import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";

import { ConfigurationTarget, fake, installFakes } from "./fakeVscode";

installFakes();
// Required after the fakes are in place (an import would be hoisted above them).
const extension = require("../extension") as typeof import("../extension");

const TOKEN_SECRET = "projectqa.token";

async function activate() {
  const context = fake.context();
  await extension.activate(context as never);
  await settle();
  return context;
}

/** Lets the promises activate() left running (a bridge start) finish. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i += 1) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function startedClients() {
  return fake.clients.filter((client) => client.started && !client.disposed);
}

describe("activate", () => {
  beforeEach(() => fake.reset());

  it("registers every command, Set Token among them, and starts no bridge by itself", async () => {
    await activate();
    assert.deepEqual([...fake.commands.keys()].sort(), [
      "projectqa.askQuestion",
      "projectqa.explainSelectionCommand",
      "projectqa.setToken",
      "projectqa.showStatus",
    ]);
    assert.equal(fake.clients.length, 0); // no projectqa.* in this workspace's settings
  });

  it("starts the bridge with a workspace that sets projectqa.*, with the stored token", async () => {
    fake.settings.set("project", { workspaceValue: "shop" });
    fake.secrets.set(TOKEN_SECRET, "tok_1.secret");
    await activate();
    const [client] = startedClients();
    assert.ok(client, "the bridge did not start");
    const options = client.options.initializationOptions();
    assert.equal(options.token, "tok_1.secret");
    assert.equal(options.project, "shop");
  });

  it("a user-settings token is no reason to start, but the first command starts it", async () => {
    fake.settings.set("address", { globalValue: "qa.internal:50051" });
    await activate();
    assert.equal(fake.clients.length, 0);
    await fake.commands.get("projectqa.showStatus")?.();
    assert.equal(startedClients().length, 1);
    assert.ok(fake.messages.some((m) => m.text.startsWith("ProjectQA: connected to")));
  });

  it("moves a plain user-settings token into SecretStorage once and clears it", async () => {
    fake.settings.set("token", { globalValue: "tok_2.plain" });
    await activate();
    assert.equal(fake.secrets.get(TOKEN_SECRET), "tok_2.plain");
    assert.deepEqual(fake.updates, [
      { key: "token", value: undefined, target: ConfigurationTarget.Global },
    ]);
    assert.ok(fake.messages.some((m) => m.level === "info" && /secret storage/.test(m.text)));
    // The bridge, started by a command, gets it from SecretStorage.
    await fake.commands.get("projectqa.showStatus")?.();
    assert.equal(startedClients()[0].options.initializationOptions().token, "tok_2.plain");
    // A second activation finds nothing left to move.
    fake.messages = [];
    await activate();
    assert.equal(fake.updates.length, 1);
    assert.ok(!fake.messages.some((m) => /secret storage/.test(m.text)));
  });

  it("warns about a token in the workspace's settings and never stores it", async () => {
    fake.settings.set("token", { workspaceValue: "tok_3.committed" });
    await activate();
    assert.equal(fake.secrets.size, 0);
    assert.deepEqual(fake.updates, []);
    assert.ok(fake.messages.some((m) => m.level === "warning" && /Set Token/.test(m.text)));
  });

  it("Set Token stores the typed token and restarts a running bridge with it", async () => {
    fake.settings.set("project", { workspaceValue: "shop" });
    await activate();
    assert.equal(startedClients()[0].options.initializationOptions().token, undefined);
    fake.inputs.push("  tok_4.typed ");
    await fake.commands.get("projectqa.setToken")?.();
    await settle();
    assert.equal(fake.secrets.get(TOKEN_SECRET), "tok_4.typed");
    const running = startedClients();
    assert.equal(running.length, 1);
    assert.equal(running[0].options.initializationOptions().token, "tok_4.typed");
    assert.equal(fake.clients.length, 2); // the first was stopped
  });

  it("Set Token with nothing typed removes the stored token; Escape changes nothing", async () => {
    fake.secrets.set(TOKEN_SECRET, "tok_5.old");
    await activate();
    fake.inputs.push(undefined);
    await fake.commands.get("projectqa.setToken")?.();
    assert.equal(fake.secrets.get(TOKEN_SECRET), "tok_5.old");
    fake.inputs.push("");
    await fake.commands.get("projectqa.setToken")?.();
    assert.equal(fake.secrets.has(TOKEN_SECRET), false);
  });
});
