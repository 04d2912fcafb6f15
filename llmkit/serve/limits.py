"""What one request may take: a body of at most `max_body` bytes (413), a place among at
most `max_in_flight` requests running pipelines in this process (beyond it 429 with
`Retry-After`, so a flood costs no memory), and at most `timeout` seconds (504). A request
that times out, or whose client leaves, is cancelled: the shared scheduler withdraws its
runs, and the calls only they needed are cancelled."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmkit.serve.errors import ApiError, error_response
from llmkit.serve.observe import CLIENT_LEFT

__all__ = ["RETRY_AFTER", "InFlight", "Limits", "is_run", "parse_json", "read_body",
           "watch_disconnect"]

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
    the first byte read to the last byte of a streamed response, and cancels one whose
    client left (`watch_disconnect`) so that its place comes free at once."""

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
        started = finished = False
        body_read = anyio.Event()

        async def read() -> Message:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_read.set()
            return message

        async def watch(message: Message) -> None:
            nonlocal started, finished
            started = True
            finished = message["type"] == "http.response.body" and not message.get(
                "more_body", False)
            await send(message)

        failure: Exception | None = None  # raised as itself, not in a task group's group
        try:
            with anyio.fail_after(self.timeout):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(watch_disconnect, receive, body_read, lambda: finished,
                                  scope, tg.cancel_scope)
                    try:
                        await self.app(scope, read, watch)
                    except Exception as exc:
                        failure = exc
                    tg.cancel_scope.cancel()
            if failure is not None:
                raise failure
        except TimeoutError:
            if started:  # a streamed response: it ends early, which the client sees
                return
            late = ApiError(504, "timeout", f"the request took longer than {self.timeout:g} s "
                                            "(--timeout); its runs were cancelled")
            await error_response(late, str)(scope, receive, send)
        finally:
            self.in_flight.exit()


async def watch_disconnect(receive: Receive, body_read: anyio.Event,
                           finished: Callable[[], bool], scope: Scope,
                           request: anyio.CancelScope) -> None:
    """Once the handler has read the whole body (before, `receive` is its to call), wait for
    the client to leave; if it leaves before the response is complete, mark the scope
    (`CLIENT_LEFT`) and cancel the request: the shared scheduler withdraws its runs and
    cancels the calls only they needed."""
    await body_read.wait()
    while (await receive())["type"] != "http.disconnect":
        pass
    if not finished():
        scope[CLIENT_LEFT] = True
        request.cancel()


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
