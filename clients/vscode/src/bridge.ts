// The `projectqa-lsp` child process behind a LanguageClient: start, restart, stop.

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

export class Bridge implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<LanguageClient | undefined> = Promise.resolve(undefined);
  private failure: string | undefined;

  constructor(private readonly asks: AskRunner) {}

  /** Starts the bridge; a failure is shown once and remembered for the commands. */
  start(): Promise<LanguageClient | undefined> {
    const command = serverCommand(readSettings());
    const client = this.createClient(command);
    this.client = client;
    this.failure = undefined;
    this.starting = client.start().then(
      () => client,
      (error: unknown) => {
        this.failure = startFailureMessage(command, error);
        void this.showFailure();
        return undefined;
      },
    );
    return this.starting;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.starting = Promise.resolve(undefined);
    try {
      await client?.dispose();
    } catch {
      // A client that never started cannot stop cleanly; there is nothing left to stop.
    }
  }

  /** The running client, or undefined after telling the user why there is none. */
  async running(): Promise<LanguageClient | undefined> {
    const client = await this.starting;
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

  private createClient(command: string): LanguageClient {
    // No `transport`: with TransportKind.stdio the client would append `--stdio`, which
    // projectqa-lsp does not take; stdio is its default.
    const server: Executable = { command };
    const options: LanguageClientOptions = {
      documentSelector: [{ scheme: "file" }],
      initializationOptions: () => initializationOptions(readSettings()),
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
