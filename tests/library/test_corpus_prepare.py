"""A corpus's fingerprint only reads; a run prepares the corpus (ingesting its source) in a
worker thread before any node's fingerprint or call reads it."""

from __future__ import annotations

import asyncio

import pytest

from llmkit.cache import MemoryCache
from llmkit.core.pipeline import Pipeline
from llmkit.errors import NodeError
from llmkit.nodes.retrieval import corpus as corpus_module
from llmkit.nodes.retrieval.corpus import Corpus
from llmkit.nodes.retrieval.embedders import HashingEmbedder
from llmkit.nodes.retrieval.nodes import Embed, Search


class RefusingEmbedder(HashingEmbedder):
    """Fails the test if anything embeds."""

    def embed(self, texts):
        raise AssertionError("the corpus embedded while only its fingerprint was read")


class CountingEmbedder(HashingEmbedder):
    """Counts its calls."""

    def __init__(self) -> None:
        super().__init__(dim=64)
        self.calls = 0

    def embed(self, texts):
        self.calls += 1
        return super().embed(texts)


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "tides.md").write_text("# Tides\n\nThe moon pulls the sea into tides.\n")
    (folder / "rivers.md").write_text("# Rivers\n\nRivers carry silt to their deltas.\n")
    return folder


def test_the_fingerprint_of_an_unprepared_corpus_neither_embeds_nor_writes(tmp_path, docs,
                                                                           monkeypatch):
    def no_save(*args, **kwargs):
        raise AssertionError("the corpus saved while only its fingerprint was read")

    monkeypatch.setattr(corpus_module, "save_index_dir", no_save)
    corpus = Corpus(tmp_path / "index", source=str(docs), embedder=RefusingEmbedder(dim=64))
    first = corpus.llmkit_fingerprint()
    assert corpus.llmkit_fingerprint() == first
    Pipeline(inputs=["v"]).add("search", Search(corpus), vector="v").validate()
    assert Search(corpus).fingerprint == Search(corpus).fingerprint  # as a node's cache key
    assert len(corpus.vectors) == 0 and not (tmp_path / "index" / "manifest.msgpack").exists()


def test_a_run_prepares_the_corpus_in_a_worker_thread_before_any_fingerprint(tmp_path, docs,
                                                                             monkeypatch):
    seen: list[tuple[str, bool]] = []

    def on_loop() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    refresh, fingerprint = Corpus.refresh, Corpus.llmkit_fingerprint
    monkeypatch.setattr(Corpus, "refresh", lambda self: (seen.append(("refresh", on_loop())),
                                                         refresh(self))[1])
    monkeypatch.setattr(Corpus, "llmkit_fingerprint", lambda self: (
        seen.append(("fingerprint", on_loop())), fingerprint(self))[1])
    embedder = HashingEmbedder(dim=64)
    corpus = Corpus(tmp_path / "index", source=str(docs), embedder=embedder)
    p = (Pipeline(inputs=["q"]).add("embed", Embed(embedder), text="q")
         .add("search", Search(corpus, k=1), vector="embed.vector"))
    hits = p.run(q="what pulls the sea into tides?", cache=MemoryCache())["hits"]
    assert hits[0]["metadata"]["source"] == "tides.md"  # the run found what the refresh ingested
    assert seen[0] == ("refresh", False)  # first, and off the event loop
    assert ("fingerprint", True) in seen  # the scheduler took it after, from the loop


def test_a_fresh_corpus_is_not_prepared_again_so_later_runs_make_no_thread_hop(tmp_path, docs,
                                                                              monkeypatch):
    from llmkit.core import resources

    hops: list[int] = []
    prepare = resources._prepare
    monkeypatch.setattr(resources, "_prepare", lambda holders: (hops.append(len(holders)),
                                                             prepare(holders))[1])
    embedder = HashingEmbedder(dim=64)
    corpus = Corpus(tmp_path / "index", source=str(docs), embedder=embedder)
    p = (Pipeline(inputs=["q"]).add("embed", Embed(embedder), text="q")
         .add("search", Search(corpus, k=1), vector="embed.vector"))
    for _ in range(3):
        assert p.run(q="what pulls the sea into tides?")["hits"]
    assert hops == [1]  # the first run prepared it; the next two had nothing to prepare


def test_a_corpus_that_cannot_be_prepared_fails_every_run_naming_its_node(tmp_path, docs):
    class DownEmbedder(HashingEmbedder):
        def embed(self, texts):
            raise RuntimeError("the embedding server is down")

    corpus = Corpus(tmp_path / "index", source=str(docs), embedder=DownEmbedder(dim=64))
    query = CountingEmbedder()
    p = (Pipeline(inputs=["q"]).add("embed", Embed(query), text="q")
         .add("search", Search(corpus, k=1), vector="embed.vector"))
    results = p.run_many([{"q": "tides"}, {"q": "rivers"}], on_error="return")
    assert [type(r).__name__ for r in results] == ["NodeError", "NodeError"]
    assert all(r.node == "search" and "server is down" in str(r) for r in results)
    assert query.calls == 0  # no run started: they fail before any node reads the corpus
    with pytest.raises(NodeError, match="node 'search' failed: RuntimeError: the embedding"):
        p.run(q="tides")
