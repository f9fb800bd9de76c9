// The answer view's HTML. Everything from the bridge is escaped; the only script is the
// static one below, allowed by its nonce under a Content-Security-Policy that loads
// nothing remote.

import { randomBytes } from "node:crypto";

import { citationTarget } from "./answer";
import type { AnswerStatus, Citation } from "./protocol";

export type ViewState = "streaming" | AnswerStatus | "cancelled" | "error";

/** What the answer view shows for one ask. */
export interface AnswerView {
  question: string;
  text: string;
  state: ViewState;
  /** The progress line while streaming, the error when state is "error". */
  detail?: string;
  citations: Citation[];
}

export interface PageContext {
  nonce: string;
  /** `webview.cspSource`: the origin the webview's own resources come from. */
  cspSource: string;
}

export function newNonce(): string {
  return randomBytes(16).toString("hex");
}

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char]);
}

export function contentSecurityPolicy(context: PageContext): string {
  return [
    "default-src 'none'",
    `style-src ${context.cspSource} 'nonce-${context.nonce}'`,
    `script-src 'nonce-${context.nonce}'`,
    `img-src ${context.cspSource}`,
  ].join("; ");
}

/** The status line of an ask. */
export function stateLabel(view: AnswerView): string {
  switch (view.state) {
    case "streaming":
      return view.detail || "Answering…";
    case "completed": {
      const count = view.citations.length;
      return `Answered with ${count} source${count === 1 ? "" : "s"}`;
    }
    case "clarifying":
      return "ProjectQA needs more detail: answer its question with a new ask";
    case "interrupted":
      return "The answer was interrupted";
    case "failed":
      return "The answer failed";
    case "cancelled":
      return "Cancelled";
    case "error":
      return `Error: ${view.detail ?? "unknown"}`;
  }
}

function citationItem(citation: Citation, index: number, citations: Citation[]): string {
  const label = escapeHtml(citation.label || citation.title || `source ${index + 1}`);
  const link = citationTarget(citations, index)
    ? `<a href="#" data-citation="${index}">${label}</a>`
    : label;
  const marker = citation.marker
    ? `<span class="marker">${escapeHtml(citation.marker)}</span> `
    : "";
  const title =
    citation.title && citation.title !== citation.label
      ? ` <span class="title">${escapeHtml(citation.title)}</span>`
      : "";
  const unverified = citation.verified ? "" : ' <span class="unverified">unverified</span>';
  return `<li>${marker}${link}${title}${unverified}</li>`;
}

function sourcesSection(citations: Citation[]): string {
  if (citations.length === 0) {
    return "";
  }
  const items = citations.map(citationItem).join("\n");
  return `<h2>Sources</h2>\n<ol id="sources">\n${items}\n</ol>`;
}

// Static: no value is interpolated into the script, so nothing from the bridge can run.
const VIEW_SCRIPT = `
const vscode = acquireVsCodeApi();
const answer = document.getElementById("answer");
const status = document.getElementById("status");
window.addEventListener("message", (event) => {
  const message = event.data;
  if (message && message.type === "text" && typeof message.text === "string") {
    answer.textContent = message.text;
  } else if (message && message.type === "status" && typeof message.text === "string") {
    status.textContent = message.text;
  }
});
document.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("a[data-citation]") : null;
  if (link) {
    event.preventDefault();
    vscode.postMessage({ type: "openCitation", index: Number(link.dataset.citation) });
  }
});
vscode.postMessage({ type: "ready" });
`;

const VIEW_STYLE = `
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); }
.question { font-weight: bold; }
#status { color: var(--vscode-descriptionForeground); }
#answer { white-space: pre-wrap; font-family: var(--vscode-editor-font-family); }
.unverified { color: var(--vscode-errorForeground); font-size: smaller; }
.title, .marker { color: var(--vscode-descriptionForeground); }
a { color: var(--vscode-textLink-foreground); }
`;

/** The whole page for one ask; streamed text later arrives as "text" messages. */
export function renderAnswerPage(view: AnswerView, context: PageContext): string {
  const nonce = escapeHtml(context.nonce);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(contentSecurityPolicy(context))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>ProjectQA Answer</title>
<style nonce="${nonce}">${VIEW_STYLE}</style>
</head>
<body>
<p class="question">${escapeHtml(view.question)}</p>
<p id="status">${escapeHtml(stateLabel(view))}</p>
<div id="answer">${escapeHtml(view.text)}</div>
${sourcesSection(view.citations)}
<script nonce="${nonce}">${VIEW_SCRIPT}</script>
</body>
</html>
`;
}
