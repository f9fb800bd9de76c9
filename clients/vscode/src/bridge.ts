// The `projectqa-lsp` child process behind a LanguageClient: started when the workspace
// configures ProjectQA or on the first command, restarted on a settings or token change.

import * as vscode from "vscode";
import {
  type Executable,
  LanguageClient,
  type LanguageClientOptions,
} from "vscode-languageclient/node";

import { newAskId, withAskId } from "./answer";
import type { AskRunner } from "./asks";
import { ANSWER_CHUNK, LspCommand } from "./protocol";
import {
  initializationOptions,
  type ProjectQASettings,
  serverCommand,
  startFailureMessage,
} from "./settings";

const ASK_COMMANDS: ReadonlySet<string> = new Set([LspCommand.ask, LspCommand.explainSelection]);

export function readSettings(): ProjectQASettings {
  const config = vscode.workspace.getConfiguration("projectqa");
  return {
    serverPath: config.get<string>("serverPath"),
    address: config.get<string>("address"),
    token: config.get<string>("token"),
    project: config.get<string>("project"),
    codeLens: config.get<boolean>("codeLens"),
    extractive: config.get<boolean>("extractive"),
  };
}

/** The token the bridge is started with (secret storage; see token.ts). */
export type TokenSource = () => Promise<string | undefined>;

/** One start of the bridge: its client once made (also when it failed to start). */
interface Launch {
  client?: LanguageClient;
}

export class Bridge implements vscode.Disposable {
  private starting: Promise<LanguageClient | undefined> | undefined; // undefined: not started
  private launch: Launch | undefined; // the start `starting` belongs to
  private failure: string | undefined;

  constructor(
    private readonly asks: AskRunner,
    private readonly token: TokenSource,
  ) {}

  /** Whether the bridge was started (and not stopped since). */
  get started(): boolean {
    return this.starting !== undefined;
  }

  /** Starts the bridge, unless it is started or starting already (then that start: two
   * callers at once get one client); a failure is shown once and remembered for the
   * commands. */
  start(): Promise<LanguageClient | undefined> {
    if (!this.starting) {
      this.launch = {};
      this.starting = this.launchInto(this.launch);
    }
    return this.starting;
  }

  private async launchInto(launch: Launch): Promise<LanguageClient | undefined> {
    const settings = readSettings();
    const command = serverCommand(settings);
    const client = this.createClient(command, await this.token());
    launch.client = client;
    this.failure = undefined;
    try {
      await client.start();
      return client;
    } catch (error) {
      this.failure = startFailureMessage(command, error);
      void this.showFailure();
      return undefined;
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Restarts a started bridge (it reads settings and token when it starts); else nothing. */
  async reload(): Promise<void> {
    if (this.started) {
      await this.restart();
    }
  }

  async stop(): Promise<void> {
    const starting = this.starting;
    const launch = this.launch;
    this.starting = undefined;
    this.launch = undefined;
    // A start under way makes its client first. That very client is disposed, never one of
    // a start begun meanwhile.
    await starting;
    try {
      await launch?.client?.dispose();
    } catch {
      // A client that never started cannot stop cleanly; there is nothing left to stop.
    }
  }

  /** The running client (started now if need be), or undefined after telling the user why
   * there is none. */
  async running(): Promise<LanguageClient | undefined> {
    const client = await (this.starting ?? this.start());
    if (client?.isRunning()) {
      return client;
    }
    await this.showFailure();
    return undefined;
  }

  dispose(): void {
    void this.stop();
  }

  private async showFailure(): Promise<void> {
    const message = this.failure ?? "ProjectQA: the language server is not running.";
    const choice = await vscode.window.showErrorMessage(message, "Open Settings", "Restart");
    if (choice === "Open Settings") {
      await vscode.commands.executeCommand("workbench.action.openSettings", "projectqa");
    } else if (choice === "Restart") {
      await this.restart();
    }
  }

  private createClient(command: string, token: string | undefined): LanguageClient {
    // No `transport`: with TransportKind.stdio the client would append `--stdio`, which
    // projectqa-lsp does not take; stdio is its default.
    const server: Executable = { command };
    const options: LanguageClientOptions = {
      documentSelector: [{ scheme: "file" }],
      initializationOptions: () => initializationOptions(readSettings(), token),
      synchronize: { configurationSection: "projectqa" },
      middleware: {
        // Code lenses run projectqa.explainSelection through the client's own command;
        // route it through the answer view so its result is shown like any other ask.
        executeCommand: (name, args, next) =>
          ASK_COMMANDS.has(name)
            ? this.asks.run(client, name, withAskId(args[0], newAskId()))
            : next(name, args),
      },
    };
    const client = new LanguageClient("projectqa", "ProjectQA", server, options);
    client.onNotification(ANSWER_CHUNK, (params: unknown) => this.asks.onAnswerChunk(params));
    return client;
  }
}
