// extension.ts's activate() under plain Node, with the recording fakes of fakeVscode.ts:
// when the bridge starts, what token it gets, and how the token moves into SecretStorage.

import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";

import { ConfigurationTarget, fake, installFakes } from "./fakeVscode";

installFakes();
// Required after the fakes are in place (an import would be hoisted above them).
const extension = require("../extension") as typeof import("../extension");
const { Bridge } = require("../bridge") as typeof import("../bridge");
const { AskRunner } = require("../asks") as typeof import("../asks");
const { AnswerPanel } = require("../answerPanel") as typeof import("../answerPanel");

// The secret of the bridge's default address (no projectqa.address set).
const TOKEN_SECRET = "projectqa.token@default";

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

  it("moving the token in a workspace that configures ProjectQA starts one bridge", async () => {
    // Clearing the user setting fires onDidChangeConfiguration while activate() runs; the
    // bridge activate() then starts must be the only one.
    fake.settings.set("project", { workspaceValue: "shop" });
    fake.settings.set("token", { globalValue: "tok_8.plain" });
    await activate();
    assert.equal(fake.updates.length, 1);
    assert.equal(fake.clients.length, 1, "a second LanguageClient was made");
    const [client] = startedClients();
    assert.equal(client.options.initializationOptions().token, "tok_8.plain");
  });

  it("a user-settings token that differs from the stored one: the user is told", async () => {
    fake.settings.set("token", { globalValue: "tok_9.plain" });
    fake.secrets.set(TOKEN_SECRET, "tok_9.secret");
    await activate();
    assert.equal(fake.secrets.get(TOKEN_SECRET), "tok_9.secret");
    assert.ok(
      fake.messages.some((m) => m.level === "warning" && /removed without being kept/.test(m.text)),
      JSON.stringify(fake.messages),
    );
  });

  it("a workspace that sets another address gets no token stored for the user's", async () => {
    fake.settings.set("address", { globalValue: "qa.internal:50051", workspaceValue: "evil:1" });
    fake.secrets.set("projectqa.token@qa.internal:50051", "tok_10.qa");
    await activate();
    const [client] = startedClients();
    assert.equal(client.options.initializationOptions().address, "evil:1");
    assert.equal(client.options.initializationOptions().token, undefined);
    // Set Token names the address it stores for, and stores for that one only.
    fake.inputs.push("tok_11.evil");
    await fake.commands.get("projectqa.setToken")?.();
    await settle();
    assert.equal(fake.secrets.get("projectqa.token@evil:1"), "tok_11.evil");
    assert.equal(fake.secrets.get("projectqa.token@qa.internal:50051"), "tok_10.qa");
    const stored = /token for the ProjectQA server at evil:1 stored/;
    assert.ok(fake.messages.some((m) => stored.test(m.text)));
    assert.equal(startedClients()[0].options.initializationOptions().token, "tok_11.evil");
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

describe("Bridge", () => {
  beforeEach(() => fake.reset());

  function bridge() {
    return new Bridge(new AskRunner(new AnswerPanel()), async () => undefined);
  }

  it("two starts at once make one client", async () => {
    const started = bridge();
    const [first, second] = await Promise.all([started.start(), started.start()]);
    assert.equal(first, second);
    assert.equal(fake.clients.length, 1);
  });

  it("a restart during a start leaves one client running, the others disposed", async () => {
    const started = bridge();
    const starting = started.start();
    const restarting = started.restart();
    const late = started.start(); // begun while the restart stops the first
    await Promise.all([starting, restarting, late]);
    await settle();
    assert.equal(startedClients().length, 1, `${fake.clients.length} clients made`);
    assert.ok(fake.clients.every((client) => client.isRunning() || client.disposed));
  });
});
