"""Evidence a long question carries (issue 16): frames of several languages, paths, code
blocks, bounded work; and whether a question asks for tests or docs."""

from __future__ import annotations

import pytest

from projectqa.server.retrieval.evidence import MAX_NAMES, MAX_WORD_CHARS, Mention, evidence_of

PYTHON = """\
Traceback (most recent call last):
  File "/srv/app/.venv/lib/python3.12/site-packages/flask/app.py", line 1511, in wsgi_app
    response = self.full_dispatch_request()
ValueError: bad
"""
JAVASCRIPT = """\
TypeError: Cannot read properties of undefined (reading 'id')
    at getUser (/app/src/users/service.ts:42:17)
    at async Router.handle (node_modules/express/lib/router/index.js:284:7)
    at /app/src/server.js:10:5
"""
GO = """\
panic: runtime error: invalid memory address or nil pointer dereference

goroutine 1 [running]:
github.com/acme/shop/cart.(*Cart).Total(0x0)
\t/home/ann/go/src/github.com/acme/shop/cart/cart.go:57 +0x1d
main.main()
\t/home/ann/shop/main.go:12 +0x25
"""
JAVA = """\
Exception in thread "main" java.lang.NullPointerException
\tat com.acme.shop.Cart$Item.total(Cart.java:57)
\tat com.acme.shop.Main.main(Main.java:12)
"""


@pytest.mark.parametrize(
    ("trace", "mentions", "names"),
    [
        (
            PYTHON,
            [Mention("/srv/app/.venv/lib/python3.12/site-packages/flask/app.py", 1511)],
            ["wsgi_app"],
        ),
        (
            JAVASCRIPT,
            [
                Mention("/app/src/users/service.ts", 42),
                Mention("node_modules/express/lib/router/index.js", 284),
                Mention("/app/src/server.js", 10),
            ],
            ["getUser", "Router.handle"],
        ),
        (
            GO,
            [
                Mention("/home/ann/go/src/github.com/acme/shop/cart/cart.go", 57),
                Mention("/home/ann/shop/main.go", 12),
            ],
            ["Cart.Total", "main.main"],
        ),
        (
            JAVA,
            [Mention("com/acme/shop/Cart.java", 57), Mention("com/acme/shop/Main.java", 12)],
            ["Cart.total", "Main.main"],
        ),
    ],
    ids=["python", "javascript", "go", "java"],
)
def test_stack_trace_frames_of_each_language(
    trace: str, mentions: list[Mention], names: list[str]
) -> None:
    found = evidence_of(f"It crashes on start.\n\n{trace}\nAny idea?")

    assert [m for m in found.mentions if not m.module][: len(mentions)] == mentions
    assert set(names) <= set(found.identifiers), found.identifiers
    assert "github.com" not in found.identifiers  # a host in a Go import path is no name


def test_fenced_code_gives_the_names_it_calls_and_defines() -> None:
    question = (
        "This returns the wrong total:\n\n```python\ndef checkout(cart):\n"
        "    return cart.total_price(prices, discount_percent=10)\nprint(checkout(c))\n```\n"
    )

    found = evidence_of(question)

    assert {"checkout", "total_price"} <= set(found.identifiers)
    assert "print" not in found.identifiers


@pytest.mark.parametrize(
    "question",
    [
        "aB" * 8000,
        "x_y" * 5333,
        "A" * 16_000,
        "a_" * 8000,
        "a." * 8000,
        "a/" * 8000,
        'File "' * 2666,
        "at " * 5333,
        "```\n" * 4000,
        "`" * 16_000,
        "at a." * 3200,
    ],
    ids=lambda q: repr(q[:6]),
)
def test_adversarial_questions_give_bounded_evidence(question: str) -> None:
    """Runs that no name is as long as are not evidence; the patterns never see them (on the
    old code these took seconds each: a quadratic backtrack over one 16,000-character run)."""
    found = evidence_of(question)

    assert all(len(name) <= MAX_WORD_CHARS for name in found.identifiers)
    assert all(len(m.path) <= MAX_WORD_CHARS for m in found.mentions)
    assert len(found.identifiers) <= MAX_NAMES and len(found.mentions) <= MAX_NAMES


def test_many_names_are_capped_in_order_of_appearance() -> None:
    found = evidence_of(" ".join(f"name_{i}" for i in range(500)))

    assert found.identifiers == tuple(f"name_{i}" for i in range(MAX_NAMES))


# ------------------------------------------------------------------ intent
@pytest.mark.parametrize(
    "question",
    [
        "Where is the test for Session.send?",
        "which tests cover the redirect handling?",
        "How do I test a blueprint?",
        "which fixtures does the test suite use?",
        "Is there a test of the JSON provider?",
        "Show the unit tests for cookie parsing",
    ],
)
def test_questions_asking_for_tests(question: str) -> None:
    assert evidence_of(question).wants_tests


@pytest.mark.parametrize(
    "question",
    [
        "The test fails with a KeyError when the session is empty",
        "Running pytest, test_redirects fails:\n"
        "FAILED tests/test_requests.py::test_redirects - AssertionError\nE   assert 301 == 302",
        "In tests, how can I set values in the session before making a request with the test "
        "client?",
        "pytest fixture teardown leaks the app context",
        "Fix validators.disabled() on nesting (#1513)\n\n* Add tests for nested use",
        "This also adds unit tests for cases where `prompt_suffix` is empty",
        "how are cookies stored?",
    ],
)
def test_questions_about_the_code_under_test(question: str) -> None:
    assert not evidence_of(question).wants_tests


@pytest.mark.parametrize(
    ("question", "wanted"),
    [
        ("Where is the documentation for blueprints?", True),
        ("Is `send_file` documented anywhere?", True),
        ("When was json_encoder deprecated?", True),
        ("What does the changelog say about 3.0?", True),
        ("Why was the default timeout changed?", True),
        ("Which commit introduced the retry loop?", True),
        ("Why did they remove the proxy setting?", True),
        ("Why does the timeout change the retry count?", False),
        ("The docs say X but the code does Y: the timeout is ignored", False),
        ("This changes the behaviour of redirects: a 303 keeps the body", False),
        ("Where does the session get saved?", False),
        ("Where does the logger send its messages and when is a default handler added?", False),
    ],
)
def test_questions_asking_for_docs_or_history(question: str, wanted: bool) -> None:
    assert evidence_of(question).wants_docs is wanted
