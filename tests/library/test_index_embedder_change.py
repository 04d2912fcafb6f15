"""An index saved by an older hashing embedder (before stop words) is rebuilt, not reused, by
a corpus with a source: its vectors would not match the new query vectors."""

from llmkit.nodes.retrieval.corpus import Corpus
from llmkit.nodes.retrieval.embedders import HashingEmbedder


def test_a_changed_embedder_fingerprint_rebuilds_the_saved_index(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "window.md").write_text("The window bounds the runs in flight.\n")
    (docs / "cache.md").write_text("Results are cached per node in SQLite.\n")
    question = HashingEmbedder().embed(["What does the window bound?"])

    old = Corpus(tmp_path / "index", source=str(docs), embedder=HashingEmbedder(stop_words=False))
    old.llmkit_prepare()
    new = Corpus(tmp_path / "index", source=str(docs), embedder=HashingEmbedder())
    fresh = Corpus(tmp_path / "fresh", source=str(docs), embedder=HashingEmbedder())

    assert new.search(question, 2) == fresh.search(question, 2)
    reopened = Corpus(tmp_path / "index", source=str(docs), embedder=HashingEmbedder())
    reopened.llmkit_prepare()
    assert reopened.llmkit_fingerprint()["embedder"]["stop_words"] is True
    assert reopened.search(question, 2) == fresh.search(question, 2)
