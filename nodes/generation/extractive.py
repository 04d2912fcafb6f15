"""An offline, deterministic stand-in for an LLM: answers with cited sentences of the context."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from llmkit.nodes.retrieval.documents import sentences
from llmkit.nodes.retrieval.embedders import tokenize

__all__ = ["NOT_FOUND", "ExtractiveGenerator"]

NOT_FOUND = "I could not find an answer in the indexed documents."

_CITATION = re.compile(r"^\[(\d+)\][ \t]*", re.MULTILINE)
_HEADING = re.compile(r"^(#{1,6}[ \t]|[=\-~^]{3,}\s*$)")
# Question words that say nothing about the answer.
_STOP = frozenset({
    "a", "about", "an", "and", "are", "as", "at", "be", "by", "can", "could", "did", "do",
    "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "is", "it", "its",
    "me", "my", "of", "on", "or", "please", "should", "tell", "that", "the", "their", "them",
    "there", "these", "this", "those", "to", "was", "what", "when", "where", "which", "who",
    "whom", "whose", "why", "will", "with", "would", "you", "your"
})


_LIST_ITEM = re.compile(r"^([-*+]|\d+[.)])\s+")
_NOT_PROSE = re.compile(r"^(\||\$ |>>> |    |\t)")  # table rows, shell, REPL, indented code
_MIN_WORDS = 4


def _prose(body: str) -> list[str]:
    """The prose segments of a chunk: paragraphs with their wrapped lines joined, each list
    item on its own; headings, code blocks, tables and shell lines left out."""
    segments: list[str] = []
    current: list[str] = []
    fenced = False

    def flush() -> None:
        if current:
            segments.append(" ".join(current))
            current.clear()

    for raw in body.splitlines():
        line = raw.strip()
        if line.startswith("```"):
            fenced = not fenced
            flush()
            continue
        if fenced or not line or _HEADING.match(line) or _NOT_PROSE.match(raw):
            flush()
            continue
        if _LIST_ITEM.match(line):
            flush()
            line = _LIST_ITEM.sub("", line)
        current.append(line)
    flush()
    return segments


def _candidates(context: str) -> list[tuple[int | None, str]]:
    """(citation number or None, sentence) for each prose sentence of the context, in order.
    Headings, code, tables, fragments and repeated sentences (chunk overlaps) are dropped."""
    parts = _CITATION.split(context)
    blocks: list[tuple[int | None, str]] = [(None, parts[0])]
    blocks += [(int(n), body) for n, body in zip(parts[1::2], parts[2::2], strict=True)]
    seen: set[str] = set()
    out = []
    for n, body in blocks:
        for segment in _prose(body):
            for sentence in sentences(segment):
                words = tokenize(sentence)
                key = " ".join(words)
                if len(words) >= _MIN_WORDS and key not in seen:
                    seen.add(key)
                    out.append((n, sentence))
    return out


class ExtractiveGenerator:
    """Answers with up to `max_sentences` context sentences that best match the question.

    Sentences are scored by the IDF (over the context's sentences) of the question's content
    words they contain, plus `rank_bonus / n` for a sentence from chunk `[n]`; the best ones
    scoring at least `min_ratio` of the best are returned in context order, each followed by
    its citation. No sentence sharing a content word with the question (or an empty question
    or context) gives `NOT_FOUND`.
    Deterministic and dependency-free: the offline default and a test double for real LLMs.
    """

    version = 2  # 2: candidates are prose sentences only

    def __init__(self, max_sentences: int = 3, rank_bonus: float = 0.1,
                 min_ratio: float = 0.5) -> None:
        if max_sentences < 1:
            raise ValueError(f"max_sentences must be >= 1, got {max_sentences}")
        self.max_sentences = int(max_sentences)
        self.rank_bonus = float(rank_bonus)
        self.min_ratio = float(min_ratio)

    def llmkit_fingerprint(self) -> dict[str, Any]:
        """What defines this generator's output, for cache keys."""
        return {"type": type(self).__name__, "version": self.version,
                "max_sentences": self.max_sentences, "rank_bonus": self.rank_bonus,
                "min_ratio": self.min_ratio}

    def generate(self, question: str, context: str) -> str:
        """The answer to `question` from `context` (numbered text from `build_context`)."""
        wanted = set(tokenize(question)) - _STOP
        candidates = _candidates(context) if wanted else []
        words = [set(tokenize(sentence)) for _, sentence in candidates]
        df = Counter(word for ws in words for word in ws & wanted)
        idf = {word: math.log(1 + len(candidates) / count) for word, count in df.items()}
        scored = []
        for i, ((n, _), ws) in enumerate(zip(candidates, words, strict=True)):
            score = sum(idf[word] for word in ws & wanted)
            if score > 0:
                scored.append((-(score + (self.rank_bonus / n if n else 0.0)), i))
        if not scored:
            return NOT_FOUND
        top = sorted(scored)[:self.max_sentences]
        best = sorted(i for score, i in top if score <= self.min_ratio * top[0][0])
        return " ".join(candidates[i][1] + (f" [{candidates[i][0]}]" if candidates[i][0]
                                            else "") for i in best)

    def generate_many(self, questions: Sequence[str], contexts: Sequence[str]) -> list[str]:
        """`generate` for each (question, context) pair, in order."""
        if len(questions) != len(contexts):
            raise ValueError(f"got {len(questions)} questions but {len(contexts)} contexts")
        return [self.generate(q, c) for q, c in zip(questions, contexts, strict=True)]
