// A small Node.js client of the ProjectQA gRPC server: ranked, cited search hits
// and streamed answers. The repository's .proto files are loaded at run time
// (no generated code), so this client always speaks the server's current API.
//
//   import { connect } from "@projectqa/client-example";
//   const qa = connect({ address: "127.0.0.1:50051", token: process.env.PROJECTQA_TOKEN });
//   const hits = await qa.search("shop", "how is the discount applied?", { topK: 5 });
//   for await (const event of qa.ask("shop", "how is the discount applied?")) { ... }
//   qa.close();

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

/** The repository's protos/ folder: the include directory of `projectqa/v1/*.proto`. */
export const DEFAULT_PROTOS_DIR = fileURLToPath(new URL("../../protos/", import.meta.url));

export const DEFAULT_ADDRESS = "127.0.0.1:50051";

const PROTO_FILES = ["projectqa/v1/retrieval.proto", "projectqa/v1/chat.proto"];

const SEARCH_MODES = {
  hybrid: "SEARCH_MODE_HYBRID",
  dense: "SEARCH_MODE_DENSE",
  keyword: "SEARCH_MODE_KEYWORD",
};

const STATUS_NAMES = Object.fromEntries(
  Object.entries(grpc.status).map(([name, code]) => [code, name]),
);

/**
 * A failed call. `codeName` is the gRPC status name ("UNAUTHENTICATED",
 * "NOT_FOUND", …), `code` its number, `details` the server's message.
 */
export class ProjectQAError extends Error {
  constructor(code, details, options) {
    const codeName = STATUS_NAMES[code] ?? "UNKNOWN";
    super(`${codeName}: ${details || "(the server gave no details)"}`, options);
    this.name = "ProjectQAError";
    this.code = code;
    this.codeName = codeName;
    this.details = details ?? "";
  }

  /** The error of a failed grpc-js call (a ServiceError or any other Error). */
  static from(error) {
    if (error instanceof ProjectQAError) return error;
    const code = typeof error?.code === "number" ? error.code : grpc.status.UNKNOWN;
    return new ProjectQAError(code, error?.details ?? error?.message, { cause: error });
  }
}

const loaded = new Map();

/** The RetrievalService and ChatService constructors, loaded once per protos folder. */
export function loadServices(protosDir = DEFAULT_PROTOS_DIR) {
  if (!loaded.has(protosDir)) {
    const definition = protoLoader.loadSync(PROTO_FILES, {
      includeDirs: [protosDir],
      keepCase: false, // fields in camelCase, as JavaScript spells them
      enums: String, // enum values by name ("TURN_STATUS_COMPLETE")
      longs: String, // int64 without precision loss
      defaults: true, // proto3 leaves defaults off the wire; fill them in
      oneofs: true, // ChatEvent.event names the set member
    });
    const v1 = grpc.loadPackageDefinition(definition).projectqa.v1;
    loaded.set(protosDir, { RetrievalService: v1.RetrievalService, ChatService: v1.ChatService });
  }
  return loaded.get(protosDir);
}

function channelCredentials({ tls, tlsCaFile }) {
  if (tlsCaFile) return grpc.credentials.createSsl(readFileSync(tlsCaFile));
  return tls ? grpc.credentials.createSsl() : grpc.credentials.createInsecure();
}

/**
 * Opens a client (the channel connects lazily, on the first call).
 *
 * @param {object} options
 * @param {string} [options.address] host:port, default 127.0.0.1:50051
 * @param {string} options.token bearer token, sent as `authorization: Bearer <token>`
 * @param {string} [options.tlsCaFile] PEM file of the CA that signed the server's certificate
 * @param {boolean} [options.tls] TLS with the system's CAs (implied by tlsCaFile)
 * @param {string} [options.protosDir] include directory of the .proto files
 * @returns {ProjectQAClient}
 */
export function connect({ address = DEFAULT_ADDRESS, token, tlsCaFile, tls, protosDir } = {}) {
  if (!token) throw new TypeError("connect() needs a token (a ProjectQA bearer token)");
  const { RetrievalService, ChatService } = loadServices(protosDir);
  const credentials = channelCredentials({ tls, tlsCaFile });
  const retrieval = new RetrievalService(address, credentials);
  // Both services share one channel (one connection to the server).
  const chat = new ChatService(address, credentials, { channelOverride: retrieval.getChannel() });
  return new ProjectQAClient(retrieval, chat, token);
}

function searchMode(mode) {
  if (!mode) return "SEARCH_MODE_HYBRID";
  const name = SEARCH_MODES[mode] ?? mode;
  if (!Object.values(SEARCH_MODES).includes(name)) {
    throw new TypeError(`mode must be one of ${Object.keys(SEARCH_MODES).join(", ")}, not ${mode}`);
  }
  return name;
}

function callOptions(timeoutMs) {
  return timeoutMs ? { deadline: new Date(Date.now() + timeoutMs) } : {};
}

/** A search hit, flattened: citation label, path, lines, score and the passage's text. */
function hitOf(hit) {
  const { citation } = hit;
  return {
    label: citation.label,
    path: citation.path,
    startLine: citation.startLine,
    endLine: citation.endLine,
    score: hit.score,
    text: hit.snippet,
    truncated: hit.snippetTruncated,
    symbol: hit.symbol,
    symbolKind: hit.symbolKind,
    language: hit.language,
    chunkId: hit.chunkId,
    citation,
  };
}

