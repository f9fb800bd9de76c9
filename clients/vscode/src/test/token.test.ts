import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  bridgeToken,
  migrateToken,
  type Secrets,
  storeToken,
  TOKEN_SECRET,
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

describe("migrateToken", () => {
  it("moves a token from the user settings into secret storage and clears the setting", async () => {
    const secrets = new FakeSecrets();
    const settings = userSettings(" tok_1.old ");
    const migration = await migrateToken(secrets, settings.inspect(), settings.clear);
    assert.deepEqual(migration, { moved: true, cleared: true, inWorkspace: false });
    assert.equal(secrets.values.get(TOKEN_SECRET), "tok_1.old");
    assert.equal(settings.file.token, undefined);
  });

  it("happens once: a second activation finds nothing to move", async () => {
    const secrets = new FakeSecrets();
    const settings = userSettings("tok_1.old");
    await migrateToken(secrets, settings.inspect(), settings.clear);
    const again = await migrateToken(secrets, settings.inspect(), settings.clear);
    assert.deepEqual(again, { moved: false, cleared: false, inWorkspace: false });
    assert.deepEqual(secrets.calls, [`store ${TOKEN_SECRET}`]);
  });

  it("keeps a token set with Set Token, and still clears the plain one", async () => {
    const secrets = new FakeSecrets();
    secrets.values.set(TOKEN_SECRET, "tok_2.new");
    const settings = userSettings("tok_1.old");
    const migration = await migrateToken(secrets, settings.inspect(), settings.clear);
    assert.deepEqual(migration, { moved: false, cleared: true, inWorkspace: false });
    assert.equal(secrets.values.get(TOKEN_SECRET), "tok_2.new");
    assert.equal(settings.file.token, undefined);
  });

  it("never adopts a workspace's token, and reports it to warn about", async () => {
    const secrets = new FakeSecrets();
    let cleared = false;
    const migration = await migrateToken(
      secrets,
      { workspaceValue: "tok_3.from-the-repo" },
      async () => {
        cleared = true;
      },
    );
    assert.deepEqual(migration, { moved: false, cleared: false, inWorkspace: true });
    assert.equal(secrets.values.size, 0);
    assert.ok(!cleared);
    assert.match(WORKSPACE_TOKEN_WARNING, /ProjectQA: Set Token/);
  });

  it("does nothing without a token anywhere", async () => {
    const secrets = new FakeSecrets();
    const migration = await migrateToken(secrets, { globalValue: "" }, async () => {
      throw new Error("nothing to clear");
    });
    assert.deepEqual(migration, { moved: false, cleared: false, inWorkspace: false });
    assert.deepEqual(secrets.calls, []);
  });
});

describe("storeToken", () => {
  it("stores the typed token trimmed, and removes it when left empty", async () => {
    const secrets = new FakeSecrets();
    assert.equal(await storeToken(secrets, "  tok_4.typed\n"), "stored");
    assert.equal(secrets.values.get(TOKEN_SECRET), "tok_4.typed");
    assert.equal(await storeToken(secrets, "   "), "removed");
    assert.equal(secrets.values.has(TOKEN_SECRET), false);
  });
});

describe("bridgeToken", () => {
  it("prefers the stored secret, then a workspace's plain setting, else none", async () => {
    const secrets = new FakeSecrets();
    assert.equal(await bridgeToken(secrets, undefined), undefined);
    assert.equal(await bridgeToken(secrets, " tok_5.plain "), "tok_5.plain");
    secrets.values.set(TOKEN_SECRET, "tok_6.secret");
    assert.equal(await bridgeToken(secrets, "tok_5.plain"), "tok_6.secret");
  });
});
