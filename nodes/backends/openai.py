"""Backends for any OpenAI-compatible API: OpenAI, vLLM, llama.cpp server, LM Studio, TEI,
Ollama's /v1. The base URL comes from $OPENAI_BASE_URL (default https://api.openai.com/v1), the
key from $OPENAI_API_KEY (none is sent when neither gives one).

Both take the constructor params of `HttpEmbedder` and `HttpChat` (llmkit.http.backends),
which they share with every vendor.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import httpx
import numpy as np

from llmkit.http.backends import HttpChat, HttpEmbedder, HttpModel, given, token_count
from llmkit.http.client import TransportChoice
from llmkit.http.errors import parse_json, unexpected_body
from llmkit.http.limits import DEFAULT_MAX_RESPONSE_BYTES
from llmkit.nodes.backends.tool_chat import CallPieces, ToolChat
from llmkit.nodes.protocols import ChatReply, ToolCall

__all__ = ["DEFAULT_BASE_URL", "OpenAIChat", "OpenAIEmbedder"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class _OpenAI(HttpModel):
    """The server is $OPENAI_BASE_URL or OpenAI's; the key, $OPENAI_API_KEY."""

    api = "openai"
    key_env = "OPENAI_API_KEY"

    @staticmethod
    def server_url(base_url: str | None) -> str:
        return base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL

    def _usage(self, body: Any) -> tuple[int, int] | None:
        usage = body.get("usage") if isinstance(body, dict) else None
        if not isinstance(usage, dict):
            return None
        return token_count(usage, "prompt_tokens"), token_count(usage, "completion_tokens")


class OpenAIEmbedder(_OpenAI, HttpEmbedder):
    """Embeddings from `POST /embeddings`.

    Vectors are asked for in base64 (float32 bytes: ~20x cheaper to decode than JSON
    floats); servers that ignore `encoding_format` and send floats are read as well.
    """

    path = "/embeddings"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        dim: int | None = None,
        max_inputs_per_request: int = 256,
        concurrency: int = 8,
        timeout: float | httpx.Timeout = 60.0,
        *,
        encoding_format: Literal["base64", "float"] = "base64",
        pooling: Literal["mean"] | None = None,
        deadline: float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_connections: int | None = None,
        transport: TransportChoice = "auto",
        retries: int = 0,
        price: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(model, base_url, api_key, dim, max_inputs_per_request, concurrency,
                         timeout, pooling=pooling, deadline=deadline,
                         max_response_bytes=max_response_bytes, max_connections=max_connections,
                         transport=transport, retries=retries, price=price)
        self._options["encoding_format"] = encoding_format

    def _vectors(self, body: Any, n: int) -> np.ndarray:
        try:
            data = body["data"]
            rows: list[Any] = [None] * n
            for i, item in enumerate(data):  # `index` says where each row goes
                rows[item.get("index", i)] = item["embedding"]
            if isinstance(rows[0], str):
                rows = [np.frombuffer(base64.b64decode(row), "<f4") for row in rows]
        except (KeyError, TypeError, AttributeError, binascii.Error, ValueError):
            raise unexpected_body(self._url, body, f"{n} embeddings") from None
        except IndexError:  # an `index` past the texts sent
            raise self._shape_error(f"{len(data)} embeddings for {n} texts") from None
        if len(data) != n or any(row is None for row in rows):
            raise self._shape_error(f"{len(data)} embeddings for {n} texts")
        return self._matrix(rows, n)


class OpenAIChat(_OpenAI, ToolChat, HttpChat):
    """Chat completions from `POST /chat/completions`, whole or streamed (SSE), with tools
    (`tools`, `tool_choice`; `tool_calls` in the reply, streamed ones assembled by index).

    A whole answer cut by `max_tokens` (`finish_reason: "length"`) is returned as it is: it is
    what was asked for, and `max_tokens` is in the fingerprint. A stream is complete at its
    `data: [DONE]`, or at a finish reason if the server sends no [DONE].
    """

    path = "/chat/completions"
    end_marker = "data: [DONE]"

    def _fixed_options(self) -> dict[str, Any]:
        return {"model": self.model, "temperature": self.temperature,
                **given(max_tokens=self.max_tokens, stop=self.stop, seed=self.seed)}

    def _payload(self, messages: list[Mapping[str, Any]], stream: bool) -> dict[str, Any]:
        if stream:  # a last chunk with the usage, before [DONE]
            return {**self._options, "messages": messages, "stream": True,
                    "stream_options": {"include_usage": True}}
        return {**self._options, "messages": messages, "stream": False}

    def _structured(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """`response_format: json_schema`, named by the schema's title (`output` without)."""
        name = re.sub(r"[^A-Za-z0-9_-]", "_", str(schema.get("title") or "output"))[:64]
        return {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": name, "schema": schema}}}

    def _reply(self, body: Any) -> str:
        try:
            return body["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise unexpected_body(self._url, body, "choices[0].message.content") from None

    def _piece(self, line: bytes) -> tuple[str, bool]:
        return self._tool_piece(line, None)

    def _tool_fields(self, tools: Sequence[Mapping[str, Any]],
                     tool_choice: Any) -> dict[str, Any]:
        return {"tools": list(tools), **given(tool_choice=tool_choice)}

    def _tool_reply(self, body: Any) -> ChatReply:
        text = self._reply(body)
        try:
            calls = body["choices"][0]["message"].get("tool_calls") or ()
            return ChatReply(text, tuple(
                ToolCall(call.get("id") or f"call_{i}", call["function"]["name"],
                         call["function"].get("arguments") or "{}")
                for i, call in enumerate(calls)))
        except (KeyError, TypeError, AttributeError):
            raise unexpected_body(self._url, body, "choices[0].message.tool_calls") from None

    def _tool_piece(self, line: bytes, calls: CallPieces | None) -> tuple[str, bool]:
        if not line.startswith(b"data:"):
            return "", False  # SSE comments (keep-alives), `event:` and `id:` fields
        data = line[5:].strip()
        if data == b"[DONE]":
            return "", True
        chunk = parse_json(data, self._url)
        self._meter(chunk)
        try:
            choices = chunk["choices"]
            if not choices:  # a usage chunk
                return "", False
            choice = choices[0]
            delta = choice.get("delta") or {}
            for piece in (delta.get("tool_calls") or ()) if calls is not None else ():
                function = piece.get("function") or {}
                calls.add(piece["index"], piece.get("id"), function.get("name"),
                          function.get("arguments"))
            return delta.get("content") or "", choice.get("finish_reason") is not None
        except (KeyError, IndexError, TypeError, AttributeError):
            raise unexpected_body(self._url, chunk, "choices[0].delta") from None
