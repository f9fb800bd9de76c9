import assert from "node:assert/strict";
import { describe, it } from "node:test";
import vm from "node:vm";

import {
  type AnswerView,
  contentSecurityPolicy,
  escapeHtml,
  newNonce,
  renderAnswerPage,
  stateLabel,
} from "../answerHtml";
import type { Citation } from "../protocol";

const CONTEXT = { nonce: "n0nce", cspSource: "https://webview.example" };

const CITATIONS: Citation[] = [
  {
    label: "shop/cart.py:12-30",
    kind: "file",
    title: "cart.py",
    marker: "[1]",
    verified: true,
    url: "",
    location: {
      uri: "file:///work/shop/shop/cart.py",
      range: { start: { line: 11, character: 0 }, end: { line: 29, character: 0 } },
    },
  },
  {
    label: "#42 <img src=x onerror=alert(1)>",
    kind: "issue",
    title: 'Discounts "ignored"',
    marker: "[2]",
    verified: false,
    url: "https://github.com/acme/shop/issues/42",
  },
  {
    label: "notes",
    kind: "page",
    title: "notes",
    marker: "[3]",
    verified: true,
    url: "javascript:alert(1)",
  },
];

function view(overrides: Partial<AnswerView> = {}): AnswerView {
  return {
    question: "What is the total?",
    text: "",
    state: "streaming",
    citations: [],
    ...overrides,
  };
}

function scriptOf(page: string): string {
  const match = /<script nonce="n0nce">([\s\S]*?)<\/script>/.exec(page);
  assert.ok(match, "the page has one nonce'd script");
  return match[1];
}

describe("escapeHtml", () => {
  it("escapes markup and quotes", () => {
    assert.equal(
      escapeHtml(`<a href="x" title='y'>&</a>`),
      "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;",
    );
  });
});

describe("renderAnswerPage", () => {
  it("has a strict policy: nothing remote, scripts and styles only by nonce", () => {
    const policy = contentSecurityPolicy(CONTEXT);
    assert.match(policy, /^default-src 'none'/);
    assert.match(policy, /script-src 'nonce-n0nce'(;|$)/);
    assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval|\*/);
    const page = renderAnswerPage(view(), CONTEXT);
    assert.ok(page.includes(`content="${escapeHtml(policy)}"`));
    const scripts = page.match(/<script/g) ?? [];
    assert.equal(scripts.length, 1);
    assert.doesNotMatch(page, /<script[^>]*src=/);
  });

  it("escapes the question, the answer and the citations", () => {
    const page = renderAnswerPage(
      view({
        question: "<script>alert(1)</script>",
        text: "Use <b>total()</b> & done",
        state: "completed",
        citations: CITATIONS,
      }),
      CONTEXT,
    );
    assert.ok(page.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert.ok(page.includes("Use &lt;b&gt;total()&lt;/b&gt; &amp; done"));
    assert.ok(page.includes("#42 &lt;img src=x onerror=alert(1)&gt;"));
    assert.ok(page.includes("Discounts &quot;ignored&quot;"));
    assert.doesNotMatch(page, /<img/);
  });

  it("links the citations that can be opened, by index, and marks unverified ones", () => {
    const page = renderAnswerPage(view({ state: "completed", citations: CITATIONS }), CONTEXT);
    assert.ok(page.includes('<a href="#" data-citation="0">shop/cart.py:12-30</a>'));
    assert.ok(page.includes('data-citation="1"'));
    assert.ok(!page.includes('data-citation="2"'), "a javascript: url is not a link");
    assert.doesNotMatch(page, /javascript:/);
    assert.match(page, /<span class="unverified">unverified<\/span><\/li>/);
    assert.ok(page.includes("Answered with 3 sources"));
  });

  it("shows no Sources heading before the answer is complete", () => {
    assert.doesNotMatch(renderAnswerPage(view(), CONTEXT), /Sources/);
  });

  it("words each end of an ask", () => {
    assert.equal(stateLabel(view()), "Answering…");
    assert.equal(stateLabel(view({ detail: "Running grep…" })), "Running grep…");
    assert.equal(
      stateLabel(view({ state: "completed", citations: CITATIONS.slice(0, 1) })),
      "Answered with 1 source",
    );
    assert.equal(stateLabel(view({ state: "cancelled" })), "Cancelled");
    assert.equal(stateLabel(view({ state: "error", detail: "unreachable" })), "Error: unreachable");
    assert.match(stateLabel(view({ state: "clarifying" })), /more detail/);
  });

  it("makes a new random nonce each time", () => {
    assert.match(newNonce(), /^[0-9a-f]{32}$/);
    assert.notEqual(newNonce(), newNonce());
  });
});

describe("the view's script", () => {
  // A minimal DOM: just what the script touches, to check how it talks to the extension.
  class Element {
    textContent = "";
    dataset: Record<string, string> = {};
    constructor(private readonly link = false) {}
    closest(selector: string): Element | null {
      return this.link && selector === "a[data-citation]" ? this : null;
    }
  }

  function load() {
    const posted: unknown[] = [];
    const elements: Record<string, Element> = { answer: new Element(), status: new Element() };
    const listeners: Record<string, (event: unknown) => void> = {};
    const context = {
      Element,
      // A copy, as postMessage sends one (and objects from the script's realm would not
      // deep-equal this realm's).
      acquireVsCodeApi: () => ({
        postMessage: (message: unknown) => posted.push(JSON.parse(JSON.stringify(message))),
      }),
      document: {
        getElementById: (id: string) => elements[id],
        addEventListener: (type: string, listener: (event: unknown) => void) => {
          listeners[`document.${type}`] = listener;
        },
      },
      window: {
        addEventListener: (type: string, listener: (event: unknown) => void) => {
          listeners[`window.${type}`] = listener;
        },
      },
    };
    vm.runInNewContext(scriptOf(renderAnswerPage(view(), CONTEXT)), context);
    return { posted, elements, listeners };
  }

  it("says it is ready, then shows streamed text and progress as plain text", () => {
    const { posted, elements, listeners } = load();
    assert.deepEqual(posted, [{ type: "ready" }]);
    listeners["window.message"]({ data: { type: "text", text: "<b>not bold</b>" } });
    listeners["window.message"]({ data: { type: "status", text: "Running grep…" } });
    listeners["window.message"]({ data: { type: "text", text: 42 } });
    assert.equal(elements.answer.textContent, "<b>not bold</b>");
    assert.equal(elements.status.textContent, "Running grep…");
  });

  it("asks the extension to open a citation by its index", () => {
    const { posted, listeners } = load();
    const link = new Element(true);
    link.dataset.citation = "1";
    let prevented = false;
    listeners["document.click"]({ target: link, preventDefault: () => (prevented = true) });
    listeners["document.click"]({ target: new Element(), preventDefault: () => undefined });
    assert.ok(prevented);
    assert.deepEqual(posted.slice(1), [{ type: "openCitation", index: 1 }]);
  });
});
