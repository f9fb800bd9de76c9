// Entry point: registers the editor-facing commands, keeps the token in SecretStorage and
// starts projectqa-lsp when the workspace configures ProjectQA (else on the first command).
// Activation (package.json): the contributed commands (implicit since VS Code 1.74) and
// workspaces with a `.vscode/settings.json`, which are checked for a `projectqa.*` value.

import * as vscode from "vscode";
import { ExecuteCommandRequest } from "vscode-languageclient/node";

import {
  askArguments,
  describeStatus,
  type DocumentSelection,
  errorMessage,
  explainArguments,
  isEmptyRange,
  lineRange,
  newAskId,
} from "./answer";
import { AnswerPanel } from "./answerPanel";
import { AskRunner } from "./asks";
import { Bridge, readSettings } from "./bridge";
import { type BridgeStatus, EditorCommand, LspCommand, type Range } from "./protocol";
import { needsRestart, RESTART_KEYS, workspaceConfiguresProjectQA } from "./settings";
import {
  bridgeToken,
  describeAddress,
  discardedTokenMessage,
  migrateToken,
  type Secrets,
  storeToken,
  tokenSecret,
  userAddress,
  WORKSPACE_TOKEN_WARNING,
} from "./token";

let bridge: Bridge | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const secrets = context.secrets;
  const panel = new AnswerPanel();
  const asks = new AskRunner(panel);
  const started = new Bridge(asks, () => {
    const settings = readSettings();
    return bridgeToken(secrets, settings.address, settings.token);
  });
  bridge = started;
  // Configuration events before the end of activate() are ignored: moving the token out of
  // the user settings fires one, and activate() itself starts the bridge afterwards.
  let activated = false;
  context.subscriptions.push(
    panel,
    started,
    vscode.commands.registerCommand(EditorCommand.ask, () => askQuestion(started, asks)),
    vscode.commands.registerCommand(EditorCommand.explainSelection, () =>
      explainSelection(started, asks),
    ),
    vscode.commands.registerCommand(EditorCommand.showStatus, () => showStatus(started)),
    vscode.commands.registerCommand(EditorCommand.setToken, () => setToken(secrets)),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (activated && needsRestart((key) => event.affectsConfiguration(key))) {
        void (started.started || configuredHere() ? started.restart() : undefined);
      }
    }),
    secrets.onDidChange((event) => {
      // Only the token of the address the bridge talks to matters to it.
      if (activated && event.key === tokenSecret(readSettings().address)) {
        void started.reload();
      }
    }),
  );
  await moveTokenToSecrets(secrets);
  activated = true;
  if (configuredHere()) {
    void started.start();
  }
}

/** Whether this workspace's settings hold a `projectqa.*` value (see settings.ts). */
function configuredHere(): boolean {
  const config = vscode.workspace.getConfiguration("projectqa");
  return workspaceConfiguresProjectQA(RESTART_KEYS.map((key) => config.inspect(key)));
}

/** The one-time move of a plain `projectqa.token` setting into secret storage (token.ts). */
async function moveTokenToSecrets(secrets: Secrets): Promise<void> {
  const config = vscode.workspace.getConfiguration("projectqa");
  const address = userAddress(config.inspect("address"));
  try {
    const migration = await migrateToken(secrets, config.inspect("token"), address, () =>
      config.update("token", undefined, vscode.ConfigurationTarget.Global),
    );
    if (migration.moved) {
      void vscode.window.showInformationMessage(
        `ProjectQA: the token for ${describeAddress(address)} is now kept in VS Code's ` +
          "secret storage (not in a settings file).",
      );
    }
    if (migration.discarded) {
      void vscode.window.showWarningMessage(discardedTokenMessage(address));
    }
    if (migration.inWorkspace) {
      void vscode.window.showWarningMessage(WORKSPACE_TOKEN_WARNING);
    }
  } catch (error) {
    void vscode.window.showErrorMessage(
      `ProjectQA: could not move the token into secret storage: ${errorMessage(error)}`,
    );
  }
}

/** Set Token: the token of the address the bridge talks to now (see token.ts). */
async function setToken(secrets: Secrets): Promise<void> {
  const address = readSettings().address;
  const server = describeAddress(address);
  const scoped = vscode.workspace.getConfiguration("projectqa").inspect("address");
  const fromWorkspace = scoped?.workspaceFolderValue ?? scoped?.workspaceValue;
  const typed = await vscode.window.showInputBox({
    title: "ProjectQA: Set Token",
    prompt:
      `Bearer token for ${server}` +
      (fromWorkspace !== undefined ? " (the address this workspace's settings set)" : "") +
      ", kept in VS Code's secret storage for that address only. Leave empty to remove it.",
    placeHolder: "tok_…",
    password: true,
    ignoreFocusOut: true,
  });
  if (typed === undefined) {
    return; // dismissed
  }
  const outcome = await storeToken(secrets, address, typed);
  void vscode.window.showInformationMessage(
    outcome === "stored"
      ? `ProjectQA: token for ${server} stored in VS Code's secret storage.`
      : `ProjectQA: stored token for ${server} removed.`,
  );
}

export function deactivate(): Thenable<void> | undefined {
  return bridge?.stop();
}

function toRange(selection: vscode.Selection): Range {
  return {
    start: { line: selection.start.line, character: selection.start.character },
    end: { line: selection.end.line, character: selection.end.character },
  };
}

/** The active editor's selection in a file the bridge has open, if any. */
function activeSelection(): DocumentSelection | undefined {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.uri.scheme !== "file") {
    return undefined;
  }
  return { uri: editor.document.uri.toString(), range: toRange(editor.selection) };
}

async function askQuestion(bridge: Bridge, asks: AskRunner): Promise<void> {
  const selection = activeSelection();
  const question = await vscode.window.showInputBox({
    title: "ProjectQA: Ask",
    prompt: selection && !isEmptyRange(selection.range) ? "The selection is sent along" : "",
    placeHolder: "How is the cart total computed?",
    ignoreFocusOut: true,
    validateInput: (value) => (value.trim() ? undefined : "Type a question"),
  });
  const client = question?.trim() ? await bridge.running() : undefined;
  if (client && question) {
    await asks.run(client, LspCommand.ask, askArguments(question, newAskId(), selection));
  }
}

async function explainSelection(bridge: Bridge, asks: AskRunner): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const selection = activeSelection();
  if (!editor || !selection) {
    void vscode.window.showWarningMessage("ProjectQA: open a file and select the code to explain.");
    return;
  }
  if (isEmptyRange(selection.range)) {
    const line = selection.range.start.line;
    selection.range = lineRange(line, editor.document.lineAt(line).text.length);
  }
  const client = await bridge.running();
  if (client) {
    await asks.run(client, LspCommand.explainSelection, explainArguments(newAskId(), selection));
  }
}

async function showStatus(bridge: Bridge): Promise<void> {
  const client = await bridge.running();
  if (!client) {
    return;
  }
  try {
    const params = { command: LspCommand.status, arguments: [] };
    const status = (await client.sendRequest(ExecuteCommandRequest.type, params)) as BridgeStatus;
    const { connected, text } = describeStatus(status);
    if (connected) {
      void vscode.window.showInformationMessage(text);
    } else {
      void vscode.window.showWarningMessage(text);
    }
  } catch (error) {
    void vscode.window.showErrorMessage(`ProjectQA: ${errorMessage(error)}`);
  }
}