/**
 * A ChatEvent as `{ type, sequence, ...fields }`; `type` is the proto's name of
 * the event ("turn_started", "answer_delta", "citation", "done", "error", …).
 */
function eventOf(raw) {
  const member = raw.event; // camelCase name of the set oneof member
  const type = member.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
  const payload = raw[member];
  if (type === "citation") {
    const { citation, verified, marker } = payload;
    return {
      type,
      sequence: raw.sequence,
      label: citation.label,
      path: citation.path,
      startLine: citation.startLine,
      endLine: citation.endLine,
      verified,
      marker,
      citation,
    };
  }
  return { type, sequence: raw.sequence, ...payload };
}

/**
 * The events of one streamed turn, as an async iterator. Leaving a `for await`
 * loop early, calling `return()` or `cancel()`, or aborting the AbortSignal
 * given to `ask` cancels the gRPC call (the server stores the turn as
 * interrupted). A failed call rejects with a ProjectQAError; an aborted one
 * with the signal's reason.
 */
export class ChatEventStream {
  #call;
  #events;
  #cancelled = false;
  #failure = null;

  constructor(call, signal) {
    this.#call = call;
    // Listening at once: a call failing before anyone iterates ends the
    // stream first and then emits 'error', which would otherwise be lost
    // (or, with no listener at all, crash the process).
    call.on("error", (error) => {
      this.#failure ??= error;
    });
    this.#events = this.#read(signal);
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  next() {
    return this.#events.next();
  }

  return(value) {
    this.cancel();
    return this.#events.return(value);
  }

  throw(error) {
    this.cancel();
    return this.#events.throw(error);
  }

  /** Cancels the call; the iteration ends without an error. */
  cancel() {
    this.#cancelled = true;
    this.#call.cancel();
  }

  async *#read(signal) {
    const abort = () => this.#call.cancel();
    signal?.addEventListener("abort", abort, { once: true });
    try {
      try {
        for await (const raw of this.#call) yield eventOf(raw);
      } catch (error) {
        this.#failure ??= error;
      }
      if (signal?.aborted) throw signal.reason;
      if (this.#failure && !(this.#cancelled && this.#failure.code === grpc.status.CANCELLED)) {
        throw ProjectQAError.from(this.#failure);
      }
    } finally {
      signal?.removeEventListener("abort", abort);
      this.#call.cancel(); // a no-op once the call has ended
    }
  }
}

/** The RetrievalService and ChatService calls of one connection. */
export class ProjectQAClient {
  #retrieval;
  #chat;
  #token;

  constructor(retrieval, chat, token) {
    this.#retrieval = retrieval;
    this.#chat = chat;
    this.#token = token;
  }

  #metadata() {
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${this.#token}`);
    return metadata;
  }

  /**
   * The passages of `project` (id or slug) that answer `query`, best first.
   *
   * @param {object} [options]
   * @param {number} [options.topK] hits to return, 1-100; 0 means the server's default (10)
   * @param {"hybrid"|"dense"|"keyword"} [options.mode] rankers to use, default hybrid
   * @param {number} [options.maxPerDocument] most hits of one document; 0 means 3
   * @param {object} [options.filter] restrictions: kinds, connectors, pathGlobs, languages
   *   (string arrays; values of one field are alternatives, fields combine with AND)
   * @param {AbortSignal} [options.signal] cancels the call
   * @param {number} [options.timeoutMs] deadline of the call
   * @returns {Promise<object[]>} hits: {label, path, startLine, endLine, score, text, symbol, …}
   */
  async search(project, query, options = {}) {
    const { topK = 0, mode, maxPerDocument = 0, filter, signal, timeoutMs } = options;
    const request = {
      project,
      query,
      mode: searchMode(mode),
      topK,
      maxPerDocument,
      filter: filter ?? {},
    };
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const abort = () => call.cancel();
      const call = this.#retrieval.Search(
        request,
        this.#metadata(),
        callOptions(timeoutMs),
        (error, response) => {
          signal?.removeEventListener("abort", abort);
          if (signal?.aborted) reject(signal.reason);
          else if (error) reject(ProjectQAError.from(error));
          else resolve(response.hits.map(hitOf));
        },
      );
      signal?.addEventListener("abort", abort, { once: true });
    });
  }

  /**
   * Answers one question about `project`, streamed: turn_started, answer_delta
   * (text to append), citation (label, path, lines), … and a final done or error.
   *
   * @param {object} [options]
   * @param {boolean} [options.extractive] answer with cited passages even when an LLM is configured
   * @param {string} [options.llmProfileId] LLM profile to use; empty lets the server choose
   * @param {AbortSignal} [options.signal] cancels the call
   * @param {number} [options.timeoutMs] deadline of the call
   * @returns {ChatEventStream}
   */
  ask(project, question, { extractive = false, llmProfileId = "", signal, timeoutMs } = {}) {
    const request = { project, question, extractive, llmProfileId };
    const call = this.#chat.Ask(request, this.#metadata(), callOptions(timeoutMs));
    if (signal?.aborted) call.cancel();
    return new ChatEventStream(call, signal);
  }

  /** Closes the connection; calls still running are cancelled. */
  close() {
    this.#retrieval.close();
  }
}
