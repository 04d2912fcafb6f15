"""build_context budgets, numbering and dedupe; ExtractiveGenerator answers with citations."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llmkit.nodes.generation.context import build_context
from llmkit.nodes.generation.extractive import NOT_FOUND, ExtractiveGenerator


def hit(id_: str, score: float, text: str, source: str = "s.md") -> dict:
    return {"id": id_, "score": score, "metadata": {"text": text, "source": source}}


def test_numbered_best_first_with_sources():
    ctx = build_context([hit("b", 0.5, "Second."), hit("a", 0.9, "First.", "a.md")])
    assert ctx["text"] == "[1] First.\n\n[2] Second."
    assert ctx["sources"] == [{"n": 1, "id": "a", "source": "a.md", "score": 0.9},
                              {"n": 2, "id": "b", "source": "s.md", "score": 0.5}]


def test_near_duplicates_and_repeated_ids_are_dropped():
    text = "the quick brown fox jumps over the lazy dog near the river bank today"
    ctx = build_context([hit("a", 0.9, text), hit("b", 0.8, text + "!"),
                         hit("a", 0.7, "other words entirely"), hit("c", 0.6, "fresh text")])
    assert [s["id"] for s in ctx["sources"]] == ["a", "c"]
    kept = build_context([hit("a", 0.9, text), hit("b", 0.8, text + " and more words here")],
                         dedupe_threshold=0.99)
    assert len(kept["sources"]) == 2


def test_first_chunk_truncated_at_sentence_later_ones_skipped():
    long = "One sentence here. Two sentences here. Three sentences here."
    ctx = build_context([hit("a", 0.9, long), hit("b", 0.8, "short")], max_chars=45)
    assert ctx["text"] == "[1] One sentence here. Two sentences here."
    ctx = build_context([hit("a", 0.9, "tiny"), hit("b", 0.8, long), hit("c", 0.7, "ok")],
                        max_chars=30)
    assert ctx["text"] == "[1] tiny\n\n[2] ok"
    ctx = build_context([hit("a", 0.9, "wordy words without any stop at all")], max_chars=20)
    assert ctx["text"] == "[1] wordy words"


def test_token_budget():
    def count(text: str) -> int:
        return len(text.split())

    hits = [hit(str(i), 1 - i / 10, f"alpha beta gamma delta {i}") for i in range(5)]
    ctx = build_context(hits, count_tokens=count, max_tokens=13)
    assert count(ctx["text"]) <= 13 and len(ctx["sources"]) == 2


@settings(max_examples=100, deadline=None)
@given(texts=st.lists(st.text(min_size=0, max_size=300), max_size=8),
       budget=st.integers(0, 600))
def test_never_exceeds_budget(texts, budget):
    hits = [hit(str(i), float(-i), t) for i, t in enumerate(texts)]
    ctx = build_context(hits, max_chars=budget)
    assert len(ctx["text"]) <= budget
    assert [s["n"] for s in ctx["sources"]] == list(range(1, len(ctx["sources"]) + 1))


CONTEXT = ("[1] # Paris\n\nParis is the capital of France. It has the Eiffel Tower, built in "
           "1889.\n\n[2] Berlin is the capital of Germany. The Berlin wall fell in 1989.")


def test_answers_with_cited_sentences_in_context_order():
    gen = ExtractiveGenerator()
    assert gen.generate("When was the Eiffel Tower built?", CONTEXT) == (
        "It has the Eiffel Tower, built in 1889. [1]")
    assert gen.generate("What is the capital of Germany?", CONTEXT) == (
        "Berlin is the capital of Germany. [2]")
    both = ExtractiveGenerator(max_sentences=2, min_ratio=0).generate("capital wall", CONTEXT)
    assert both == "Paris is the capital of France. [1] The Berlin wall fell in 1989. [2]"


def test_empty_inputs_give_the_not_found_answer():
    gen = ExtractiveGenerator()
    assert gen.generate("", CONTEXT) == NOT_FOUND
    assert gen.generate("   ", CONTEXT) == NOT_FOUND
    assert gen.generate("What is it?", CONTEXT) == NOT_FOUND  # only stop words
    assert gen.generate("Eiffel", "") == NOT_FOUND
    assert gen.generate("zebra", CONTEXT) == NOT_FOUND
    assert NOT_FOUND == "I could not find an answer in the indexed documents."


def test_generate_many_and_fingerprint():
    gen = ExtractiveGenerator(max_sentences=1)
    answers = gen.generate_many(["Eiffel", "Germany"], [CONTEXT, CONTEXT])
    assert answers == [gen.generate("Eiffel", CONTEXT), gen.generate("Germany", CONTEXT)]
    assert gen.generate("plain", "plain text without numbers.") == "plain text without numbers."
    assert gen.llmkit_fingerprint()["max_sentences"] == 1
