// Asks and their answers, without the `vscode` module: the arguments sent to the bridge,
// the streamed text per askId, and what a click on a citation opens.

import { randomUUID } from "node:crypto";

import type {
  AnswerChunk,
  AskArguments,
  AskResult,
  BridgeStatus,
  Citation,
  Location,
  Range,
} from "./protocol";

/** JSON-RPC error code of a cancelled request (LSP RequestCancelled). */
export const REQUEST_CANCELLED = -32800;

/** The editor's selection in one document, sent to the bridge as context. */
export interface DocumentSelection {
  uri: string;
  range: Range;
}

export function newAskId(): string {
  return `vscode-${randomUUID()}`;
}

/** `arguments[0]` of `projectqa.ask`; the selection goes along only when it is not empty. */
export function askArguments(
  question: string,
  askId: string,
  selection?: DocumentSelection,
): AskArguments {
  const args: AskArguments = { question: question.trim(), askId };
  if (selection && !isEmptyRange(selection.range)) {
    args.textDocument = { uri: selection.uri };
    args.range = selection.range;
  }
  return args;
}

/** `arguments[0]` of `projectqa.explainSelection` (the bridge supplies the question). */
export function explainArguments(askId: string, selection: DocumentSelection): AskArguments {
  return { textDocument: { uri: selection.uri }, range: selection.range, askId };
}

/** The arguments of an ask started elsewhere (a code lens), given an askId if they lack one. */
export function withAskId(args: unknown, askId: string): AskArguments {
  const given = typeof args === "object" && args !== null ? (args as AskArguments) : {};
  return given.askId ? given : { ...given, askId };
}

export function isEmptyRange(range: Range): boolean {
  return range.start.line === range.end.line && range.start.character === range.end.character;
}

/** The whole of line `line` (`length` characters): what "explain" covers with no selection. */
export function lineRange(line: number, length: number): Range {
  return { start: { line, character: 0 }, end: { line, character: length } };
}

/** The streamed text of every ask in flight, keyed by askId. */
export class AnswerStreams {
  private readonly texts = new Map<string, string>();

  /** Adds a chunk and returns its ask's text so far. */
  append(chunk: AnswerChunk): string {
    const text = (this.texts.get(chunk.askId) ?? "") + chunk.text;
    this.texts.set(chunk.askId, text);
    return text;
  }

  text(askId: string): string {
    return this.texts.get(askId) ?? "";
  }

  /** Drops an ask's text once its result (or error) has arrived. */
  forget(askId: string): void {
    this.texts.delete(askId);
  }
}

/** Whether a notification's params are an answer chunk (the bridge is another process). */
export function isAnswerChunk(params: unknown): params is AnswerChunk {
  const chunk = params as AnswerChunk | null;
  return (
    typeof chunk === "object" &&
    chunk !== null &&
    typeof chunk.askId === "string" &&
    typeof chunk.text === "string"
  );
}

const SOURCES_HEADING = "\n\n**Sources**\n";

/**
 * The answer text to show: the streamed text when there was any, else the result's answer
 * without its Sources list (the view lists the citations itself).
 */
export function answerBody(result: AskResult, streamed: string): string {
  if (streamed.trim()) {
    return streamed;
  }
  const sources = result.answer.lastIndexOf(SOURCES_HEADING);
  return sources >= 0 ? result.answer.slice(0, sources) : result.answer;
}

export type CitationTarget = { location: Location } | { url: string };

/** What the citation at `index` opens: a file location, an external page, or nothing. */
export function citationTarget(citations: Citation[], index: number): CitationTarget | undefined {
  const citation = Number.isInteger(index) ? citations[index] : undefined;
  if (!citation) {
    return undefined;
  }
  if (citation.location) {
    return { location: citation.location };
  }
  const url = externalUrl(citation.url);
  return url ? { url } : undefined;
}

/** `url` when it is safe to hand to the system's browser (http or https), else undefined. */
export function externalUrl(url: string | undefined): string | undefined {
  if (!url) {
    return undefined;
  }
  try {
    const protocol = new URL(url).protocol;
    return protocol === "http:" || protocol === "https:" ? url : undefined;
  } catch {
    return undefined;
  }
}

/** Messages the answer view's script posts to the extension. */
export type ViewMessage = { type: "ready" } | { type: "openCitation"; index: number };

/** A message from the webview, checked: the webview is treated as untrusted input. */
export function parseViewMessage(message: unknown): ViewMessage | undefined {
  const data = message as { type?: unknown; index?: unknown } | null;
  if (typeof data !== "object" || data === null) {
    return undefined;
  }
  if (data.type === "ready") {
    return { type: "ready" };
  }
  if (data.type === "openCitation" && Number.isInteger(data.index)) {
    return { type: "openCitation", index: data.index as number };
  }
  return undefined;
}

/** The `$/progress` value of an ask (begin, report or end) as one line of text. */
export function progressMessage(value: unknown): string | undefined {
  const progress = value as { kind?: string; title?: string; message?: string } | null;
  if (typeof progress !== "object" || progress === null) {
    return undefined;
  }
  return progress.message || (progress.kind === "begin" ? progress.title : undefined);
}

/** Whether a request failed because it was cancelled (JSON-RPC -32800). */
export function isCancellation(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === REQUEST_CANCELLED;
}

/** The error text of a failed request, as the bridge worded it. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `projectqa.status` as a message for the user. */
export function describeStatus(status: BridgeStatus): { connected: boolean; text: string } {
  if (!status.connected) {
    const where = status.address ? ` to ${status.address}` : "";
    return { connected: false, text: `ProjectQA: not connected${where}. ${status.message}`.trim() };
  }
  const project = status.project || "no project";
  const user = status.user ? ` as ${status.user}` : "";
  const note = status.message ? ` ${status.message}` : "";
  const index = status.index?.message ? ` Index: ${status.index.message}.` : "";
  return {
    connected: true,
    text: `ProjectQA: connected to ${status.address}${user}, project ${project}.${note}${index}`,
  };
}

/** The heading of an ask in the answer view: its question, or what it explains. */
export function askTitle(args: AskArguments): string {
  if (args.question?.trim()) {
    return args.question.trim();
  }
  if (args.textDocument && args.range) {
    const name = decodeURIComponent(args.textDocument.uri.split("/").pop() ?? "");
    return `Explain ${name}:${args.range.start.line + 1}-${args.range.end.line + 1}`;
  }
  return "Explain the selection";
}
