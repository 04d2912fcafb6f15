"""Tool calling over a chat backend's HTTP API (`achat`, the `ToolChatModel` protocol): the
request carries the tools, the reply is text and tool calls, whole or streamed.

Vendors say how tools go into a body (`_tool_fields`), how they read a whole reply
(`_tool_reply`) and a streamed line (`_tool_piece`, which adds the tool-call pieces to a
`CallPieces`), and how an OpenAI-style conversation is written for their server
(`_tool_messages`). Like `astream`, a stream that ends before its end marker raises a
`RetryableError`: a cut-off turn is never taken as whole.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from contextlib import aclosing
from typing import Any

from llmkit.http.backends import HttpChat, Messages
from llmkit.http.errors import stream_cut_short
from llmkit.nodes.protocols import ChatReply, ToolCall

__all__ = ["CallPieces", "ToolChat"]


class CallPieces:
    """Streamed tool calls assembled by index: each delta may carry the id, the name or a
    piece of the arguments' JSON text."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, str]] = {}

    def add(self, index: int, id: str | None = None, name: str | None = None,
            arguments: str | None = None) -> None:
        call = self._calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
        if id:
            call["id"] = id
        if name:
            call["name"] += name
        if arguments:
            call["arguments"] += arguments

    def calls(self) -> tuple[ToolCall, ...]:
        """The calls in index order; a call without an id is named by its index."""
        return tuple(ToolCall(c["id"] or f"call_{i}", c["name"], c["arguments"] or "{}")
                     for i, c in sorted(self._calls.items()))


class ToolChat(HttpChat):
    """`achat` for an `HttpChat` whose vendor implements the four hooks below."""

    async def achat(self, messages: Messages, *, tools: Sequence[Mapping[str, Any]],
                    tool_choice: Any = None,
                    on_text: Callable[[str], None] | None = None) -> ChatReply:
        """The model's turn given `tools`: whole, or streamed with its text handed to
        `on_text` piece by piece."""
        payload = self._payload(self._tool_messages(self._messages(messages)),
                                on_text is not None)
        if tools:
            payload.update(self._tool_fields(tools, tool_choice))
        if on_text is None:
            body = await self.http.post_json(self._url, payload, model=self.model)
            reply = self._tool_reply(body)
            self._meter(body)
            return reply
        pieces = CallPieces()
        text: list[str] = []
        complete = False
        async with aclosing(self.http.stream_lines(self._url, payload, model=self.model)) as lines:
            async for line in lines:  # read to the end, so the connection can be reused
                piece, ends = self._tool_piece(line, pieces)
                if piece:
                    on_text(piece)
                    text.append(piece)
                complete = complete or ends
        if not complete:
            raise stream_cut_short(self._url, self.end_marker)
        return ChatReply("".join(text), pieces.calls())

    @abstractmethod
    def _tool_fields(self, tools: Sequence[Mapping[str, Any]],
                     tool_choice: Any) -> dict[str, Any]:
        """The body's fields that offer `tools`."""

    @abstractmethod
    def _tool_reply(self, body: Any) -> ChatReply:
        """The text and tool calls of a whole response."""

    @abstractmethod
    def _tool_piece(self, line: bytes, calls: CallPieces) -> tuple[str, bool]:
        """As `_piece`, adding the line's tool-call pieces to `calls`."""

    def _tool_messages(self, messages: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """An OpenAI-style conversation as the server takes it (OpenAI's own: as it is)."""
        return messages
