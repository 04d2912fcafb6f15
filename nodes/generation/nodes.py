"""The generation nodes: prompt, build_context, generate and aggregate, each a thin adapter
from a component of this package (or a chat model) to the node contract.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmkit.core.events import emit_token, streaming
from llmkit.core.node import Node, Settings
from llmkit.core.registry import register
from llmkit.nodes.common import REMOTE_RETRY
from llmkit.nodes.generation.chat import chat_messages, structured_reply
from llmkit.nodes.generation.context import build_context, hit_block
from llmkit.nodes.generation.extractive import ExtractiveGenerator
from llmkit.nodes.generation.prompt import compile_template
from llmkit.nodes.generation.structured import Schema
from llmkit.nodes.protocols import BatchGenerator, ChatModel, Hits
from llmkit.nodes.retrieval.embedders import tokenize

__all__ = ["Aggregate", "BuildContext", "Generate", "Prompt"]

SYSTEM_PROMPT = ("Answer the question using only the numbered context. Cite the passages you "
                 "use like [1]. If the context does not contain the answer, say so.")
USER_TEMPLATE = "Context:\n{context}\n\nQuestion: {question}"


@register("prompt")
class Prompt(Node):
    """Fill a template; each variable is an input port, the output is `text`.

    `{name}` fields, or Jinja2 (`{{ name }}`, `{% for %}`, `{% if %}`, filters) run in a
    sandbox: see docs/yaml.md, "Templates".
    """

    outputs = {"text": str}
    # Formatting is cheaper than a thread hop or a cache look-up.
    settings = Settings(inline=True, cache=False)

    def __init__(self, template: str) -> None:
        self.template = template
        self._template = compile_template(template)
        self._ports: dict[str, Any] = dict.fromkeys(self._template.names, Any)

    @property
    def inputs(self) -> dict[str, Any]:  # type: ignore[override]
        """One port per placeholder name in the template."""
        return self._ports

    def run(self, **values: Any) -> dict[str, Any]:  # type: ignore[override]
        return {"text": self._template.render(values)}


@register("build_context")
class BuildContext(Node):
    """Numbered, deduplicated context within a character budget, best hit first."""

    inputs = {"hits": Hits}
    outputs = {"text": str, "sources": list}
    settings = Settings(inline=True)

    def __init__(self, max_chars: int = 4000, dedupe_threshold: float = 0.9,
                 max_tokens: int | None = None, tokenizer: Any = None,
                 template: str | None = None, separator: str = "\n\n") -> None:
        """`max_tokens` adds a token budget, counted by `tokenizer.count_tokens(text)` when
        a tokenizer is configured, else approximately as words. `template` lays out each
        hit (default `[{n}] {text}`; see `HIT_FIELDS`), `separator` goes between them."""
        self.max_chars, self.dedupe_threshold = max_chars, dedupe_threshold
        self.max_tokens, self.tokenizer = max_tokens, tokenizer
        self._count = (tokenizer.count_tokens if tokenizer is not None
                       else lambda text: len(tokenize(text)))
        if not isinstance(separator, str):
            raise TypeError(f"separator must be a string, not {type(separator).__name__}")
        self._layout = {"separator": separator,
                        "block": None if template is None else hit_block(template)}

    def run(self, hits: list[dict[str, Any]]) -> dict[str, Any]:
        if self.max_tokens is None:
            return build_context(hits, self.max_chars, self.dedupe_threshold, **self._layout)
        return build_context(hits, self.max_chars, self.dedupe_threshold,
                             count_tokens=self._count, max_tokens=self.max_tokens,
                             **self._layout)


@register("generate")
class Generate(Node):
    """An answer from a chat model, or offline from the context.

    With a `BatchGenerator` (the offline `extractive` default) a micro-batch is one call
    on `question` and `context`; with a `ChatModel` (`openai_chat`, `ollama_chat`) each item
    is one request, up to the node's concurrency, streamed token by token when someone
    listens (`astream`). Its input ports are then `question`, `context` and the variables of
    `system_prompt` and `template` (or of `messages`, which replaces both), each optional
    but those the templates use; `schema` asks for JSON that follows it, checked, with one
    output port per top-level property (docs/backends.md).
    """

    inputs = {"question": str, "context": str}
    outputs = {"answer": str}
    defaults = {"context": ""}
    # 100 requests in flight (the HTTP client's pool grows to match). At 64, 100
    # questions took two rounds of requests (bench/batch_query.py: 45x vs 54-70x).
    settings = Settings(retry=REMOTE_RETRY, concurrency=100)

    def __init__(self, llm: BatchGenerator | ChatModel | None = None,
                 system_prompt: str | None = SYSTEM_PROMPT, template: str = USER_TEMPLATE,
                 messages: Sequence[Mapping[str, str]] | None = None,
                 schema: Any = None) -> None:
        self.llm = llm if llm is not None else ExtractiveGenerator()
        self.system_prompt, self.template = system_prompt, template
        self.deterministic = getattr(self.llm, "deterministic", True)
        self._schema = None if schema is None else Schema(schema)
        if self.is_batch():
            if schema is not None:
                raise ValueError(f"schema: {type(self.llm).__name__} answers in plain text and "
                                 "cannot follow a schema: give llm: a chat model "
                                 "(openai_chat, ollama_chat)")
            return
        if messages is not None and (system_prompt != SYSTEM_PROMPT
                                     or template != USER_TEMPLATE):
            raise ValueError("messages replaces system_prompt and template: give one or the "
                             "other")
        self._messages = chat_messages(system_prompt, template, messages)
        names = dict.fromkeys(name for _, t in self._messages for name in t.names)
        # question and context stay ports (files wire them), optional when unused
        self.inputs = {**Generate.inputs, **{n: Any for n in names if n not in Generate.inputs}}
        self.defaults = {"context": "", **({} if "question" in names else {"question": ""})}
        if self._schema is not None:
            self.outputs = {"answer": str, "data": dict,
                            **dict.fromkeys(self._schema.properties, Any)}

    def is_batch(self) -> bool:
        return isinstance(self.llm, BatchGenerator)

    def describe(self) -> dict[str, Any]:
        """A Pydantic `schema` counts as the JSON Schema it stands for."""
        described = super().describe()
        if self._schema is not None:
            described["params"]["schema"] = self._schema.json
        return described

    def run_batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        llm: BatchGenerator = self.llm  # type: ignore[assignment]  (is_batch said so)
        answers = llm.generate_many([i["question"] for i in items],
                                    [i["context"] for i in items])
        return [{"answer": a} for a in answers]

    async def run(self, **values: Any) -> dict[str, Any]:  # type: ignore[override]
        llm: ChatModel = self.llm  # type: ignore[assignment]  (is_batch said otherwise)
        messages = [{"role": role, "content": t.render(values)} for role, t in self._messages]
        if self._schema is not None:
            return await structured_reply(llm, messages, self._schema)
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

    Its input ports are the names it is wired with (`inputs: {optimist: optimist.answer,
    ...}`), in that order; `sources` fixes them instead. A final node usually combines the
    joined text."""

    outputs = {"text": str}
    settings = Settings(inline=True)

    def __init__(self, sources: Sequence[str] | None = None,
                 template: str = "## {name}\n{text}", separator: str = "\n\n") -> None:
        if sources is not None and not sources:
            raise ValueError("aggregate needs at least one source port")
        self.sources, self.separator = sources, separator
        self._template = compile_template(template, "aggregate template")
        if not set(self._template.names) <= {"name", "text"}:
            raise ValueError(f"aggregate template: variables are name and text, not "
                             f"{', '.join(self._template.names)}")
        self.inputs = dict.fromkeys(sources or (), str)

    def accepts_input(self, port: str) -> bool:
        """Without `sources`, any port may be wired: each one wired is one more source."""
        return self.sources is None and port.isidentifier()

    def input_type(self, port: str) -> Any:
        return str

    def run(self, **texts: str) -> dict[str, Any]:
        """The texts in the order of `sources`, else in the order they are wired (the order
        the scheduler passes them)."""
        return {"text": self.separator.join(
            self._template.render({"name": name, "text": texts[name]})
            for name in (self.sources or texts))}

