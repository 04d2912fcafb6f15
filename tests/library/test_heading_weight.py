"""A chunk's section heading weighs `HEADING_WEIGHT` times in keyword matching, in the
corpus's BM25 and in the lexical reranker alike, and an index built with another weight is
rebuilt, not reused."""

from llmkit.nodes.retrieval import corpus, documents
from llmkit.nodes.retrieval.corpus import Corpus
from llmkit.nodes.retrieval.documents import HEADING_WEIGHT, keyword_text
from llmkit.nodes.retrieval.rerank_lexical import LexicalReranker

# The same length in words; "eviction" is the first one's heading, twice in the second's body.
HEADED = "# Eviction\n\nEntries are dropped oldest first.\n"
MENTIONED = "# Notes\n\nEviction happens. Eviction is rare.\n"


def hit(i: int, text: str, section: str | None = None) -> dict:
    return {"id": f"d{i}", "score": 1.0,
            "metadata": {"text": text, "source": f"{i}.md", "section": section}}


def test_keyword_text_puts_the_heading_first_weight_times():
    assert HEADING_WEIGHT == 2
    assert keyword_text("Body.", "Retries") == "Retries\nRetries\nBody."
    assert keyword_text("Body.", None) == keyword_text("Body.", "") == "Body."


def test_the_reranker_counts_a_heading_above_one_mention_in_a_body():
    hits = [hit(0, "cache words here"), hit(1, "other words here", section="Cache")]
    assert LexicalReranker(weight=1.0).rerank(["cache"], [hits], 1)[0][0][0] == 1


def test_a_corpus_keyword_search_counts_a_heading_above_two_mentions_in_a_body(tmp_path):
    index = Corpus(None)
    index.ingest_documents([{"text": MENTIONED, "source": "notes.md", "format": "md"},
                            {"text": HEADED, "source": "eviction.md", "format": "md"}])
    hits = index.keyword_search(["eviction"], 2)[0]
    assert [h["metadata"]["source"] for h in hits] == ["eviction.md", "notes.md"]


def test_an_index_built_with_another_heading_weight_is_rebuilt(tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.md").write_text(MENTIONED)
    (docs / "eviction.md").write_text(HEADED)
    monkeypatch.setattr(corpus, "HEADING_WEIGHT", 1)
    monkeypatch.setattr(documents, "HEADING_WEIGHT", 1)
    Corpus(tmp_path / "index", source=str(docs)).llmkit_prepare()
    monkeypatch.undo()
    reopened = Corpus(tmp_path / "index", source=str(docs))
    fresh = Corpus(tmp_path / "fresh", source=str(docs))
    assert reopened.keyword_search(["eviction"], 2) == fresh.keyword_search(["eviction"], 2)
    assert reopened.llmkit_fingerprint()["headings"] == HEADING_WEIGHT
