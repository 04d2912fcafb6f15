"""What one request may take: a body of at most `max_body` bytes (413), a place among at
most `max_in_flight` requests running pipelines in this process (beyond it 429 with
`Retry-After`, so a flood costs no memory), and at most `timeout` seconds (504). A request
that times out is cancelled: the shared scheduler withdraws its runs, and the calls only
they needed are cancelled."""

from __future__ import annotations

import json
import math
from typing import Any

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmkit.serve.errors import ApiError, error_response

__all__ = ["RETRY_AFTER", "InFlight", "Limits", "is_run", "parse_json", "read_body"]

RETRY_AFTER = 1  # seconds a refused client waits: runs take about that long


def is_run(scope: Scope) -> bool:
    """Whether a request runs a pipeline (and so is counted, bounded and timed out)."""
    path = scope["path"]
    return scope["method"] == "POST" and (path.startswith("/pipelines/")
                                          or path == "/v1/chat/completions")


class InFlight:
    """The requests running pipelines now, at most `limit`; `drained` waits for none."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.limit = limit
        self.count = 0
        self._drained = anyio.Event()
        self._drained.set()

    def enter(self) -> None:
        """Take a place, or raise a 429 `ApiError` when all are taken."""
        if self.count >= self.limit:
            raise ApiError(429, "over_capacity",
                           f"the server is running {self.limit} requests (--max-in-flight); "
                           f"retry after {RETRY_AFTER} s", {"Retry-After": str(RETRY_AFTER)})
        if self.count == 0:
            self._drained = anyio.Event()
        self.count += 1

    def exit(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._drained.set()

    async def drained(self) -> None:
        await self._drained.wait()


class Limits:
    """ASGI middleware: counts, bounds and times out the requests that run pipelines, from
    the first byte read to the last byte of a streamed response."""

    def __init__(self, app: ASGIApp, in_flight: InFlight, timeout: float | None) -> None:
        self.app = app
        self.in_flight = in_flight
        self.timeout = math.inf if timeout is None else timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_run(scope):
            await self.app(scope, receive, send)
            return
        try:
            self.in_flight.enter()
        except ApiError as exc:
            await error_response(exc, str)(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            with anyio.fail_after(self.timeout):
                await self.app(scope, receive, watch)
        except TimeoutError:
            if started:  # a streamed response: it ends early, which the client sees
                return
            late = ApiError(504, "timeout", f"the request took longer than {self.timeout:g} s "
                                            "(--timeout); its runs were cancelled")
            await error_response(late, str)(scope, receive, send)
        finally:
            self.in_flight.exit()


async def read_body(request: Request, max_body: int) -> bytes:
    """The whole body, refused with a 413 as soon as it passes `max_body` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body:
        raise _too_large(max_body)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise _too_large(max_body)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """A request body's JSON value, or a 400 `ApiError` saying what is wrong."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None


def _too_large(max_body: int) -> ApiError:
    return ApiError(413, "body_too_large",
                    f"the body is larger than {max_body:,} bytes (--max-body)")
