"""`RAGChain`: ask questions of documents in three lines. A thin facade: it builds the
embed → search → build_context → generate pipeline and runs it with the same runner, so
`batch_query` of 100 questions is one embedding call and one index search."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmkit.core import background
from llmkit.core.events import Event
from llmkit.core.pipeline import Pipeline

__all__ = ["Answer", "RAGChain", "Source"]

OnEvent = Callable[[Event], None]
_UNSET: Any = object()  # a param left out (None means something: no system prompt)


@dataclass(frozen=True)
class Source:
    """A passage an answer drew on: citation number, chunk id, file, retrieval score."""

    n: int
    id: str
    source: str
    score: float


@dataclass(frozen=True)
class Answer:
    """An answer's text and the sources its citations `[n]` refer to."""

    text: str
    sources: list[Source] = field(default_factory=list)

    def __str__(self) -> str:
        return self.text


class RAGChain:
    """Retrieval-augmented answers over a `Corpus` (see `from_documents`)."""

    def __init__(self, pipeline: Pipeline, corpus: Any, *, cache: Any = None) -> None:
        self.pipeline = pipeline
        self.corpus = corpus
        self.cache = cache

    @classmethod
    def from_documents(cls, path_or_docs: str | os.PathLike[str] | Sequence[str | dict[str, Any]],
                       *, index: str | os.PathLike[str] | None = None, embedder: Any = None,
                       llm: Any = None, model: str | None = None, k: int = 4,
                       max_chars: int = 4000, chunk_size: int = 800, overlap: int = 120,
                       template: str | None = None, system_prompt: Any = _UNSET,
                       hybrid: bool = False, cache: Any = "index") -> RAGChain:
        """Index a folder (or a list of texts / `{"text", "source"}` dicts) and answer from it.

        `index` is where the index is kept (default: `.llmkit/indexes/<folder>-<hash>` for a
        folder, memory only for a list); a folder is ingested incrementally, so a second
        start skips unchanged files. An `index` that is or lies in the folder (unless a
        hidden folder holds it), or an existing path that is not an llmkit index, is refused
        (`IndexPathError`): nothing of yours is replaced. `chunk_size` and `overlap` (in
        characters) cut the documents, `k` chunks answer each question, within `max_chars`.
        `embedder` defaults to the offline hashing embedder, `llm` to the offline extractive
        generator (`model="name"` is `OpenAIChat(model="name")`, its server from
        $OPENAI_BASE_URL); `template` and `system_prompt` are `generate`'s, for a chat
        model. `hybrid` fuses BM25 with vector search. `cache`: "index" (the default)
        keeps node results beside the index (an SQLite file `<index>.cache.db`, or memory
        for an index in memory), so a second chain over the same folder answers a repeated
        question without a model call; a store (`MemoryCache()`, ...) uses that store; None,
        none (docs/cache.md).
        """
        from llmkit.nodes.generation.nodes import BuildContext, Generate
        from llmkit.nodes.retrieval.corpus import Corpus
        from llmkit.nodes.retrieval.nodes import Embed, Fuse, KeywordSearch, Search

        chunking = {"chunk_size": chunk_size, "overlap": overlap}
        if isinstance(path_or_docs, (str, os.PathLike)):
            source = os.fspath(path_or_docs)
            corpus = Corpus(index if index is not None else _default_index(source),
                            source=source, embedder=embedder, **chunking)
        else:
            corpus = Corpus(index, embedder=embedder, **chunking)
            corpus.ingest_documents(path_or_docs)
        p = Pipeline("rag", inputs=["question"])
        p.add("embed", Embed(corpus.embedder), text="question")
        p.add("search", Search(corpus, k=k), vector="embed.vector")
        hits = "search.hits"
        if hybrid:
            p.add("keywords", KeywordSearch(corpus, k=k), query="question")
            p.add("fuse", Fuse(k=k), a="search.hits", b="keywords.hits")
            hits = "fuse.hits"
        p.add("context", BuildContext(max_chars=max_chars), hits=hits)
        prompt = {} if template is None else {"template": template}
        if system_prompt is not _UNSET:  # None: no system message
            prompt["system_prompt"] = system_prompt
        p.add("generate", Generate(_chat_model(llm, model), **prompt), question="question",
              context="context.text")
        p.outputs(answer="generate.answer", sources="context.sources")
        return cls(p, corpus, cache=_index_cache(corpus) if cache == "index" else cache)

    # -- asking -------------------------------------------------------------------------
    def query(self, question: str, *, on_event: OnEvent | None = None) -> Answer:
        """The answer to `question`; `on_event` gets the run's events (as `Pipeline.run`)."""
        return _answer(self.pipeline.run({"question": question}, cache=self.cache,
                                         on_event=on_event))

    async def aquery(self, question: str, *, on_event: OnEvent | None = None) -> Answer:
        return _answer(await self.pipeline.arun({"question": question}, cache=self.cache,
                                                on_event=on_event))

    def batch_query(self, questions: Sequence[str], *,
                    on_event: OnEvent | None = None) -> list[Answer]:
        """Answer every question concurrently, micro-batching embedding and search."""
        results = self.pipeline.run_many([{"question": q} for q in questions],
                                         cache=self.cache, on_event=on_event)
        return [_answer(r) for r in results]

    async def abatch_query(self, questions: Sequence[str], *,
                           on_event: OnEvent | None = None) -> list[Answer]:
        results = await self.pipeline.arun_many([{"question": q} for q in questions],
                                                cache=self.cache, on_event=on_event)
        return [_answer(r) for r in results]

    async def astream(self, question: str) -> AsyncIterator[str]:
        """The answer as it is generated: tokens from a streaming model, or the whole
        answer at once from one that does not stream (the extractive default)."""
        streamed = False
        async for event in self.pipeline.astream({"question": question}, cache=self.cache):
            if event.kind == "token":
                streamed = True
                yield event.data
            elif event.kind == "result" and not streamed:
                yield event.data["answer"]

    def stream(self, question: str) -> Iterator[str]:
        """Sync `astream`: pieces arrive as the background loop produces them."""
        yield from background.iterate(self.astream, question)


def _chat_model(llm: Any, model: str | None) -> Any:
    """`llm`, or an OpenAI-compatible chat model named `model`, or None (extractive)."""
    if model is None:
        return llm
    if llm is not None:
        raise ValueError("give llm= or model=, not both")
    from llmkit.nodes.backends.openai import OpenAIChat

    return OpenAIChat(model=model)


def _index_cache(corpus: Any) -> Any:
    """The cache beside `corpus`'s index: `<index>.cache.db`, or memory for no index path."""
    from llmkit.cache import MemoryCache, SQLiteCache

    if corpus.path is None:
        return MemoryCache()
    path = os.path.abspath(corpus.path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return SQLiteCache(f"{path}.cache.db")


def _default_index(source: str) -> str:
    """An index directory per source folder, so two folders never share one index."""
    absolute = os.path.abspath(source)
    digest = hashlib.blake2b(absolute.encode(), digest_size=4).hexdigest()
    return os.path.join(".llmkit", "indexes", f"{os.path.basename(absolute)}-{digest}")


def _answer(result: dict[str, Any]) -> Answer:
    return Answer(result["answer"], [Source(s["n"], s["id"], s.get("source", ""),
                                            float(s.get("score", 0.0)))
                                     for s in result["sources"]])
