import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  AnswerStreams,
  answerBody,
  askArguments,
  askTitle,
  citationTarget,
  describeStatus,
  explainArguments,
  externalUrl,
  isAnswerChunk,
  isCancellation,
  lineRange,
  newAskId,
  parseViewMessage,
  progressMessage,
  withAskId,
} from "../answer";
import type { AskResult, Citation } from "../protocol";

const URI = "file:///work/shop/shop/cart.py";
const SELECTION = {
  uri: URI,
  range: { start: { line: 11, character: 0 }, end: { line: 29, character: 4 } },
};
const CURSOR = {
  uri: URI,
  range: { start: { line: 3, character: 2 }, end: { line: 3, character: 2 } },
};

const FILE_CITATION: Citation = {
  label: "shop/cart.py:12-30",
  kind: "file",
  title: "cart.py",
  marker: "[1]",
  verified: true,
  url: "",
  location: SELECTION,
};
const ISSUE_CITATION: Citation = {
  label: "#42",
  kind: "issue",
  title: "Cart total ignores discounts",
  marker: "[2]",
  verified: true,
  url: "https://github.com/acme/shop/issues/42",
};

function result(answer: string, citations: Citation[] = []): AskResult {
  return { askId: "a1", status: "completed", answer, citations, locations: [] };
}

describe("ask arguments", () => {
  it("sends the question, the askId and a non-empty selection", () => {
    assert.deepEqual(askArguments("  What computes the total? ", "a1", SELECTION), {
      question: "What computes the total?",
      askId: "a1",
      textDocument: { uri: URI },
      range: SELECTION.range,
    });
  });

  it("leaves out an empty selection and a missing editor", () => {
    assert.deepEqual(askArguments("Why?", "a1", CURSOR), { question: "Why?", askId: "a1" });
    assert.deepEqual(askArguments("Why?", "a1"), { question: "Why?", askId: "a1" });
  });

  it("explains a selection without a question of its own", () => {
    assert.deepEqual(explainArguments("a2", SELECTION), {
      textDocument: { uri: URI },
      range: SELECTION.range,
      askId: "a2",
    });
  });

  it("covers the whole line when nothing is selected", () => {
    assert.deepEqual(lineRange(3, 17), {
      start: { line: 3, character: 0 },
      end: { line: 3, character: 17 },
    });
  });

  it("gives code-lens arguments an askId, keeping one they carry", () => {
    const lens = { textDocument: { uri: URI }, range: SELECTION.range };
    assert.deepEqual(withAskId(lens, "new"), { ...lens, askId: "new" });
    assert.deepEqual(withAskId({ ...lens, askId: "old" }, "new").askId, "old");
    assert.deepEqual(withAskId(undefined, "new"), { askId: "new" });
  });

  it("makes distinct askIds", () => {
    assert.notEqual(newAskId(), newAskId());
  });

  it("titles an ask by its question, else by what it explains", () => {
    assert.equal(askTitle({ question: " Why? " }), "Why?");
    assert.equal(askTitle(explainArguments("a", SELECTION)), "Explain cart.py:12-30");
    assert.equal(askTitle({}), "Explain the selection");
  });
});

describe("answer streams", () => {
  it("accumulates chunks in order, per askId", () => {
    const streams = new AnswerStreams();
    assert.equal(streams.append({ askId: "a1", text: "The total " }), "The total ");
    streams.append({ askId: "a2", text: "Other" });
    assert.equal(
      streams.append({ askId: "a1", text: "is summed [1]." }),
      "The total is summed [1].",
    );
    assert.equal(streams.text("a2"), "Other");
    streams.forget("a1");
    assert.equal(streams.text("a1"), "");
  });

  it("accepts only well-formed chunk notifications", () => {
    assert.ok(isAnswerChunk({ askId: "a1", text: "" }));
    assert.ok(!isAnswerChunk({ askId: "a1" }));
    assert.ok(!isAnswerChunk({ askId: 1, text: "x" }));
    assert.ok(!isAnswerChunk(null));
  });

  it("shows the streamed text, else the answer without its Sources list", () => {
    const answer = "Summed in cart.py [1].\n\n**Sources**\n1. [shop/cart.py:12-30](file:///x#L12)";
    assert.equal(answerBody(result(answer), "streamed [1]."), "streamed [1].");
    assert.equal(answerBody(result(answer), ""), "Summed in cart.py [1].");
    assert.equal(answerBody(result("No sources."), " "), "No sources.");
  });
});

