"""OpenAI-compatible chat: a pipeline whose one input is `question` and whose outputs include
`answer` is a model named after the pipeline (a chat request has nothing to give another
input). The last user message is the question;
`stream: true` answers with `chat.completion.chunk` events carrying the answer node's tokens
as they come, then `data: [DONE]`."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from llmkit.core.pipeline import Pipeline
from llmkit.serve.bodies import Streamed, json_response, sse
from llmkit.serve.errors import ApiError, endpoint, error_body
from llmkit.serve.limits import parse_json, read_body
from llmkit.serve.observe import PIPELINE_KEY
from llmkit.serve.routes import check_inputs
from llmkit.serve.service import Service

__all__ = ["chat_models", "question", "routes"]


def chat_models(pipelines: Mapping[str, Pipeline]) -> list[str]:
    """The pipelines that can answer as a chat model."""
    return [name for name, p in pipelines.items()
            if list(p.inputs) == ["question"] and "answer" in p.output_map]


def question(messages: Any) -> str:
    """The text of the last user message (its text parts, for a list of parts)."""
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, list):
                    content = "".join(part.get("text", "") for part in content
                                      if isinstance(part, dict) and part.get("type") == "text")
                if isinstance(content, str):
                    return content
    raise ApiError(400, "invalid_request", "messages must hold a user message with text "
                                           "content")


@endpoint
async def models(request: Request) -> Any:
    service: Service = request.app.state.service
    return json_response({"object": "list", "data": [
        {"id": name, "object": "model", "created": 0, "owned_by": "llmkit"}
        for name in chat_models(service.pipelines)]})


@endpoint
async def completions(request: Request) -> Any:
    service: Service = request.app.state.service
    body = parse_json(await read_body(request, service.max_body))
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "expected a JSON object")
    name = body.get("model")
    if name not in chat_models(service.pipelines):
        raise ApiError(404, "model_not_found",
                       f"no model {name!r}: the chat models are the pipelines taking only "
                       "'question' and giving 'answer': "
                       f"{', '.join(chat_models(service.pipelines)) or 'none'}")
    request.scope[PIPELINE_KEY] = name
    p = service.pipelines[name]
    inputs = check_inputs(p, {"question": question(body.get("messages"))})
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if body.get("stream"):
        return Streamed(_chunks(service, name, p, inputs, ident, created), "text/event-stream")
    try:
        outputs = await p.arun(inputs, cache=service.cache)
    finally:
        service.metrics.ran(name)
    return json_response({
        "id": ident, "object": "chat.completion", "created": created, "model": name,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": _text(outputs["answer"])}}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}})


def _text(answer: Any) -> str:
    return answer if isinstance(answer, str) else str(answer)


async def _chunks(service: Service, name: str, p: Pipeline, inputs: dict[str, Any],
                  ident: str, created: int) -> AsyncIterator[bytes]:
    """The answer as chunks: the answering node's tokens, or (a node that does not stream)
    the whole answer at the end; an error as `{"error": ...}`; then `[DONE]`."""

    def chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
        return sse({"id": ident, "object": "chat.completion.chunk", "created": created,
                    "model": name, "choices": [{"index": 0, "delta": delta,
                                                "finish_reason": finish}]})

    answering = p.output_map["answer"].partition(".")[0]
    streamed = False
    yield chunk({"role": "assistant", "content": ""})
    try:
        async for event in p.astream(inputs, cache=service.cache):
            if event.kind == "token" and event.node == answering:
                streamed = True
                yield chunk({"content": event.data})
            elif event.kind == "result":
                if not streamed:
                    yield chunk({"content": _text(event.data["answer"])})
                yield chunk({}, "stop")
    except Exception as exc:
        yield sse(error_body(exc, service.scrub))
    finally:
        service.metrics.ran(name)
    yield sse("[DONE]")


def routes() -> list[Route]:
    return [Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"])]
