// Running one ask: the request, its cancellable progress notification, and the answer view.

import * as vscode from "vscode";
import {
  ExecuteCommandRequest,
  type LanguageClient,
  WorkDoneProgress,
} from "vscode-languageclient/node";

import {
  AnswerStreams,
  askTitle,
  errorMessage,
  isAnswerChunk,
  isCancellation,
  progressMessage,
} from "./answer";
import type { AnswerPanel } from "./answerPanel";
import type { AskArguments, AskResult } from "./protocol";

export class AskRunner {
  private readonly streams = new AnswerStreams();

  constructor(private readonly panel: AnswerPanel) {}

  /** The `projectqa/answerChunk` handler: streams the text into the view. */
  onAnswerChunk(params: unknown): void {
    if (isAnswerChunk(params)) {
      this.panel.update(params.askId, this.streams.append(params));
    }
  }

  /**
   * Sends `command` (projectqa.ask or projectqa.explainSelection) with `args`, which carry
   * an askId. Resolves to the result, or undefined when cancelled or failed (the user has
   * been told).
   */
  run(
    client: LanguageClient,
    command: string,
    args: AskArguments,
  ): Thenable<AskResult | undefined> {
    const askId = args.askId as string;
    this.panel.show(askId, askTitle(args));
    const options = {
      location: vscode.ProgressLocation.Notification,
      title: "ProjectQA",
      cancellable: true,
    };
    return vscode.window.withProgress(options, (progress, token) =>
      this.send(client, command, args, progress, token),
    );
  }

  private async send(
    client: LanguageClient,
    command: string,
    args: AskArguments,
    progress: vscode.Progress<{ message?: string }>,
    token: vscode.CancellationToken,
  ): Promise<AskResult | undefined> {
    const askId = args.askId as string;
    const workDoneToken = `projectqa-${askId}`;
    const progressHandler = client.onProgress(WorkDoneProgress.type, workDoneToken, (value) => {
      const message = progressMessage(value);
      if (message) {
        progress.report({ message });
        this.panel.progress(askId, message);
      }
    });
    try {
      const params = { command, arguments: [args], workDoneToken };
      const result = (await client.sendRequest(
        ExecuteCommandRequest.type,
        params,
        token,
      )) as AskResult;
      this.panel.finish(askId, result, this.streams.text(askId));
      return result;
    } catch (error) {
      this.reportFailure(askId, error, token.isCancellationRequested);
      return undefined;
    } finally {
      progressHandler.dispose();
      this.streams.forget(askId);
    }
  }

  private reportFailure(askId: string, error: unknown, cancelled: boolean): void {
    if (cancelled || isCancellation(error)) {
      this.panel.fail(askId, "cancelled");
      return;
    }
    const message = errorMessage(error);
    this.panel.fail(askId, "error", message);
    void vscode.window.showErrorMessage(`ProjectQA: ${message}`);
  }
}
