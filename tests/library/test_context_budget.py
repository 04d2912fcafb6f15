"""The build_context node keeps its character and token budgets."""

from llmkit.nodes.generation.nodes import BuildContext

HITS = [{"id": f"c{i}", "score": 1.0 - i / 10,
         "metadata": {"text": f"Passage {i} says something different about topic {i}. " * 5,
                      "source": f"d{i}.md"}} for i in range(8)]


class Characters:
    """A tokenizer resource stand-in: one token per character."""

    def count_tokens(self, text):
        return len(text)


def test_the_token_budget_holds_with_the_default_word_count():
    out = BuildContext(max_chars=100_000, max_tokens=60).run(HITS)
    assert 0 < len(out["text"].split()) <= 60 + 2 * len(out["sources"])
    assert len(out["sources"]) < len(HITS)


def test_a_configured_tokenizer_counts_the_budget():
    out = BuildContext(max_chars=100_000, max_tokens=300, tokenizer=Characters()).run(HITS)
    assert len(out["text"]) <= 300


def test_the_character_budget_alone_still_holds():
    out = BuildContext(max_chars=500).run(HITS)
    assert len(out["text"]) <= 500 and out["sources"][0]["id"] == "c0"
