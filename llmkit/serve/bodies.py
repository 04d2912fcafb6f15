"""What the server writes: JSON bodies (numpy values and the like through
`llmkit.values.jsonable`), Server-Sent Events, NDJSON lines, and the streamed response that
carries the last two as they are made."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from llmkit.values import jsonable

__all__ = ["Streamed", "dumps", "json_response", "sse"]


def dumps(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON."""
    return json.dumps(value, default=jsonable, ensure_ascii=False,
                      separators=(",", ":")).encode()


def json_response(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status, media_type="application/json")


def sse(data: Any, event: str | None = None) -> bytes:
    """One Server-Sent Event; `data` as JSON unless it is already text (`[DONE]`)."""
    text = data if isinstance(data, str) else dumps(data).decode()
    return (f"event: {event}\n" if event else "").encode() + f"data: {text}\n\n".encode()


class Streamed:
    """A 200 response whose body is sent piece by piece as `chunks` yields them. It does not
    listen for the client leaving (Starlette's `StreamingResponse` does, which would take
    the request body from a handler still reading it): `Limits` does, once the body is
    read, and cancels the response, which closes `chunks` and the runs behind them."""

    def __init__(self, chunks: AsyncIterator[bytes], media_type: str) -> None:
        self.chunks = chunks
        self.media_type = media_type

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", self.media_type.encode()), (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no")]})
            async for chunk in self.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client left
            return
        finally:
            await self.chunks.aclose()  # type: ignore[attr-defined]
