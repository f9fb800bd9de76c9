#!/usr/bin/env node
// Searches a ProjectQA project, then streams a cited answer to the same question.
//
//   node examples/search-and-ask.js --project shop "how is the discount applied?"
//
// The address and token come from --address/--token, else PROJECTQA_ADDRESS /
// PROJECTQA_TOKEN. With --json every hit and every chat event is printed as one
// JSON object per line. Exit status: 0 answered, 1 the call or the turn failed,
// 2 bad usage, 130 interrupted (Ctrl-C cancels the call).

import { parseArgs } from "node:util";

import { connect, DEFAULT_ADDRESS, ProjectQAError } from "../projectqa.js";

const USAGE = `usage: node examples/search-and-ask.js --project SLUG [options] "question"

options:
  --project SLUG      project id or slug (env PROJECTQA_PROJECT)
  --address HOST:PORT server address (env PROJECTQA_ADDRESS, default ${DEFAULT_ADDRESS})
  --token TOKEN       bearer token (env PROJECTQA_TOKEN)
  --tls-ca FILE       PEM of the CA that signed the server's certificate (enables TLS)
  --top-k N           search hits to show (default 5)
  --mode MODE         hybrid, dense or keyword (default hybrid)
  --extractive        answer with cited passages even when an LLM is configured
  --json              one JSON object per line: the hits, then the chat events
  -h, --help          show this help`;

const MODES = ["hybrid", "dense", "keyword"];

class UsageError extends Error {}

function parseCommandLine(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      project: { type: "string", default: process.env.PROJECTQA_PROJECT },
      address: { type: "string", default: process.env.PROJECTQA_ADDRESS || DEFAULT_ADDRESS },
      token: { type: "string", default: process.env.PROJECTQA_TOKEN },
      "tls-ca": { type: "string" },
      "top-k": { type: "string", default: "5" },
      mode: { type: "string", default: "hybrid" },
      extractive: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return { help: true };
  const question = positionals.join(" ").trim();
  if (!values.project) throw new UsageError("--project is required");
  if (!values.token) throw new UsageError("--token or PROJECTQA_TOKEN is required");
  if (!question) throw new UsageError("the question is missing");
  const topK = Number.parseInt(values["top-k"], 10);
  if (!(topK >= 1 && topK <= 100)) throw new UsageError("--top-k must be between 1 and 100");
  if (!MODES.includes(values.mode)) throw new UsageError(`--mode must be ${MODES.join(", ")}`);
  return { ...values, topK, question };
}

/** Prints hits and events for people: a ranked list, the answer as it streams, sources. */
class TextPrinter {
  sources = [];

  hits(hits, question) {
    console.log(`Search hits for ${JSON.stringify(question)}:`);
    hits.forEach((hit, index) => {
      const symbol = hit.symbol ? `  ${hit.symbol}` : "";
      console.log(`  ${index + 1}. ${hit.label}  (score ${hit.score.toFixed(4)})${symbol}`);
      const firstLine = hit.text.split("\n").find((line) => line.trim()) ?? "";
      console.log(`       ${firstLine.trim().slice(0, 100)}`);
    });
    if (hits.length === 0) console.log("  (no hits)");
    console.log("\nAnswer:");
  }

  event(event) {
    if (event.type === "answer_delta") process.stdout.write(event.text);
    else if (event.type === "citation") this.sources.push(event);
    else if (event.type === "done") this.#printSources();
  }

  #printSources() {
    process.stdout.write("\n");
    if (this.sources.length === 0) return;
    console.log("\nSources:");
    for (const source of this.sources) {
      const marker = source.marker ? `[${source.marker}] ` : "";
      const unverified = source.verified ? "" : "  (unverified)";
      console.log(`  ${marker}${source.label}${unverified}`);
    }
  }
}

/** Prints one JSON object per line: {"type":"hit",…} for each hit, then each event. */
class JsonPrinter {
  hits(hits) {
    hits.forEach((hit, index) => {
      const { citation, ...fields } = hit;
      console.log(JSON.stringify({ type: "hit", rank: index + 1, ...fields, citation }));
    });
  }

  event(event) {
    console.log(JSON.stringify(event));
  }
}

async function run(options, signal) {
  const { address, token, project, question, topK, mode, extractive } = options;
  const qa = connect({ address, token, tlsCaFile: options["tls-ca"] });
  const printer = options.json ? new JsonPrinter() : new TextPrinter();
  try {
    const hits = await qa.search(project, question, { topK, mode, signal });
    printer.hits(hits, question);
    for await (const event of qa.ask(project, question, { extractive, signal })) {
      printer.event(event);
      if (event.type === "error") {
        console.error(`error: the answer failed (${event.reason}): ${event.message}`);
        return 1;
      }
    }
    return 0;
  } finally {
    qa.close();
  }
}

async function main() {
  let options;
  try {
    options = parseCommandLine(process.argv.slice(2));
  } catch (error) {
    console.error(`error: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const interrupt = new AbortController();
  process.once("SIGINT", () => interrupt.abort());
  try {
    return await run(options, interrupt.signal);
  } catch (error) {
    if (interrupt.signal.aborted) {
      console.error("\ninterrupted: the call was cancelled");
      return 130;
    }
    if (error instanceof ProjectQAError) {
      console.error(`error: ${error.codeName}: ${error.details}`);
      return 1;
    }
    throw error;
  }
}

process.exitCode = await main();
