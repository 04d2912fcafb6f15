"""Every failure a request can meet, as a status and one JSON line:
`{"error": {"type": "...", "message": "..."}}`, with the CLI's one-line message (scrubbed of
secrets), never a traceback.

    failure                                   status  type
    ApiError (bad JSON, body too large, ...)  its own
    InputError (missing or unknown inputs)    422     input_error
    NodeError caused by a backend (auth,      502     backend_error
      unreachable, retries exhausted)
    NodeError caused by the node itself       500     node_error
    any other LlmkitError                     500     llmkit_error
    anything else                             500     internal_error
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from llmkit.errors import (
    BackendError,
    InputError,
    LlmkitError,
    NodeError,
    RetryableError,
    StreamBrokenError,
    one_line,
)

__all__ = ["ApiError", "classify", "endpoint", "error_body", "error_response"]

log = logging.getLogger("llmkit.serve")

_UPSTREAM = (BackendError, RetryableError, StreamBrokenError)  # a server behind a node failed


class ApiError(Exception):
    """A request the server refuses: its HTTP status, error type, message and headers."""

    def __init__(self, status: int, kind: str, message: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.headers = status, kind, dict(headers or {})


def classify(exc: BaseException) -> tuple[int, str]:
    """The status and error type for `exc` (the table in the module docstring)."""
    if isinstance(exc, ApiError):
        return exc.status, exc.kind
    if isinstance(exc, InputError):
        return 422, "input_error"
    if isinstance(exc, NodeError):
        return (502, "backend_error") if isinstance(exc.cause, _UPSTREAM) else (500, "node_error")
    if isinstance(exc, LlmkitError):
        return 500, "llmkit_error"
    return 500, "internal_error"


def error_body(exc: BaseException, scrub: Callable[[str], str]) -> dict[str, dict[str, str]]:
    """`{"error": {"type", "message"}}` for `exc`; an unexpected exception names its class."""
    _, kind = classify(exc)
    message = one_line(exc)
    if kind == "internal_error":
        message = f"{type(exc).__name__}: {message}"
    return {"error": {"type": kind, "message": scrub(message)}}


def error_response(exc: BaseException, scrub: Callable[[str], str]) -> JSONResponse:
    """The JSON response for `exc`, with its status and headers (`Retry-After` on a 429)."""
    status, _ = classify(exc)
    headers = exc.headers if isinstance(exc, ApiError) else None
    return JSONResponse(error_body(exc, scrub), status_code=status, headers=headers)


def endpoint(handler: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Any]]:
    """A route handler whose exceptions become their JSON error responses; an unexpected one
    is also logged, as its one line (a traceback could quote a secret)."""

    @functools.wraps(handler)
    async def answer(request: Request) -> Any:
        try:
            return await handler(request)
        except Exception as exc:
            scrub = request.app.state.service.scrub
            if classify(exc)[1] == "internal_error":
                log.error("%s %s failed: %s", request.method, request.url.path,
                          error_body(exc, scrub)["error"]["message"])
            return error_response(exc, scrub)

    return answer
