"""The retrieval-augmented generation nodes: load, split, ingest, embed, search, fuse,
build_context, generate and web_search, each a thin adapter from a component to the node
contract. Batchable work (embedding, search, extractive answers) takes whole micro-batches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import anyio.to_thread
import numpy as np

from llmkit.core.events import emit_token, streaming
from llmkit.core.node import Node, Retry, Settings
from llmkit.core.registry import register
from llmkit.nodes.context import build_context
from llmkit.nodes.corpus import Corpus
from llmkit.nodes.documents import DEFAULT_PATTERNS, load_files, split
from llmkit.nodes.embedders import HashingEmbedder, tokenize
from llmkit.nodes.extractive import ExtractiveGenerator

__all__ = ["Aggregate", "BuildContext", "Embed", "Fuse", "Generate", "Ingest", "KeywordSearch",
           "LoadFiles", "Search", "Split", "WebSearchNode"]

# Nodes that may call a server retry what the server says is worth retrying (429, 5xx,
# timeouts, resets: `RetryableError`); offline components never raise it.
REMOTE_RETRY = Retry(attempts=4, backoff=0.2, max_backoff=10.0)

SYSTEM_PROMPT = ("Answer the question using only the numbered context. Cite the passages you "
                 "use like [1]. If the context does not contain the answer, say so.")
USER_TEMPLATE = "Context:\n{context}\n\nQuestion: {question}"


@register("load_files")
class LoadFiles(Node):
    """Documents from a file, folder or glob; unreadable files are reported, not fatal."""

    inputs = {"path": str}
    outputs = {"documents": list, "problems": list}
    deterministic = False  # the files behind a path change; their path does not

    def __init__(self, patterns: Sequence[str] = DEFAULT_PATTERNS) -> None:
        self.patterns = tuple(patterns)

    def run(self, path: str) -> dict[str, Any]:
        loaded = load_files(path, self.patterns)
        return {"documents": loaded.documents, "problems": loaded.problems}


@register("split")
class Split(Node):
    """Chunks of about `size` characters with `overlap`, cut at natural boundaries."""

    inputs = {"documents": list}
    outputs = {"chunks": list}

    def __init__(self, size: int = 800, overlap: int = 120) -> None:
        self.size, self.overlap = size, overlap

    def run(self, documents: list[dict[str, Any]]) -> dict[str, Any]:
        return {"chunks": [c for doc in documents for c in split(doc, self.size, self.overlap)]}


@register("ingest")
class Ingest(Node):
    """Brings an index in step with a folder (incremental, atomic); outputs the report."""

    inputs = {"path": str}
    outputs = {"report": dict}
    deterministic = False

    def __init__(self, index: Corpus) -> None:
        self.index = index

    def run(self, path: str) -> dict[str, Any]:
        return {"report": asdict(self.index.ingest(path))}


@register("embed")
class Embed(Node):
    """One vector per text; a micro-batch is one embedder call (one request, one product)."""

    inputs = {"text": str}
    outputs = {"vector": np.ndarray}
    settings = Settings(max_batch=256, retry=REMOTE_RETRY)

    def __init__(self, embedder: Any = None) -> None:
        self.embedder = embedder if embedder is not None else HashingEmbedder()

    async def run_batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        texts = [item["text"] for item in items]
        if hasattr(self.embedder, "aembed"):
            matrix = await self.embedder.aembed(texts)
        else:
            matrix = await anyio.to_thread.run_sync(self.embedder.embed, texts)
        return [{"vector": row} for row in matrix]


def _check_k(k: int) -> int:
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, not {k!r}")
    return k


@register("search")
class Search(Node):
    """Top-k chunks by vector similarity: one blockwise product for the whole micro-batch."""

    inputs = {"vector": np.ndarray}
    outputs = {"hits": list}
    settings = Settings(max_batch=1024, concurrency=2)

    def __init__(self, index: Corpus, k: int = 4, filter: Mapping[str, Any] | None = None):
        self.index, self.k, self.filter = index, _check_k(k), filter

    def run_batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        hits = self.index.search(np.stack([item["vector"] for item in items]), self.k,
                                 self.filter)
        return [{"hits": h} for h in hits]


@register("keyword_search")
class KeywordSearch(Node):
    """Top-k chunks by BM25 for the query text, a micro-batch at a time."""

    inputs = {"query": str}
    outputs = {"hits": list}
    settings = Settings(max_batch=1024, concurrency=2)

    def __init__(self, index: Corpus, k: int = 4, filter: Mapping[str, Any] | None = None):
        self.index, self.k, self.filter = index, _check_k(k), filter

    def run_batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        hits = self.index.keyword_search([item["query"] for item in items], self.k, self.filter)
        return [{"hits": h} for h in hits]


@register("fuse")
class Fuse(Node):
    """Reciprocal rank fusion of two hit lists (hybrid search): score = Σ 1 / (rrf_k + rank)."""

    inputs = {"a": list, "b": list}
    outputs = {"hits": list}
    settings = Settings(inline=True)

    def __init__(self, k: int = 4, rrf_k: int = 60) -> None:
        self.k, self.rrf_k = _check_k(k), rrf_k

    def run(self, a: list[dict[str, Any]], b: list[dict[str, Any]]) -> dict[str, Any]:
        scores: dict[str, float] = {}
        first: dict[str, dict[str, Any]] = {}
        for hits in (a, b):
            for rank, hit in enumerate(hits, 1):
                scores[hit["id"]] = scores.get(hit["id"], 0.0) + 1.0 / (self.rrf_k + rank)
                first.setdefault(hit["id"], hit)
        best = sorted(scores, key=lambda i: -scores[i])[:self.k]
        return {"hits": [{**first[i], "score": scores[i]} for i in best]}


@register("build_context")
class BuildContext(Node):
    """Numbered, deduplicated context within a character budget, best hit first."""

    inputs = {"hits": list}
    outputs = {"text": str, "sources": list}
    settings = Settings(inline=True)

    def __init__(self, max_chars: int = 4000, dedupe_threshold: float = 0.9,
                 max_tokens: int | None = None, tokenizer: Any = None) -> None:
        """`max_tokens` adds a token budget, counted by `tokenizer.count_tokens(text)` when
        a tokenizer is configured, else approximately as words."""
        self.max_chars, self.dedupe_threshold = max_chars, dedupe_threshold
        self.max_tokens, self.tokenizer = max_tokens, tokenizer
        self._count = (tokenizer.count_tokens if tokenizer is not None
                       else lambda text: len(tokenize(text)))

    def run(self, hits: list[dict[str, Any]]) -> dict[str, Any]:
        if self.max_tokens is None:
            return build_context(hits, self.max_chars, self.dedupe_threshold)
        return build_context(hits, self.max_chars, self.dedupe_threshold,
                             count_tokens=self._count, max_tokens=self.max_tokens)


@register("generate")
class Generate(Node):
    """An answer to the question from the context.

    With a batch-capable generator (the offline `extractive` default) a micro-batch is one
    call; with a chat model (`openai_chat`, `ollama_chat`) each item is one request, up to
    the node's concurrency, streamed token by token when someone listens (`astream`).
    """

    inputs = {"question": str, "context": str}
    outputs = {"answer": str}
    defaults = {"context": ""}
    # 100 requests in flight (the HTTP client's pool grows to match). At 64, 100
    # questions took two rounds of requests (bench/batch_query.py: 45x vs 54-70x).
    settings = Settings(retry=REMOTE_RETRY, concurrency=100)

    def __init__(self, llm: Any = None, system_prompt: str = SYSTEM_PROMPT,
                 template: str = USER_TEMPLATE) -> None:
        self.llm = llm if llm is not None else ExtractiveGenerator()
        self.system_prompt, self.template = system_prompt, template
        self.deterministic = getattr(self.llm, "deterministic", True)

    def is_batch(self) -> bool:
        return hasattr(self.llm, "generate_many")

    def run_batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answers = self.llm.generate_many([i["question"] for i in items],
                                         [i["context"] for i in items])
        return [{"answer": a} for a in answers]

    async def run(self, question: str, context: str) -> dict[str, Any]:
        messages = [{"role": "system", "content": self.system_prompt},
                    {"role": "user", "content": self.template.format(question=question,
                                                                     context=context)}]
        if not streaming():
            return {"answer": await self.llm.agenerate(messages)}
        pieces = []
        async for piece in self.llm.astream(messages):
            emit_token(piece)
            pieces.append(piece)
        return {"answer": "".join(pieces)}


@register("web_search")
class WebSearchNode(Node):
    """Web results for the query from a SearxNG-style JSON API, shaped like search hits."""

    inputs = {"query": str}
    outputs = {"hits": list}
    deterministic = False  # the web changes
    settings = Settings(retry=REMOTE_RETRY)

    def __init__(self, client: Any = None, k: int = 5) -> None:
        if client is None:
            from llmkit.nodes.websearch import SearxClient

            client = SearxClient()
        self.client, self.k = client, _check_k(k)

    async def run(self, query: str) -> dict[str, Any]:
        return {"hits": await self.client.asearch(query, k=self.k)}


@register("aggregate")
class Aggregate(Node):
    """Fan-in: the texts of several nodes (agents' answers), joined under their names.

    Its input ports are the names in `sources` (by default `a` and `b`); a final node
    usually combines the joined text."""

    inputs = {"a": str, "b": str}  # the default `sources`; each instance sets its own
    outputs = {"text": str}
    settings = Settings(inline=True)

    def __init__(self, sources: Sequence[str] = ("a", "b"),
                 template: str = "## {name}\n{text}", separator: str = "\n\n") -> None:
        if not sources:
            raise ValueError("aggregate needs at least one source port")
        self.sources, self.template, self.separator = list(sources), template, separator
        self.inputs = {name: str for name in self.sources}

    def run(self, **texts: str) -> dict[str, Any]:
        return {"text": self.separator.join(self.template.format(name=name, text=texts[name])
                                            for name in self.sources)}
