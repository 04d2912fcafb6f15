"""Building an index through an HTTP embedder sends at most `max_inputs_per_request` texts per
request, so a large folder never becomes one request that a slow server cannot answer."""

from __future__ import annotations

from llmkit.nodes.backends.openai import OpenAIEmbedder
from llmkit.nodes.retrieval.corpus import Corpus


def test_an_index_build_sends_at_most_max_inputs_per_request(fake_server):
    embedder = OpenAIEmbedder("fake-model", base_url=f"{fake_server.url}/v1",
                              max_inputs_per_request=2)
    corpus = Corpus(None, embedder=embedder)
    report = corpus.ingest_documents([f"document number {i} about bees" for i in range(5)])
    stats = fake_server.control.stats()
    assert report.chunks == 5
    assert stats["requests"] == {"/v1/embeddings": 3}  # 2 + 2 + 1 texts
    assert stats["inputs"] == {"/v1/embeddings": 5}
