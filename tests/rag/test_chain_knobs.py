"""RAGChain: its knobs reach the pipeline, and by default it caches beside its index, so a
second chain over the same folder answers a repeated question without a model call."""

from __future__ import annotations

from typing import Any

import pytest

from llmkit.cache import MemoryCache, SQLiteCache
from llmkit.rag import RAGChain


class Counter:
    """A chat model that counts its calls and keeps the messages."""

    deterministic = True

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def llmkit_fingerprint(self) -> dict[str, Any]:
        return {"model": "counter"}

    async def agenerate(self, messages: Any, **options: Any) -> str:
        self.sent.append(messages)
        return "an answer [1]"

    async def astream(self, messages: Any) -> Any:
        yield await self.agenerate(messages)


@pytest.fixture
def docs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("Llamas live in the Andes. " * 20)
    return folder


def test_two_chains_share_the_cache_beside_their_index(docs):
    first, second = Counter(), Counter()
    chain = RAGChain.from_documents(docs, llm=first)
    assert isinstance(chain.cache, SQLiteCache)
    assert str(chain.cache.path).endswith(f"{chain.corpus.path}.cache.db")
    assert chain.query("Where do llamas live?").text == "an answer [1]"
    again = RAGChain.from_documents(docs, llm=second)
    assert again.query("Where do llamas live?").text == "an answer [1]"
    assert (len(first.sent), len(second.sent)) == (1, 0)


def test_cache_none_and_a_given_store(docs):
    llm = Counter()
    chain = RAGChain.from_documents(docs, llm=llm, cache=None)
    chain.query("q")
    chain.query("q")
    assert len(llm.sent) == 2 and chain.cache is None
    store = MemoryCache()
    assert RAGChain.from_documents(docs, llm=llm, cache=store).cache is store


def test_a_list_of_texts_caches_in_memory():
    chain = RAGChain.from_documents(["Llamas live in the Andes."])
    assert isinstance(chain.cache, MemoryCache)


def test_knobs_reach_the_nodes(docs):
    llm = Counter()
    chain = RAGChain.from_documents(docs, llm=llm, k=2, chunk_size=100, overlap=10,
                                    template="Q={{ question }}", system_prompt=None, cache=None)
    assert (chain.corpus.chunk_size, chain.corpus.overlap) == (100, 10)
    assert chain.pipeline.nodes["search"].params["k"] == 2
    chain.query("why")
    assert llm.sent == [[{"role": "user", "content": "Q=why"}]]


def test_model_is_an_openai_compatible_chat_model(docs):
    chain = RAGChain.from_documents(docs, model="some-model", cache=None)
    assert type(chain.pipeline.nodes["generate"].llm).__name__ == "OpenAIChat"
    with pytest.raises(ValueError, match="llm= or model=, not both"):
        RAGChain.from_documents(docs, model="m", llm=Counter())
