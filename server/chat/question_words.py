"""What a question asks about: its content words, as the keyword index spells them.

A question's chat words ("can you explain how this works?") ask for something
without saying what; a question made only of them has nothing to look up. They
are left out *as written*, before stemming, as the keyword tokenizer drops its
stop words: left out by stem, every content word that merely shares a stem with
one would go too ("findings" is ``find``, "projects" ``project``, "meaning"
``mean``). Inflected glue words are left out after stemming ("being" is ``be``).
"""

from __future__ import annotations

from ..index.tokens import STOP_WORDS, WORD, word_tokens

# fmt: off
CHAT_WORDS = frozenset({
    "about", "again", "all", "also", "any", "anything", "can", "code", "codebase", "could", "did",
    "doing", "done", "everything", "explain", "find", "give", "hello", "help", "hey", "hi",
    "just", "know", "like", "look", "mean", "means", "me", "more", "much", "my", "need", "no",
    "not", "now", "ok", "okay", "our", "please", "project", "question", "questions", "really",
    "repo", "repository", "should", "show", "so", "some", "something", "stuff", "tell", "thank",
    "thanks", "thing", "things", "us", "very", "want", "way", "we", "work", "working", "works",
    "would", "yes", "you", "your",
})
# fmt: on


def question_terms(question: str) -> frozenset[str]:
    """The question's content words, as the keyword index spells them (stemmed)."""
    return frozenset(
        token
        for word in WORD.findall(question)
        if word.lower() not in CHAT_WORDS
        for token in word_tokens(word)
        if token not in STOP_WORDS
    )
