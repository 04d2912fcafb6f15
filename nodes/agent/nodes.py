"""The `agent` node: a bounded tool-calling loop with a chat model, inside one node, so the
graph around it stays acyclic.

Each step is one model call offered the tools. A reply with tool calls runs them (all of
one reply concurrently), appends their results as `role: tool` messages and takes another
step; a reply without is the answer. A tool that fails (an exception, bad arguments, an
unknown name, its timeout) is reported to the model as an error result, and the loop goes on.
A model call that fails (after its retries) fails the run, and so does reaching `max_steps`
without an answer: only an answer the model gave is a result, so only a completed loop is
cached, and only when none of its tool calls failed (else the answer is `Uncached`: the
failure may pass, and a re-run should ask again). The final answer streams token by token
when someone listens (`astream`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import anyio

from llmkit.core.events import emit_token, streaming
from llmkit.core.node import Node, Settings, Uncached
from llmkit.core.registry import register
from llmkit.core.retry import Retry
from llmkit.core.shared import run_cache
from llmkit.errors import BackendError
from llmkit.nodes.agent.tools import Tool
from llmkit.nodes.protocols import ChatReply, ToolCall, ToolChatModel
from llmkit.values import jsonable

__all__ = ["Agent", "StepLimitError"]

SYSTEM_PROMPT = ("Answer the question. Call the tools you are given when they help; cite what "
                 "they return. When you have the answer, reply with it and call no tool.")
SUMMARY_CHARS = 300  # of a tool's result, in the `steps` trace


class StepLimitError(BackendError):
    """The model still called tools after `max_steps` steps."""


@register("agent")
class Agent(Node):
    """A tool-calling loop: `question` (with optional `context` and earlier `messages`) in,
    `answer` and `steps` (per tool call: step, tool, arguments, result or error) out.

    `tools` are `Tool`s (`pipeline_tool`, `node_tool`, `function_tool` resources in a file);
    `max_steps` bounds the model calls, `step_timeout` each model call and tool call (seconds),
    `retries` the extra attempts of each after a retryable failure or a timeout.
    """

    inputs = {"question": str, "context": str, "messages": list}
    outputs = {"answer": str, "steps": list}
    defaults = {"context": "", "messages": []}
    version = "1"
    # The loop retries its own calls; the engine must not rerun a loop whose tokens it showed.
    settings = Settings(concurrency=100)

    def __init__(self, llm: ToolChatModel, tools: Sequence[Tool] = (),
                 system_prompt: str | None = SYSTEM_PROMPT, max_steps: int = 8,
                 step_timeout: float | None = None, retries: int = 1,
                 tool_choice: str | None = None) -> None:
        if not isinstance(llm, ToolChatModel):
            raise TypeError(f"llm must be a chat model that calls tools (openai_chat, "
                            f"ollama_chat), not {type(llm).__name__}")
        tools = list(tools)
        if not all(isinstance(t, Tool) for t in tools):
            raise TypeError("tools must be tools: pipeline_tool, node_tool or function_tool "
                            "resources ($name)")
        names = [t.name for t in tools]
        if len(set(names)) != len(names):
            raise ValueError(f"two tools have the same name: {', '.join(names)}")
        if not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be an integer >= 1, not {max_steps!r}")
        if step_timeout is not None and step_timeout <= 0:
            raise ValueError(f"step_timeout must be > 0 seconds, not {step_timeout!r}")
        if not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an integer >= 0, not {retries!r}")
        self.llm, self.tools = llm, {t.name: t for t in tools}
        self.system_prompt, self.max_steps = system_prompt, max_steps
        self.step_timeout, self.tool_choice = step_timeout, tool_choice
        self._retry = Retry(attempts=retries + 1)
        self._specs = [t.spec() for t in tools]
        self.deterministic = getattr(llm, "deterministic", True)

    async def run(self, question: str, context: str = "",  # type: ignore[override]
                  messages: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
        history = self._start(question, context, messages)
        steps: list[dict[str, Any]] = []
        cache = run_cache()
        for step in range(1, self.max_steps + 1):
            reply = await self._retry.call(self._ask, history)
            if not reply.tool_calls:
                result = {"answer": reply.text, "steps": steps}
                return Uncached(result) if any("error" in s for s in steps) else result
            history.append({"role": "assistant", "content": reply.text or None,
                            "tool_calls": [_call_message(c) for c in reply.tool_calls]})
            results = await self._use_all(reply.tool_calls, step, cache)
            for call, (content, record) in zip(reply.tool_calls, results, strict=True):
                history.append({"role": "tool", "tool_call_id": call.id, "content": content})
                steps.append(record)
        raise StepLimitError(f"no answer after max_steps={self.max_steps} steps (the model "
                             f"still called {', '.join(c.name for c in reply.tool_calls)}): "
                             "raise max_steps, or give it tools that answer sooner")

    def _start(self, question: str, context: str,
               messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        history = [] if self.system_prompt is None else [
            {"role": "system", "content": self.system_prompt}]
        history += [dict(m) for m in messages]
        history.append({"role": "user", "content": f"Context:\n{context}\n\nQuestion: "
                                                   f"{question}" if context else question})
        return history

    async def _ask(self, history: list[dict[str, Any]]) -> ChatReply:
        """One model call, streaming its text when someone listens."""
        with anyio.fail_after(self.step_timeout):
            return await self.llm.achat(history, tools=self._specs, tool_choice=self.tool_choice,
                                        on_text=emit_token if streaming() else None)

    async def _use_all(self, calls: Sequence[ToolCall], step: int,
                       cache: Any) -> list[tuple[str, dict[str, Any]]]:
        """`_use` of every call of one reply, all at once."""
        results: list[tuple[str, dict[str, Any]]] = [("", {})] * len(calls)

        async def use(i: int) -> None:
            results[i] = await self._use(calls[i], step, cache)

        async with anyio.create_task_group() as tg:
            for i in range(len(calls)):
                tg.start_soon(use, i)
        return results

    async def _use(self, call: ToolCall, step: int, cache: Any) -> tuple[str, dict[str, Any]]:
        """The tool result message's content and the trace record of one call; a failure of
        any kind is the model's to read, not the run's."""
        record: dict[str, Any] = {"step": step, "tool": call.name, "arguments": call.arguments}
        try:
            tool = self.tools.get(call.name)
            if tool is None:
                raise LookupError(f"no tool named {call.name!r}; the tools are "
                                  f"{', '.join(self.tools) or 'none'}")
            arguments = json.loads(call.arguments or "{}")
            if not isinstance(arguments, dict):
                raise ValueError("the arguments must be a JSON object")
            record["arguments"] = arguments
            outputs = await self._retry.call(self._timed, tool, arguments, cache)
        except Exception as exc:  # the model reads it, and may try otherwise
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            record["error"] = error
            return json.dumps({"error": error}), record
        content = json.dumps(outputs, default=jsonable, ensure_ascii=False)
        record["result"] = content if len(content) <= SUMMARY_CHARS else \
            content[:SUMMARY_CHARS] + "..."
        return content, record

    async def _timed(self, tool: Tool, arguments: dict[str, Any], cache: Any) -> dict[str, Any]:
        with anyio.fail_after(self.step_timeout):
            return await tool.call(arguments, cache)


def _call_message(call: ToolCall) -> dict[str, Any]:
    """A tool call as the assistant message that asked for it carries it (OpenAI's form)."""
    return {"id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": call.arguments}}
