"""Nodes choose how to call a component by the protocol it satisfies (`llmkit.nodes.protocols`),
not by its class: any object with the methods works."""

from __future__ import annotations

import threading

import numpy as np

from llmkit.core.pipeline import Pipeline
from llmkit.nodes.backends.ollama import OllamaEmbedder
from llmkit.nodes.generation.nodes import Generate
from llmkit.nodes.retrieval.corpus import Corpus
from llmkit.nodes.retrieval.nodes import Embed


class LoopEmbedder:
    """Only `aembed`: records the thread it ran on."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    async def aembed(self, texts):
        self.threads.append(threading.current_thread().name)
        return np.ones((len(texts), 4), dtype=np.float32)

    async def aclose(self) -> None:
        pass

    def llmkit_fingerprint(self):
        return {"type": "loop"}


class ThreadEmbedder(LoopEmbedder):
    """Only `embed`: records the thread it ran on."""

    aembed = None  # type: ignore[assignment]

    def embed(self, texts):
        self.threads.append(threading.current_thread().name)
        return np.ones((len(texts), 4), dtype=np.float32)


def _embed_with(embedder) -> None:
    p = Pipeline("embed", inputs=["text"])
    p.add("embed", Embed(embedder), text="text")
    assert p.run(text="hello")["vector"].shape == (4,)


def test_an_async_embedder_runs_on_the_event_loop_a_sync_one_in_a_worker_thread():
    on_loop, in_thread = LoopEmbedder(), ThreadEmbedder()
    _embed_with(on_loop)
    _embed_with(in_thread)
    loop_thread = on_loop.threads[0]
    assert in_thread.threads and in_thread.threads[0] != loop_thread


def test_a_corpus_ingests_with_an_embedder_that_only_has_aembed():
    corpus = Corpus(None, embedder=LoopEmbedder())
    corpus.ingest_documents(["one text", "another text"])
    assert len(corpus) == 2


class Batcher:
    def generate_many(self, questions, contexts):
        return ["batched" for _ in questions]


class Chat:
    async def agenerate(self, messages):
        return "chatted"

    async def astream(self, messages):
        yield "chatted"


def test_generate_takes_micro_batches_from_a_batch_generator_and_one_request_from_a_chat():
    assert Generate(Batcher()).is_batch() is True
    assert Generate(Chat()).is_batch() is False
    p = Pipeline("ask", inputs=["question"])
    p.add("generate", Generate(Chat()), question="question")
    assert p.run(question="q")["answer"] == "chatted"


def test_every_vendor_takes_the_shared_constructor_params():
    embedder = OllamaEmbedder("m", "http://localhost:1", pooling="mean", retries=1)
    assert embedder.pooling == "mean" and embedder.http.retries == 1
