// Entry point: starts projectqa-lsp and registers the editor-facing commands.

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
import { Bridge } from "./bridge";
import { type BridgeStatus, EditorCommand, LspCommand, type Range } from "./protocol";
import { needsRestart } from "./settings";

let bridge: Bridge | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const panel = new AnswerPanel();
  const asks = new AskRunner(panel);
  const started = new Bridge(asks);
  bridge = started;
  context.subscriptions.push(
    panel,
    started,
    vscode.commands.registerCommand(EditorCommand.ask, () => askQuestion(started, asks)),
    vscode.commands.registerCommand(EditorCommand.explainSelection, () =>
      explainSelection(started, asks),
    ),
    vscode.commands.registerCommand(EditorCommand.showStatus, () => showStatus(started)),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (needsRestart((key) => event.affectsConfiguration(key))) {
        void started.restart();
      }
    }),
  );
  void started.start();
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
