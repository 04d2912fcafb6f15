"""Backends for Ollama's native API (`/api/embed`, `/api/chat` with NDJSON streaming).

The server comes from $OLLAMA_HOST as Ollama's own CLI reads it ("host", "host:port" or a
URL; default http://127.0.0.1:11434); a key, for hosted Ollama, from $OLLAMA_API_KEY.
For Ollama's OpenAI-compatible /v1, use the backends in openai.py with
base_url=http://host:11434/v1. Both take the constructor params of `HttpEmbedder` and
`HttpChat` (llmkit.http.backends), which they share with every vendor.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import numpy as np

from llmkit.http.backends import HttpChat, HttpEmbedder, HttpModel, given, token_count
from llmkit.http.errors import parse_json, unexpected_body
from llmkit.nodes.backends.tool_chat import CallPieces, ToolChat
from llmkit.nodes.protocols import ChatReply

__all__ = ["DEFAULT_PORT", "OllamaChat", "OllamaEmbedder", "ollama_base_url"]

DEFAULT_PORT = 11434


def ollama_base_url(host: str | None = None) -> str:
    """The base URL for `host` (or $OLLAMA_HOST): no scheme means http and port 11434."""
    host = (host or os.environ.get("OLLAMA_HOST") or "").strip() or "127.0.0.1"
    if "://" in host:
        return host.rstrip("/")
    url = httpx.URL(f"http://{host}")
    return str(url if url.port else url.copy_with(port=DEFAULT_PORT)).rstrip("/")


class _Ollama(HttpModel):
    """The server is `ollama_base_url(base_url)`; the key, $OLLAMA_API_KEY."""

    api = "ollama"
    key_env = "OLLAMA_API_KEY"
    server_url = staticmethod(ollama_base_url)

    def _usage(self, body: Any) -> tuple[int, int] | None:
        """`prompt_eval_count` and `eval_count`, in a whole answer, a stream's last line and
        an embedding response."""
        if not isinstance(body, dict) or not ({"prompt_eval_count", "eval_count"} & body.keys()):
            return None
        return token_count(body, "prompt_eval_count"), token_count(body, "eval_count")


class OllamaEmbedder(_Ollama, HttpEmbedder):
    """Embeddings from `POST /api/embed` (`dim`, when given, is sent as `dimensions`)."""

    path = "/api/embed"

    def _vectors(self, body: Any, n: int) -> np.ndarray:
        try:
            rows = body["embeddings"]
        except (KeyError, TypeError):
            raise unexpected_body(self._url, body, f"{n} embeddings") from None
        if not isinstance(rows, list):
            raise unexpected_body(self._url, body, f"{n} embeddings")
        return self._matrix(rows, n)


class OllamaChat(_Ollama, ToolChat, HttpChat):
    """Chat from `POST /api/chat`, whole or streamed (one JSON object per line, the last one
    with `"done": true`), with `tools` (`message.tool_calls`, arguments as an object; Ollama
    has no `tool_choice`, so only "auto" or none is accepted)."""

    path = "/api/chat"
    end_marker = '"done": true'

    def _fixed_options(self) -> dict[str, Any]:
        return {"temperature": self.temperature,
                **given(num_predict=self.max_tokens, stop=self.stop, seed=self.seed)}

    def _payload(self, messages: list[Mapping[str, Any]], stream: bool) -> dict[str, Any]:
        return {"model": self.model, "messages": messages, "stream": stream,
                "options": self._options}

    def _structured(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """Ollama takes the JSON Schema itself as `format`."""
        return {"format": dict(schema)}

    def _reply(self, body: Any) -> str:
        try:
            return body["message"]["content"] or ""
        except (KeyError, TypeError):
            raise unexpected_body(self._url, body, "message.content") from None

    def _piece(self, line: bytes) -> tuple[str, bool]:
        event = parse_json(line, self._url)
        self._meter(event)
        return self._reply(event), event.get("done") is True

    def _tool_fields(self, tools: Sequence[Mapping[str, Any]],
                     tool_choice: Any) -> dict[str, Any]:
        if tool_choice not in (None, "auto"):
            raise ValueError(f"ollama_chat has no tool_choice {tool_choice!r}: leave it unset")
        return {"tools": list(tools)}

    def _tool_reply(self, body: Any) -> ChatReply:
        calls = CallPieces()
        self._add_calls(body, calls)
        return ChatReply(self._reply(body), calls.calls())

    def _tool_piece(self, line: bytes, calls: CallPieces) -> tuple[str, bool]:
        event = parse_json(line, self._url)
        self._add_calls(event, calls)
        self._meter(event)
        return self._reply(event), event.get("done") is True

    def _add_calls(self, body: Any, calls: CallPieces) -> None:
        """A line's `message.tool_calls` (whole calls, their arguments an object)."""
        try:
            found = body["message"].get("tool_calls") or ()
            for call in found:
                function = call["function"]
                calls.add(len(calls.calls()), call.get("id"), function["name"],
                          json.dumps(function.get("arguments") or {}))
        except (KeyError, TypeError, AttributeError):
            raise unexpected_body(self._url, body, "message.tool_calls") from None

    def _tool_messages(self, messages: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Assistant tool calls with their arguments as objects; a tool result names its
        tool (`tool_name`) instead of a call id."""
        names: dict[str, str] = {}
        out: list[Mapping[str, Any]] = []
        for message in messages:
            if message.get("tool_calls"):
                calls = []
                for call in message["tool_calls"]:
                    function = call["function"]
                    names[call.get("id", "")] = function["name"]
                    calls.append({"function": {"name": function["name"], "arguments": json.loads(
                        function.get("arguments") or "{}")}})
                message = {**message, "tool_calls": calls}
            elif message.get("role") == "tool":
                message = {"role": "tool", "content": message.get("content", ""),
                           **given(tool_name=names.get(message.get("tool_call_id", "")))}
            out.append(message)
        return out
