"""The built-in node and resource types, registered under their short names.

Importing this module registers everything; the registry imports it on first look-up.
Resource factories are the components' own classes: their keyword arguments are the
resource's params in a pipeline file.
"""

from llmkit.core.registry import register_resource
from llmkit.nodes import rag  # noqa: F401  (registers the RAG node types)
from llmkit.nodes.corpus import Corpus
from llmkit.nodes.embedders import HashingEmbedder, SentenceTransformerEmbedder
from llmkit.nodes.extractive import ExtractiveGenerator
from llmkit.nodes.ollama import OllamaChat, OllamaEmbedder
from llmkit.nodes.openai import OpenAIChat, OpenAIEmbedder
from llmkit.nodes.websearch import SearxClient

register_resource("corpus")(Corpus)
register_resource("hashing")(HashingEmbedder)
register_resource("sentence_transformers")(SentenceTransformerEmbedder)
register_resource("extractive")(ExtractiveGenerator)
register_resource("openai_embedder")(OpenAIEmbedder)
register_resource("openai_chat")(OpenAIChat)
register_resource("ollama_embedder")(OllamaEmbedder)
register_resource("ollama_chat")(OllamaChat)
register_resource("searx")(SearxClient)
