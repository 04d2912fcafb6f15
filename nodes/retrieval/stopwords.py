"""The English function words that say what kind of question a text asks, not what it is
about ("what does the... how do I..."): the hashing embedder, the lexical reranker and the
extractive answerer leave them out, so a question's framing weighs nothing."""

from __future__ import annotations

__all__ = ["STOP_WORDS", "content_words"]

STOP_WORDS = frozenset({
    "a", "about", "an", "and", "are", "as", "at", "be", "by", "can", "could", "did", "do",
    "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it",
    "its", "me", "my", "of", "on", "or", "should", "so", "than", "that", "the", "their", "them",
    "then", "there", "these", "this", "those", "to", "was", "we", "what", "when", "where",
    "which", "while", "who", "whom", "whose", "why", "will", "with", "would", "you", "your"})


def content_words(words: list[str]) -> list[str]:
    """`words` (lowercase) without the stop words; all of them when every one is a stop word,
    so that a text such as "what is it" still has words."""
    return [w for w in words if w not in STOP_WORDS] or words
