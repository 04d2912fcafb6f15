"""The one registration point of the built-in node and resource types.

Importing this module registers everything; the registry imports it on first look-up.
Node types register themselves (`@register`) in their family's `nodes` module, imported
here; resource factories are the components' own classes, registered below: their keyword
arguments are the resource's params in a pipeline file. The HTTP backends are registered by
import path (`Deferred`) and imported when first looked up, so that a pipeline that uses
none of them never imports httpx or aiohttp.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from llmkit.core.registry import register_resource
from llmkit.nodes.agent import nodes as agent_nodes  # noqa: F401  (registers agent)
from llmkit.nodes.backends import nodes as backend_nodes  # noqa: F401  (registers web_search)
from llmkit.nodes.control import nodes as control_nodes  # noqa: F401  (route, coalesce)
from llmkit.nodes.generation import nodes as generation_nodes  # noqa: F401  (registers them)
from llmkit.nodes.generation.extractive import ExtractiveGenerator
from llmkit.nodes.retrieval import nodes as retrieval_nodes  # noqa: F401  (registers them)
from llmkit.nodes.retrieval.corpus import Corpus
from llmkit.nodes.retrieval.embedders import HashingEmbedder, SentenceTransformerEmbedder
from llmkit.nodes.retrieval.minilm import MiniLMEmbedder
from llmkit.nodes.retrieval.rerank import Rerank  # noqa: F401  (registers rerank)
from llmkit.nodes.retrieval.rerank_lexical import LexicalReranker

__all__ = ["Deferred"]


class Deferred:
    """A resource factory known by its `module:name` path, imported on first use;
    `llmkit.spec.catalog` swaps it for the factory itself when it is looked up."""

    def __init__(self, path: str) -> None:
        self.path = path

    def load(self) -> Callable[..., Any]:
        """The factory itself (importing its module)."""
        module, _, name = self.path.partition(":")
        return getattr(importlib.import_module(module), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.load()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Deferred({self.path!r})"


register_resource("corpus")(Corpus)
register_resource("hashing")(HashingEmbedder)
register_resource("sentence_transformers")(SentenceTransformerEmbedder)
register_resource("minilm")(MiniLMEmbedder)
register_resource("extractive")(ExtractiveGenerator)
register_resource("openai_embedder")(Deferred("llmkit.nodes.backends.openai:OpenAIEmbedder"))
register_resource("openai_chat")(Deferred("llmkit.nodes.backends.openai:OpenAIChat"))
register_resource("ollama_embedder")(Deferred("llmkit.nodes.backends.ollama:OllamaEmbedder"))
register_resource("ollama_chat")(Deferred("llmkit.nodes.backends.ollama:OllamaChat"))
register_resource("searx")(Deferred("llmkit.nodes.backends.websearch:SearxClient"))
register_resource("lexical_reranker")(LexicalReranker)
register_resource("http_reranker")(Deferred("llmkit.nodes.backends.rerank:HttpReranker"))
# Tools read pipeline files and node types by name: the spec layer builds them (llmkit.spec.tools).
register_resource("pipeline_tool")(Deferred("llmkit.spec.tools:pipeline_tool"))
register_resource("node_tool")(Deferred("llmkit.spec.tools:node_tool"))
register_resource("function_tool")(Deferred("llmkit.spec.tools:function_tool"))
