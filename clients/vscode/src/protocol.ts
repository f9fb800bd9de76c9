// The bridge's protocol (docs/EDITORS.md) as TypeScript types, and the command ids.

/** Commands the bridge serves through `workspace/executeCommand`. */
export const LspCommand = {
  ask: "projectqa.ask",
  explainSelection: "projectqa.explainSelection",
  status: "projectqa.status",
} as const;

/**
 * Commands this extension contributes. They must differ from the LSP command ids: the
 * language client registers those itself from the server's executeCommandProvider, and
 * VS Code refuses a second registration of the same id.
 */
export const EditorCommand = {
  ask: "projectqa.askQuestion",
  explainSelection: "projectqa.explainSelectionCommand",
  showStatus: "projectqa.showStatus",
  setToken: "projectqa.setToken",
} as const;

/** The notification carrying each piece of a streamed answer. */
export const ANSWER_CHUNK = "projectqa/answerChunk";

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export interface Location {
  uri: string;
  range: Range;
}

/** `arguments[0]` of `projectqa.ask` and `projectqa.explainSelection`. */
export interface AskArguments {
  question?: string;
  textDocument?: { uri: string };
  range?: Range;
  askId?: string;
  extractive?: boolean;
}

export interface AnswerChunk {
  askId: string;
  text: string;
}

export interface Citation {
  label: string;
  kind: string;
  title: string;
  marker: string;
  verified: boolean;
  url: string;
  location?: Location | null;
}

export type AnswerStatus = "completed" | "clarifying" | "interrupted" | "failed";

/** Where the project's indexing stands, as the server reports it. */
export interface IndexStatus {
  generation: number;
  chunksIndexed: number;
  chunksEmbedded: number;
  chunksStored: number;
  embedder: string;
  activeRunId: string;
  denseUnavailable: string;
  /** Why keyword search is skipped (a tokenizer upgrade's rebuild pending); "" when it is not. */
  keywordUnavailable: string;
  /** What is missing ("dense index 40 % (…) — results may improve"); "" when complete. */
  message: string;
}

/** The result of `projectqa.ask` / `projectqa.explainSelection`. */
export interface AskResult {
  askId: string;
  status: AnswerStatus;
  answer: string;
  citations: Citation[];
  locations: Location[];
  indexStatus?: IndexStatus | null;
}

/** The result of `projectqa.status`. */
export interface BridgeStatus {
  connected: boolean;
  address: string;
  project: string;
  user: string;
  message: string;
  index?: IndexStatus | null;
}
