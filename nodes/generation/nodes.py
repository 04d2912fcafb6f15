"""The generation nodes: prompt, build_context, generate and aggregate, each a thin adapter
from a component of this package (or a chat model) to the node contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmkit.core.events import emit_token, streaming
from llmkit.core.node import Node, Settings
from llmkit.core.registry import register
from llmkit.nodes.common import REMOTE_RETRY
from llmkit.nodes.generation.context import build_context
from llmkit.nodes.generation.extractive import ExtractiveGenerator
from llmkit.nodes.generation.prompt import compile_template
from llmkit.nodes.protocols import BatchGenerator, ChatModel
from llmkit.nodes.retrieval.embedders import tokenize

__all__ = ["Aggregate", "BuildContext", "Generate", "Prompt"]

SYSTEM_PROMPT = ("Answer the question using only the numbered context. Cite the passages you "
                 "use like [1]. If the context does not contain the answer, say so.")
USER_TEMPLATE = "Context:\n{context}\n\nQuestion: {question}"


@register("prompt")
class Prompt(Node):
    """Fill a `str.format` template: each `{name}` is an input port; the output is `text`.

    `{name!r}`, `{name:>8}`, `{name.attr}` and `{name[0]}` work as in `str.format`; write
    `{{` and `}}` for literal braces.
    """

    outputs = {"text": str}
    # Formatting is cheaper than a thread hop or a cache look-up.
    settings = Settings(inline=True, cache=False)

    def __init__(self, template: str) -> None:
        if not isinstance(template, str):
            raise TypeError(f"template must be a string, not {type(template).__name__}")
        self.template = template
        self._parts, names = compile_template(template)
        self._ports: dict[str, Any] = dict.fromkeys(names, Any)

    @property
    def inputs(self) -> dict[str, Any]:  # type: ignore[override]
        """One port per placeholder name in the template."""
        return self._ports

    def run(self, **values: Any) -> dict[str, Any]:  # type: ignore[override]
        return {"text": "".join([part if type(part) is str else part(values)  # type: ignore[operator]
                                 for part in self._parts])}



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

    With a `BatchGenerator` (the offline `extractive` default) a micro-batch is one call;
    with a `ChatModel` (`openai_chat`, `ollama_chat`) each item is one request, up to the
    node's concurrency, streamed token by token when someone listens (`astream`).
    """

    inputs = {"question": str, "context": str}
    outputs = {"answer": str}
    defaults = {"context": ""}
    # 100 requests in flight (the HTTP client's pool grows to match). At 64, 100
    # questions took two rounds of requests (bench/batch_query.py: 45x vs 54-70x).
    settings = Settings(retry=REMOTE_RETRY, concurrency=100)

    def __init__(self, llm: BatchGenerator | ChatModel | None = None,
                 system_prompt: str = SYSTEM_PROMPT, template: str = USER_TEMPLATE) -> None:
        self.llm = llm if llm is not None else ExtractiveGenerator()
        self.system_prompt, self.template = system_prompt, template
        self.deterministic = getattr(self.llm, "deterministic", True)

    def is_batch(self) -> bool:
        return isinstance(self.llm, BatchGenerator)

    def run_batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        llm: BatchGenerator = self.llm  # type: ignore[assignment]  (is_batch said so)
        answers = llm.generate_many([i["question"] for i in items],
                                    [i["context"] for i in items])
        return [{"answer": a} for a in answers]

    async def run(self, question: str, context: str) -> dict[str, Any]:
        llm: ChatModel = self.llm  # type: ignore[assignment]  (is_batch said otherwise)
        messages = [{"role": "system", "content": self.system_prompt},
                    {"role": "user", "content": self.template.format(question=question,
                                                                     context=context)}]
        if not streaming():
            return {"answer": await llm.agenerate(messages)}
        pieces = []
        async for piece in llm.astream(messages):
            emit_token(piece)
            pieces.append(piece)
        return {"answer": "".join(pieces)}


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
