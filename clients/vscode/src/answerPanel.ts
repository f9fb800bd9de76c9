// "ProjectQA Answer": one webview panel showing the latest ask as it streams, then its
// citations as links that open the cited lines (or the record's page).

import * as vscode from "vscode";

import { answerBody, citationTarget, parseViewMessage } from "./answer";
import { type AnswerView, newNonce, renderAnswerPage } from "./answerHtml";
import type { AskResult, Location } from "./protocol";

export class AnswerPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private askId: string | undefined;
  private view: AnswerView | undefined;

  /** Opens (or reuses) the panel for a new ask. */
  show(askId: string, question: string): void {
    this.askId = askId;
    this.view = { question, text: "", state: "streaming", citations: [] };
    this.ensurePanel().reveal(undefined, true);
    this.render();
  }

  /** The ask's streamed text so far. Chunks of an ask no longer shown are ignored. */
  update(askId: string, text: string): void {
    if (this.view && askId === this.askId) {
      this.view.text = text;
      void this.panel?.webview.postMessage({ type: "text", text });
    }
  }

  progress(askId: string, message: string): void {
    if (this.view && askId === this.askId && this.view.state === "streaming") {
      this.view.detail = message;
      void this.panel?.webview.postMessage({ type: "status", text: message });
    }
  }

  finish(askId: string, result: AskResult, streamed: string): void {
    if (this.view && askId === this.askId) {
      this.view.text = answerBody(result, streamed);
      this.view.state = result.status;
      this.view.detail = undefined;
      this.view.citations = result.citations ?? [];
      this.render();
    }
  }

  fail(askId: string, state: "cancelled" | "error", detail?: string): void {
    if (this.view && askId === this.askId) {
      this.view.state = state;
      this.view.detail = detail;
      this.render();
    }
  }

  dispose(): void {
    this.panel?.dispose();
  }

  private ensurePanel(): vscode.WebviewPanel {
    if (this.panel) {
      return this.panel;
    }
    const panel = vscode.window.createWebviewPanel(
      "projectqa.answer",
      "ProjectQA Answer",
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { enableScripts: true, localResourceRoots: [], retainContextWhenHidden: true },
    );
    panel.webview.onDidReceiveMessage((message) => this.onMessage(message));
    panel.onDidDispose(() => {
      this.panel = undefined;
    });
    this.panel = panel;
    return panel;
  }

  private render(): void {
    if (this.panel && this.view) {
      const context = { nonce: newNonce(), cspSource: this.panel.webview.cspSource };
      this.panel.webview.html = renderAnswerPage(this.view, context);
    }
  }

  private onMessage(raw: unknown): void {
    const message = parseViewMessage(raw);
    if (message?.type === "ready" && this.view?.text) {
      // Text streamed while the page was loading would otherwise be missing.
      void this.panel?.webview.postMessage({ type: "text", text: this.view.text });
    } else if (message?.type === "openCitation" && this.view) {
      const target = citationTarget(this.view.citations, message.index);
      if (target && "location" in target) {
        void openLocation(target.location);
      } else if (target) {
        void vscode.env.openExternal(vscode.Uri.parse(target.url, true));
      }
    }
  }
}

async function openLocation(location: Location): Promise<void> {
  const { start, end } = location.range;
  const selection = new vscode.Range(start.line, start.character, end.line, end.character);
  try {
    await vscode.window.showTextDocument(vscode.Uri.parse(location.uri, true), {
      selection,
      viewColumn: vscode.ViewColumn.One,
      preview: true,
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    void vscode.window.showErrorMessage(`ProjectQA: cannot open ${location.uri}: ${reason}`);
  }
}
