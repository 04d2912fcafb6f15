"""What the nodes ask of the components they adapt, as `typing.Protocol`s.

Any object with these methods works (no base class to inherit). The runtime-checkable ones
are the choices a node makes by what a component can do: embed in a thread or on the event
loop, answer a whole micro-batch at once or one chat request per item.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from llmkit.core.ports import named

__all__ = ["AsyncEmbedder", "BatchGenerator", "ChatModel", "ChatReply", "Embedder", "Hit", "Hits",
           "Ingester", "Messages", "TextSearcher", "TokenCounter", "ToolCall", "ToolChatModel",
           "VectorSearcher"]

#: A search result: `{"id": str, "score": float, "metadata": dict}` (plus `text` for chunks).
Hit = dict[str, Any]
#: The port type of search results, best first (shown as `Hits` in messages and listings).
Hits = named("Hits", list[Hit])
Messages = str | Sequence[Mapping[str, Any]]


@runtime_checkable
class Embedder(Protocol):
    """Embeds in the calling thread (offline models): an (n, dim) float32 array, row i for
    text i. `dim`, when known, is the width of a row."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class AsyncEmbedder(Protocol):
    """Embeds on the event loop (HTTP backends, which also close their connections with
    `aclose()`)."""

    async def aembed(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class BatchGenerator(Protocol):
    """Answers a whole micro-batch of questions, each from its context, in one call."""

    def generate_many(self, questions: Sequence[str], contexts: Sequence[str]) -> list[str]: ...


class ChatModel(Protocol):
    """A chat model: the whole answer (following the JSON Schema `schema` when given), or its
    pieces as they arrive."""

    async def agenerate(self, messages_or_prompt: Messages, *,
                        schema: Mapping[str, Any] | None = None) -> str: ...

    def astream(self, messages_or_prompt: Messages) -> AsyncIterator[str]: ...


@dataclass(frozen=True)
class ToolCall:
    """A function the model asks to call: `arguments` is the JSON text it wrote."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ChatReply:
    """A chat model's turn: its text, and the tool calls it asks for (none: a final answer)."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()


@runtime_checkable
class ToolChatModel(Protocol):
    """A chat model that can call tools (`agent`): `tools` are OpenAI-style function entries
    (`{"type": "function", "function": {name, description, parameters}}`), messages may hold
    assistant `tool_calls` and `role: tool` results; `on_text`, when given, receives the
    reply's text as it is streamed."""

    async def achat(self, messages: Messages, *, tools: Sequence[Mapping[str, Any]],
                    tool_choice: Any = None,
                    on_text: Callable[[str], None] | None = None) -> ChatReply: ...


@runtime_checkable
class TokenCounter(Protocol):
    """Counts a text's tokens as a model's tokenizer does, so that chunks sized in tokens
    (`split` with `unit: tokens`) fit the model's window."""

    def count_tokens(self, text: str) -> int: ...


class VectorSearcher(Protocol):
    """An index searched by vector (`search`): top-k hits per query row, best first."""

    def search(self, vectors: np.ndarray, k: int,
               filter: Mapping[str, Any] | None = None) -> list[list[Hit]]: ...


class TextSearcher(Protocol):
    """An index searched by text (`keyword_search`): top-k hits per query, best first."""

    def keyword_search(self, queries: Sequence[str], k: int,
                       filter: Mapping[str, Any] | None = None) -> list[list[Hit]]: ...


class Ingester(Protocol):
    """An index kept in step with a folder (`ingest`), which reports what it did."""

    def ingest(self, source: str) -> Any: ...
