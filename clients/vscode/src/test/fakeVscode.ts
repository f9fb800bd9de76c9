// A recording stand-in for the `vscode` module and for vscode-languageclient's
// LanguageClient, so that extension.ts's activate() runs under plain Node. Installed with
// `installFakes()` before extension.js is first required; `fake.reset()` between tests.

import Module from "node:module";

type Listener<T> = (event: T) => void;

/** What one `projectqa.*` setting holds per scope, as `inspect` returns it. */
export interface Scoped {
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

export const ConfigurationTarget = { Global: 1, Workspace: 2, WorkspaceFolder: 3 } as const;

/** A LanguageClient that records how it was made and started; it never spawns anything. */
export class FakeLanguageClient {
  started = false;
  disposed = false;

  constructor(
    readonly id: string,
    readonly name: string,
    readonly server: { command: string },
    readonly options: { initializationOptions: () => Record<string, unknown> },
  ) {
    fake.clients.push(this);
  }

  async start(): Promise<void> {
    this.started = true;
  }

  isRunning(): boolean {
    return this.started && !this.disposed;
  }

  onNotification(): void {}

  async sendRequest(): Promise<unknown> {
    return { connected: true, address: "127.0.0.1:50051", project: "shop", user: "ann" };
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}

class FakeState {
  settings = new Map<string, Scoped>(); // key without the "projectqa." prefix
  updates: { key: string; value: unknown; target: number }[] = [];
  secrets = new Map<string, string>();
  commands = new Map<string, (...args: unknown[]) => unknown>();
  messages: { level: string; text: string }[] = [];
  inputs: (string | undefined)[] = []; // what showInputBox answers, in order
  clients: FakeLanguageClient[] = [];
  secretListeners: Listener<{ key: string }>[] = [];
  configListeners: Listener<{ affectsConfiguration(key: string): boolean }>[] = [];

  reset(): void {
    Object.assign(this, new FakeState());
  }

  /** `context` for activate(): subscriptions and SecretStorage. */
  context() {
    return {
      subscriptions: [] as { dispose(): unknown }[],
      secrets: {
        get: async (key: string) => this.secrets.get(key),
        store: async (key: string, value: string) => {
          this.secrets.set(key, value);
          this.secretListeners.forEach((listener) => listener({ key }));
        },
        delete: async (key: string) => {
          this.secrets.delete(key);
          this.secretListeners.forEach((listener) => listener({ key }));
        },
        onDidChange: (listener: Listener<{ key: string }>) => disposable(this.secretListeners, listener),
      },
    };
  }
}

export const fake = new FakeState();

function disposable<T>(list: T[], item: T): { dispose(): void } {
  list.push(item);
  return { dispose: () => list.splice(list.indexOf(item), 1) };
}

function effective(scoped: Scoped | undefined): unknown {
  return scoped?.workspaceFolderValue ?? scoped?.workspaceValue ?? scoped?.globalValue;
}

function configuration() {
  return {
    get: (key: string) => effective(fake.settings.get(key)),
    inspect: (key: string) => fake.settings.get(key),
    update: async (key: string, value: unknown, target: number) => {
      fake.updates.push({ key, value, target });
      const scope = target === ConfigurationTarget.Global ? "globalValue" : "workspaceValue";
      fake.settings.set(key, { ...fake.settings.get(key), [scope]: value });
      // As VS Code does: the change is announced before update() resolves.
      const full = `projectqa.${key}`;
      const event = {
        affectsConfiguration: (section: string) => section === full || section === "projectqa",
      };
      [...fake.configListeners].forEach((listener) => listener(event));
    },
  };
}

function message(level: string) {
  return async (text: string) => {
    fake.messages.push({ level, text });
    return undefined;
  };
}

const vscode = {
  ConfigurationTarget,
  commands: {
    registerCommand: (id: string, run: (...args: unknown[]) => unknown) => {
      fake.commands.set(id, run);
      return { dispose: () => fake.commands.delete(id) };
    },
    executeCommand: async () => undefined,
  },
  window: {
    showInformationMessage: message("info"),
    showWarningMessage: message("warning"),
    showErrorMessage: message("error"),
    showInputBox: async () => fake.inputs.shift(),
  },
  workspace: {
    getConfiguration: () => configuration(),
    onDidChangeConfiguration: (listener: Listener<{ affectsConfiguration(k: string): boolean }>) =>
      disposable(fake.configListeners, listener),
  },
};

const languageClient = {
  LanguageClient: FakeLanguageClient,
  ExecuteCommandRequest: { type: "workspace/executeCommand" },
  WorkDoneProgress: { type: "$/progress" },
};

/** Makes `require("vscode")` and `require("vscode-languageclient/node")` give the fakes. */
export function installFakes(): void {
  const loader = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const load = loader._load;
  loader._load = function (request: string, ...rest: unknown[]) {
    if (request === "vscode") {
      return vscode;
    }
    if (request === "vscode-languageclient/node") {
      return languageClient;
    }
    return load.call(this, request, ...rest);
  };
}