describe("citations", () => {
  const citations = [FILE_CITATION, ISSUE_CITATION];

  it("opens a file citation at its location and a record at its url", () => {
    assert.deepEqual(citationTarget(citations, 0), { location: SELECTION });
    assert.deepEqual(citationTarget(citations, 1), { url: ISSUE_CITATION.url });
  });

  it("opens nothing for an unknown index or a citation with neither", () => {
    assert.equal(citationTarget(citations, 2), undefined);
    assert.equal(citationTarget(citations, -1), undefined);
    assert.equal(citationTarget(citations, 0.5), undefined);
    assert.equal(citationTarget([{ ...ISSUE_CITATION, url: "" }], 0), undefined);
  });

  it("hands only http and https urls to the browser", () => {
    assert.equal(
      externalUrl("https://acme.atlassian.net/browse/SHOP-7"),
      "https://acme.atlassian.net/browse/SHOP-7",
    );
    assert.equal(externalUrl("http://wiki.local/page"), "http://wiki.local/page");
    assert.equal(externalUrl("javascript:alert(1)"), undefined);
    assert.equal(externalUrl("file:///etc/passwd"), undefined);
    assert.equal(externalUrl("not a url"), undefined);
    assert.equal(externalUrl(""), undefined);
  });
});

describe("messages", () => {
  it("accepts the view's messages and nothing else", () => {
    assert.deepEqual(parseViewMessage({ type: "ready" }), { type: "ready" });
    assert.deepEqual(parseViewMessage({ type: "openCitation", index: 1 }), {
      type: "openCitation",
      index: 1,
    });
    assert.equal(parseViewMessage({ type: "openCitation", index: "1" }), undefined);
    assert.equal(parseViewMessage({ type: "open", uri: "file:///etc/passwd" }), undefined);
    assert.equal(parseViewMessage("ready"), undefined);
  });

  it("words work-done progress as one line", () => {
    assert.equal(
      progressMessage({ kind: "begin", title: "ProjectQA", message: "Searching shop…" }),
      "Searching shop…",
    );
    assert.equal(progressMessage({ kind: "begin", title: "ProjectQA" }), "ProjectQA");
    assert.equal(progressMessage({ kind: "report", message: "Running grep…" }), "Running grep…");
    assert.equal(progressMessage({ kind: "end" }), undefined);
    assert.equal(progressMessage(null), undefined);
  });

  it("recognises a cancelled request by its JSON-RPC code", () => {
    assert.ok(isCancellation({ code: -32800, message: "" }));
    assert.ok(!isCancellation({ code: -32803, message: "unreachable" }));
    assert.ok(!isCancellation(new Error("boom")));
  });

  it("describes the bridge's status", () => {
    const connected = describeStatus({
      connected: true,
      address: "127.0.0.1:50051",
      project: "shop",
      user: "alice",
      message: "",
    });
    assert.deepEqual(connected, {
      connected: true,
      text: "ProjectQA: connected to 127.0.0.1:50051 as alice, project shop.",
    });
    const filling = describeStatus({
      connected: true,
      address: "127.0.0.1:50051",
      project: "shop",
      user: "alice",
      message: "",
      index: {
        generation: 3,
        chunksIndexed: 4955,
        chunksEmbedded: 2000,
        chunksStored: 4955,
        embedder: "all-MiniLM-L6-v2",
        activeRunId: "run_1",
        denseUnavailable: "",
        keywordUnavailable: "",
        message: "dense index 40 % (2,000 of 4,955 chunks embedded) — results may improve",
      },
    });
    assert.equal(
      filling.text,
      "ProjectQA: connected to 127.0.0.1:50051 as alice, project shop. Index: dense index " +
        "40 % (2,000 of 4,955 chunks embedded) — results may improve.",
    );
    const down = describeStatus({
      connected: false,
      address: "127.0.0.1:50051",
      project: "",
      user: "",
      message: "server is unreachable (UNAVAILABLE)",
    });
    assert.equal(down.connected, false);
    assert.equal(
      down.text,
      "ProjectQA: not connected to 127.0.0.1:50051. server is unreachable (UNAVAILABLE)",
    );
  });
});
