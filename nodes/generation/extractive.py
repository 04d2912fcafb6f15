"""An offline, deterministic stand-in for an LLM: answers with cited sentences of the context."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from llmkit.nodes.generation.passages import candidates
from llmkit.nodes.retrieval.embedders import lexical_words
from llmkit.nodes.retrieval.stemming import stem
from llmkit.nodes.retrieval.stopwords import STOP_WORDS

__all__ = ["NOT_FOUND", "ExtractiveGenerator"]

NOT_FOUND = "I could not find an answer in the indexed documents."

# Question words that say nothing about the answer: the function words, and the verbs a
# question is framed with ("how do I get...", "what happens when...").
_STOP = STOP_WORDS | frozenset({"get", "gets", "go", "goes", "happen", "happens", "make", "many",
                                "much", "need", "please", "put", "tell", "use", "used", "want"})
# Questions that ask for a quantity: a candidate holding a number answers them better.
_QUANTITY = re.compile(r"\bhow (many|much|long|big|large|fast|often|old|far)\b|"
                       r"\b(what|which)( \w+)? (size|port|number|version|limit|code|"
                       r"timeout|percentage|ratio)\b", re.IGNORECASE)
_DIGIT = re.compile(r"\d")
# Questions that ask how to do something: a candidate naming an option or identifier after
# one of the question's words (`--json` for "as JSON") answers them better.
_PROCEDURE = re.compile(r"\bhow (do|can|should|would) (i|we|you)\b|\bhow to\b", re.IGNORECASE)
_NAMED = re.compile(r"`(-{0,2}[^\W\d][\w.-]*)(?:[= ][^`]*)?`")
# Questions that ask where something is or goes: a candidate naming a path (a code span with
# a slash or a file name, `llmkit/cache/stores/`, `.llmkit/cache.db`) answers them better.
_PLACE = re.compile(r"^\W*where\b", re.IGNORECASE)
_PATH = re.compile(r"`[^`\s]*(/|\w\.[a-z]{1,4}\b)[^`]*`")


class ExtractiveGenerator:
    """Answers with up to `max_sentences` candidates of the context that best match the question.

    Candidates are the context's prose sentences, list items and table rows (`passages`);
    words match by their Porter stem, identifiers also by their parts (`BM25Index` holds
    "BM25", `lexical_words`). A candidate scores the IDF (over the candidates) of the
    question's content words it holds, times `1 + quantity_bonus` when the question asks for
    a quantity ("how many", "which port") and the candidate holds a digit, times
    `1 + procedure_bonus` when the question asks how to do something ("how do I") and the
    candidate has a code span naming an option or identifier after one of its words
    (`--json` for "as JSON"), times `1 + place_bonus` when the question asks where ("where
    should I put...") and the candidate has a code span naming a path or file, times
    `1 + rank_weight / n` for chunk `[n]` (the retrieval order is evidence too: a sentence of
    the best chunk beats one further down that matches a little more), plus `rank_bonus / n`.
    The best ones scoring at least `min_ratio` of the best are returned in context order, each
    followed by its citation. When the best holds less than `min_coverage` of the question's
    IDF mass (a word absent from the context weighs the most), or the question or context is
    empty, the answer is `NOT_FOUND`.
    Deterministic and dependency-free: the offline default and a test double for real LLMs.
    """

    version = 8  # 3: table rows, stems, quantity cue, NOT_FOUND below min_coverage; 4: shared
                 # stop words; 5: a sentence repeating one already chosen is skipped; 6:
                 # rank_weight, "many"/"much"/"go" are question framing; 7: identifier
                 # parts, procedure_bonus; 8: place_bonus, sentences cut
                 # between consecutive chunks read whole

    def __init__(self, max_sentences: int = 3, rank_bonus: float = 0.1,
                 min_ratio: float = 0.5, min_coverage: float = 0.25,
                 quantity_bonus: float = 1.0, rank_weight: float = 0.4,
                 procedure_bonus: float = 0.5, place_bonus: float = 0.5) -> None:
        if max_sentences < 1:
            raise ValueError(f"max_sentences must be >= 1, got {max_sentences}")
        self.max_sentences = int(max_sentences)
        self.rank_bonus = float(rank_bonus)
        self.min_ratio = float(min_ratio)
        self.min_coverage = float(min_coverage)
        self.quantity_bonus = float(quantity_bonus)
        self.rank_weight = float(rank_weight)
        self.procedure_bonus = float(procedure_bonus)
        self.place_bonus = float(place_bonus)

    def llmkit_fingerprint(self) -> dict[str, Any]:
        """What defines this generator's output, for cache keys."""
        return {"type": type(self).__name__, "version": self.version,
                "max_sentences": self.max_sentences, "rank_bonus": self.rank_bonus,
                "min_ratio": self.min_ratio, "min_coverage": self.min_coverage,
                "quantity_bonus": self.quantity_bonus, "rank_weight": self.rank_weight,
                "procedure_bonus": self.procedure_bonus, "place_bonus": self.place_bonus}

    def generate(self, question: str, context: str) -> str:
        """The answer to `question` from `context` (numbered text from `build_context`)."""
        wanted = {stem(word) for word in lexical_words(question)
                  if word not in _STOP and (len(word) > 1 or word.isdigit())}
        found = candidates(context) if wanted else []
        if not found:
            return NOT_FOUND
        matched = [{stem(word) for word in words} & wanted for _, _, words in found]
        df = Counter(word for ms in matched for word in ms)
        idf = {word: math.log(1 + len(found) / max(df[word], 1)) for word in wanted}
        total = sum(idf.values())
        quantity = self.quantity_bonus if _QUANTITY.search(question) else 0.0
        procedure = self.procedure_bonus if _PROCEDURE.search(question) else 0.0
        place = self.place_bonus if _PLACE.search(question) else 0.0
        scored = []
        for i, ((n, text, _), ms) in enumerate(zip(found, matched, strict=True)):
            if not ms:
                continue
            mass = sum(idf[word] for word in ms)
            score = mass * (1 + quantity if quantity and _DIGIT.search(text) else 1)
            if procedure and _names(text, wanted):
                score *= 1 + procedure
            if place and _PATH.search(text):
                score *= 1 + place
            if n:
                score = score * (1 + self.rank_weight / n) + self.rank_bonus / n
            scored.append((-score, i, mass / total))
        if not scored:
            return NOT_FOUND
        top: list[tuple[float, int, float]] = []
        for entry in sorted(scored):  # best first, skipping repeats of a sentence already in
            words = set(found[entry[1]][2])
            if not any(_same(words, set(found[j][2])) for _, j, _ in top):
                top.append(entry)
                if len(top) == self.max_sentences:
                    break
        if top[0][2] < self.min_coverage:
            return NOT_FOUND
        best = sorted(i for score, i, _ in top if score <= self.min_ratio * top[0][0])
        return " ".join(found[i][1] + (f" [{found[i][0]}]" if found[i][0] else "")
                        for i in best)

    def generate_many(self, questions: Sequence[str], contexts: Sequence[str]) -> list[str]:
        """`generate` for each (question, context) pair, in order."""
        if len(questions) != len(contexts):
            raise ValueError(f"got {len(questions)} questions but {len(contexts)} contexts")
        return [self.generate(q, c) for q, c in zip(questions, contexts, strict=True)]


def _names(text: str, wanted: set[str]) -> bool:
    """Whether `text` has a code span naming an option or identifier after a wanted stem."""
    return any({stem(w) for w in lexical_words(m.group(1))} & wanted
               for m in _NAMED.finditer(text))


def _same(a: set[str], b: set[str]) -> bool:
    """Whether two candidates say the same thing: 80% of their words in common (a table row
    and the sentence restating it, two chunks' overlapping copies)."""
    return len(a & b) >= 0.8 * max(len(a), len(b), 1)
