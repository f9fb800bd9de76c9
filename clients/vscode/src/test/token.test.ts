import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  bridgeToken,
  discardedTokenMessage,
  isTokenSecret,
  migrateToken,
  type Secrets,
  storeToken,
  tokenSecret,
  UNKEYED_TOKEN_SECRET,
  userAddress,
  WORKSPACE_TOKEN_WARNING,
} from "../token";

/** An in-memory SecretStorage that records what was done to it. */
class FakeSecrets implements Secrets {
  readonly values = new Map<string, string>();
  readonly calls: string[] = [];

  async get(key: string): Promise<string | undefined> {
    return this.values.get(key);
  }

  async store(key: string, value: string): Promise<void> {
    this.calls.push(`store ${key}`);
    this.values.set(key, value);
  }

  async delete(key: string): Promise<void> {
    this.calls.push(`delete ${key}`);
    this.values.delete(key);
  }
}

/** The user's settings file, as far as `projectqa.token` goes. */
function userSettings(token?: string) {
  const file = { token };
  return {
    file,
    inspect: () => ({ globalValue: file.token }),
    clear: async () => {
      file.token = undefined;
    },
  };
}

const QA = "qa.internal:50051";

/** A Migration with the flags named set. */
function did(...flags: ("moved" | "discarded" | "cleared" | "inWorkspace")[]) {
  const migration = { moved: false, discarded: false, cleared: false, inWorkspace: false };
  flags.forEach((flag) => (migration[flag] = true));
  return migration;
}

describe("tokenSecret", () => {
  it("keeps one token per address; no address is the bridge's default one", () => {
    assert.equal(tokenSecret(QA), "projectqa.token@qa.internal:50051");
    assert.equal(tokenSecret(" QA.internal:50051 "), tokenSecret(QA));
    assert.notEqual(tokenSecret("evil.example:443"), tokenSecret(QA));
    assert.equal(tokenSecret(""), "projectqa.token@default");
    assert.equal(tokenSecret(undefined), tokenSecret("  "));
    assert.ok(isTokenSecret(tokenSecret(QA)) && isTokenSecret(UNKEYED_TOKEN_SECRET));
    assert.ok(!isTokenSecret("other.extension"));
  });

  it("takes the address a token moves to from the user's settings, never a workspace's", () => {
    assert.equal(userAddress({ globalValue: ` ${QA}`, workspaceValue: "evil:1" }), QA);
    assert.equal(userAddress({ workspaceValue: "evil:1" }), "");
  });
});

describe("migrateToken", () => {
  it("moves a user-settings token to the secret of the user's address and clears it", async () => {
    const secrets = new FakeSecrets();
    const settings = userSettings(" tok_1.old ");
    const migration = await migrateToken(secrets, settings.inspect(), QA, settings.clear);
    assert.deepEqual(migration, did("moved", "cleared"));
    assert.equal(secrets.values.get(tokenSecret(QA)), "tok_1.old");
    assert.equal(settings.file.token, undefined);
  });

  it("happens once: a second activation finds nothing to move", async () => {
    const secrets = new FakeSecrets();
    const settings = userSettings("tok_1.old");
    await migrateToken(secrets, settings.inspect(), QA, settings.clear);
    const again = await migrateToken(secrets, settings.inspect(), QA, settings.clear);
    assert.deepEqual(again, did());
    assert.deepEqual(secrets.calls, [`store ${tokenSecret(QA)}`]);
  });

  it("keeps a token set with Set Token; a different plain one is reported discarded", async () => {
    const secrets = new FakeSecrets();
    secrets.values.set(tokenSecret(QA), "tok_2.new");
    const settings = userSettings("tok_1.old");
    const migration = await migrateToken(secrets, settings.inspect(), QA, settings.clear);
    assert.deepEqual(migration, did("discarded", "cleared"));
    assert.equal(secrets.values.get(tokenSecret(QA)), "tok_2.new");
    assert.equal(settings.file.token, undefined);
    const told = discardedTokenMessage(QA);
    assert.match(told, /removed without being kept/);
    assert.match(told, /qa\.internal:50051/);
    assert.match(told, /Set Token/);
    assert.ok(!told.includes("tok_"), "the message never shows a token");
  });

  it("a plain token equal to the stored one is not reported as discarded", async () => {
    const secrets = new FakeSecrets();
    secrets.values.set(tokenSecret(QA), "tok_2.same");
    const settings = userSettings("tok_2.same");
    const migration = await migrateToken(secrets, settings.inspect(), QA, settings.clear);
    assert.deepEqual(migration, did("cleared"));
  });

  it("moves the one token stored before tokens were kept per address", async () => {
    const secrets = new FakeSecrets();
    secrets.values.set(UNKEYED_TOKEN_SECRET, "tok_7.unkeyed");
    const migration = await migrateToken(secrets, undefined, QA, async () => {
      throw new Error("nothing to clear");
    });
    assert.deepEqual(migration, did("moved"));
    assert.equal(secrets.values.get(tokenSecret(QA)), "tok_7.unkeyed");
    assert.equal(secrets.values.has(UNKEYED_TOKEN_SECRET), false);
  });

  it("never adopts a workspace's token, and reports it to warn about", async () => {
    const secrets = new FakeSecrets();
    let cleared = false;
    const migration = await migrateToken(
      secrets,
      { workspaceValue: "tok_3.from-the-repo" },
      QA,
      async () => {
        cleared = true;
      },
    );
    assert.deepEqual(migration, did("inWorkspace"));
    assert.equal(secrets.values.size, 0);
    assert.ok(!cleared);
    assert.match(WORKSPACE_TOKEN_WARNING, /ProjectQA: Set Token/);
  });

  it("does nothing without a token anywhere", async () => {
    const secrets = new FakeSecrets();
    const migration = await migrateToken(secrets, { globalValue: "" }, QA, async () => {
      throw new Error("nothing to clear");
    });
    assert.deepEqual(migration, did());
    assert.deepEqual(secrets.calls, []);
  });
});

describe("storeToken", () => {
  it("stores the typed token trimmed for its address, and removes it when left empty", async () => {
    const secrets = new FakeSecrets();
    assert.equal(await storeToken(secrets, QA, "  tok_4.typed\n"), "stored");
    assert.equal(secrets.values.get(tokenSecret(QA)), "tok_4.typed");
    assert.equal(secrets.values.has(tokenSecret("")), false);
    assert.equal(await storeToken(secrets, QA, "   "), "removed");
    assert.equal(secrets.values.has(tokenSecret(QA)), false);
  });
});

describe("bridgeToken", () => {
  it("prefers the secret of the address, then a workspace's plain setting, else none", async () => {
    const secrets = new FakeSecrets();
    assert.equal(await bridgeToken(secrets, QA, undefined), undefined);
    assert.equal(await bridgeToken(secrets, QA, " tok_5.plain "), "tok_5.plain");
    secrets.values.set(tokenSecret(QA), "tok_6.secret");
    assert.equal(await bridgeToken(secrets, QA, "tok_5.plain"), "tok_6.secret");
    // Another address (one a workspace set, say) never gets it.
    assert.equal(await bridgeToken(secrets, "evil.example:443", undefined), undefined);
    assert.equal(await bridgeToken(secrets, "", undefined), undefined);
  });
});
