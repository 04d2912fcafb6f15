"""Ingest embeds in bounded batches, retries a rate-limited batch (the first build too), and a
failed ingest leaves the corpus as it was."""

from __future__ import annotations

import anyio
import numpy as np
import pytest

from llmkit.errors import LlmkitError, RetryableError
from llmkit.nodes.retrieval.corpus import Corpus
from llmkit.nodes.retrieval.embedders import HashingEmbedder


class FlakyEmbedder:
    """An async (HTTP-like) embedder that answers 429 to its first `failures` requests."""

    def __init__(self, failures: int, retry_after: float | None = 0.01) -> None:
        self.failures, self.retry_after = failures, retry_after
        self.sizes: list[int] = []
        self.inner = HashingEmbedder(dim=32)
        self.dim = None  # learned from the first answer, like a remote model

    def llmkit_fingerprint(self):
        return {"type": "flaky"}

    async def aembed(self, texts):
        self.sizes.append(len(texts))
        if self.failures:
            self.failures -= 1
            raise RetryableError("429 Too Many Requests", retry_after=self.retry_after)
        return self.inner.embed(texts)

    async def aclose(self):
        pass


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(10):
        (folder / f"doc{i}.md").write_text(f"# Doc {i}\n\nRivers {i} carry silt to deltas.\n")
    return folder


@pytest.fixture
def sleeps(monkeypatch):
    """The delays the retries wait, instead of waiting them."""
    waited: list[float] = []

    async def sleep(delay):
        waited.append(delay)

    monkeypatch.setattr(anyio, "sleep", sleep)
    return waited


def test_the_first_build_retries_a_rate_limited_batch_after_its_retry_after(tmp_path, docs,
                                                                            sleeps):
    embedder = FlakyEmbedder(failures=2, retry_after=7.0)
    corpus = Corpus(tmp_path / "index", source=str(docs), embedder=embedder, embed_batch=3)
    assert len(corpus) == 10
    assert embedder.failures == 0 and len(sleeps) == 2 and min(sleeps) >= 7.0


def test_ingest_sends_at_most_embed_batch_texts_per_call(tmp_path, docs):
    embedder = FlakyEmbedder(failures=0)
    Corpus(tmp_path / "index", embedder=embedder, embed_batch=3).ingest(docs)
    assert embedder.sizes == [3, 3, 3, 1]


def test_a_batch_that_keeps_failing_fails_the_ingest_and_changes_nothing(tmp_path, docs,
                                                                         sleeps):
    embedder = FlakyEmbedder(failures=100)
    corpus = Corpus(tmp_path / "index", embedder=embedder, embed_batch=4, retries=2)
    with pytest.raises(RetryableError, match="429"):
        corpus.ingest(docs)
    assert embedder.sizes == [4, 4, 4]  # one try and two retries of the first batch
    assert len(corpus) == 0 and not (tmp_path / "index").exists()
    embedder.failures = 0  # the server recovers: the same corpus object ingests everything
    report = corpus.ingest(docs)
    assert len(report.added) == 10 and len(corpus) == 10


def test_a_failed_update_keeps_the_previous_content_searchable(tmp_path, docs, sleeps):
    embedder = FlakyEmbedder(failures=0)
    corpus = Corpus(tmp_path / "index", embedder=embedder, retries=0)
    corpus.ingest(docs)
    version = corpus.vectors.content_version
    (docs / "doc3.md").write_text("# Doc 3\n\nGlaciers carve valleys.\n")
    embedder.failures = 1
    with pytest.raises(RetryableError):
        corpus.ingest(docs)
    assert corpus.vectors.content_version == version and len(corpus.vectors) == 10
    assert corpus.ingest(docs).updated == ["doc3.md"]


def test_an_embedder_answer_of_the_wrong_shape_is_one_clear_error(tmp_path, docs):
    class Short(HashingEmbedder):
        def embed(self, texts):
            return np.zeros((len(texts) - 1, self.dim), dtype=np.float32)

    with pytest.raises(LlmkitError, match=r"shape \(2, 384\) for 3 texts"):
        Corpus(tmp_path / "index", embedder=Short(), embed_batch=3).ingest(docs)


def test_a_file_that_stops_decoding_late_is_skipped_and_the_others_are_indexed(tmp_path, docs):
    (docs / "late.md").write_bytes(b"fine words. " * 300_000 + "caf\xe9".encode("latin-1"))
    corpus = Corpus(tmp_path / "index")
    report = corpus.ingest(docs)
    assert [(p["source"], p["kind"]) for p in report.problems] == [("late.md", "encoding")]
    assert len(report.added) == 10 and len(corpus) == 10
