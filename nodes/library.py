"""The one registration point of the built-in node and resource types.

Importing this module registers everything; the registry imports it on first look-up.
Node types register themselves (`@register`) in their family's `nodes` module, imported
here; resource factories are the components' own classes, registered below: their keyword
arguments are the resource's params in a pipeline file.
"""

from llmkit.core.registry import register_resource
from llmkit.nodes.backends import nodes as backend_nodes  # noqa: F401  (registers web_search)
from llmkit.nodes.backends.ollama import OllamaChat, OllamaEmbedder
from llmkit.nodes.backends.openai import OpenAIChat, OpenAIEmbedder
from llmkit.nodes.backends.websearch import SearxClient
from llmkit.nodes.generation import nodes as generation_nodes  # noqa: F401  (registers them)
from llmkit.nodes.generation.extractive import ExtractiveGenerator
from llmkit.nodes.retrieval import nodes as retrieval_nodes  # noqa: F401  (registers them)
from llmkit.nodes.retrieval.corpus import Corpus
from llmkit.nodes.retrieval.embedders import HashingEmbedder, SentenceTransformerEmbedder

register_resource("corpus")(Corpus)
register_resource("hashing")(HashingEmbedder)
register_resource("sentence_transformers")(SentenceTransformerEmbedder)
register_resource("extractive")(ExtractiveGenerator)
register_resource("openai_embedder")(OpenAIEmbedder)
register_resource("openai_chat")(OpenAIChat)
register_resource("ollama_embedder")(OllamaEmbedder)
register_resource("ollama_chat")(OllamaChat)
register_resource("searx")(SearxClient)
