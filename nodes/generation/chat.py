"""What `generate` sends a chat model: its messages from templates, and a structured reply
asked for, checked and retried once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmkit.errors import BackendError
from llmkit.nodes.generation.prompt import Template, compile_template
from llmkit.nodes.generation.structured import Schema, SchemaMismatch
from llmkit.nodes.protocols import ChatModel

__all__ = ["chat_messages", "structured_reply"]


def chat_messages(system_prompt: str | None, template: str,
                  messages: Sequence[Mapping[str, str]] | None) -> tuple[tuple[str, Template], ...]:
    """(role, compiled content) per message: `messages` as given, else the system prompt
    (none when it is None) and the user template."""
    if messages is None:
        given = ([] if system_prompt is None else [("system", system_prompt, "system_prompt")])
        given.append(("user", template, "template"))
        return tuple((role, compile_template(text, what)) for role, text, what in given)
    if isinstance(messages, (str, Mapping)) or not messages:
        raise ValueError("messages must be a non-empty list of {role, content}")
    compiled = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or set(message) != {"role", "content"} or not (
                isinstance(message["role"], str)):
            raise ValueError(f"messages[{i}] must be {{role: system|user|assistant, content: "
                             f"TEMPLATE}}, not {message!r}")
        compiled.append((message["role"], compile_template(message["content"],
                                                           f"messages[{i}].content")))
    return tuple(compiled)


async def structured_reply(llm: ChatModel, messages: list[dict[str, Any]],
                           schema: Schema) -> dict[str, Any]:
    """The reply as `answer` (its JSON text), `data` (the object) and one value per top-level
    property; a reply that does not follow the schema is asked for once more, then is the
    run's error (never a result, so never cached)."""
    text = await llm.agenerate(messages, schema=schema.json)
    try:
        data = schema.parse(text)
    except SchemaMismatch:
        text = await llm.agenerate(messages, schema=schema.json)
        try:
            data = schema.parse(text)
        except SchemaMismatch as exc:
            raise BackendError(f"the reply does not follow the schema, twice: {exc}") from None
    return {"answer": text, "data": data, **{name: data.get(name)
                                            for name in schema.properties}}
