"""Turn HTTP failures into llmkit errors, deciding what the engine may retry.

    failure                                   raised                         retried
    429 (Retry-After: seconds or HTTP date)   RetryableError(retry_after=s)  yes, after s
    408, 5xx                                  RetryableError                 yes
    timeout, reset, malformed or odd JSON     RetryableError                 yes
    past the request's deadline               RetryableError                 yes
    a stream that ends before its end marker  RetryableError                 yes
    401, 403                                  BackendError ("check ENV_VAR") no
    404                                       BackendError (URL, model)      no
    connection refused                        BackendError ("is the server   no
                                              running?")
    out of file descriptors (EMFILE)          BackendError (ulimit -n)       no
    a body over max_response_bytes            BackendError                   no
    other 4xx                                 LlmkitError (server message)   no: a failed batch
                                                                             is split instead

Messages name URLs without credentials or query string and never contain the API key: the
server's own message is left out for 401/403 (OpenAI echoes part of the key) and scrubbed of
the request's bearer token elsewhere.
"""

from __future__ import annotations

import errno
import json
import math
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from llmkit.errors import BackendError, LlmkitError, RetryableError

__all__ = [
    "deadline_exceeded",
    "parse_json",
    "parse_retry_after",
    "raise_for_status",
    "safe_url",
    "stream_cut_short",
    "too_large",
    "transport_error",
    "unexpected_body",
]

_MAX_DETAIL = 300


def safe_url(url: httpx.URL) -> str:
    """`scheme://host:port/path`: without user info and query, so it is safe to print."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}"


def raise_for_status(
    response: httpx.Response,
    *,
    api_key_env: str | None = "OPENAI_API_KEY",
    auth_hint: str | None = None,
    model: str | None = None,
) -> None:
    """Raise the llmkit error for a non-2xx response (see the table above); its body is read.

    `auth_hint` replaces "check {api_key_env}" after a 401/403; `model` is named in a 404
    whose message blames the model.
    """
    status = response.status_code
    if status < 300:
        return
    where = f"{status} from {safe_url(response.request.url)}"
    if status in (408, 429) or status >= 500:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        raise RetryableError(f"{where}: {_detail(response)}", retry_after=retry_after)
    if status in (401, 403):
        hint = auth_hint or (f"check {api_key_env}" if api_key_env else "the server wants a key")
        raise BackendError(f"{where}: {hint}")
    if status == 404:
        detail = _detail(response)
        if model is not None and "model" in detail.lower():
            raise BackendError(f"{where}: model {model!r} not found ({detail})")
        raise BackendError(f"{where}: not found, check the base URL ({detail})")
    if status < 400:
        location = response.headers.get("location", "?")
        raise BackendError(f"{where}: redirected to {location}, use that as the base URL")
    raise LlmkitError(f"{where}: {_detail(response)}")


def transport_error(exc: httpx.TransportError, url: httpx.URL) -> LlmkitError:
    """The llmkit error for a request to `url` that got no HTTP response."""
    origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
    reason = f"{type(exc).__name__}: {exc}"
    if code := _out_of_files(exc):
        return BackendError(f"cannot connect to {origin}: out of file descriptors ({code}, too "
                            "many open files): raise the limit (ulimit -n) or lower the "
                            "concurrency")
    if isinstance(exc, httpx.ConnectError):
        return BackendError(f"cannot connect to {origin}: is the server running? ({reason})")
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.ProxyError)):
        return BackendError(f"cannot send to {safe_url(url)} ({reason})")
    if isinstance(exc, httpx.TimeoutException):
        return RetryableError(f"timed out on {safe_url(url)} ({reason})")
    return RetryableError(f"connection to {origin} broke ({reason})")


def deadline_exceeded(url: httpx.URL, seconds: float) -> RetryableError:
    """The error for a request still unfinished when its total time ran out."""
    return RetryableError(f"no complete answer from {safe_url(url)} within the deadline of "
                          f"{seconds:g} s (deadline=, or timeout= for whole answers)")


def too_large(url: httpx.URL, max_bytes: int) -> BackendError:
    """The error for an answer larger than the cap (retrying would fetch it again)."""
    return BackendError(f"the answer from {safe_url(url)} is larger than max_response_bytes="
                        f"{max_bytes} ({max_bytes / 2**20:g} MiB): raise max_response_bytes "
                        "or ask for less per request")


def stream_cut_short(url: httpx.URL, marker: str) -> RetryableError:
    """The error for a stream whose body ended without its end marker: a partial answer."""
    return RetryableError(f"the stream from {safe_url(url)} ended before its end marker "
                          f"({marker}): the answer is incomplete")


def parse_json(data: bytes, url: httpx.URL) -> Any:
    """Decode a JSON body or line; a malformed one is retryable (the server may recover)."""
    try:
        return json.loads(data)
    except ValueError as exc:
        raise RetryableError(f"malformed JSON from {safe_url(url)}: {exc}") from None


def unexpected_body(url: httpx.URL, body: Any, expected: str) -> RetryableError:
    """The error for valid JSON of the wrong shape, quoting the server's error if it sent one."""
    said = _message(body)
    tail = f"; the server said: {_one_line(said)}" if said else ""
    return RetryableError(f"unexpected response from {safe_url(url)}: expected {expected}{tail}")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), else None."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _out_of_files(exc: BaseException | None) -> str | None:
    """"EMFILE" or "ENFILE" when an OSError in the chain of `exc` says the process (or the
    system) has no file descriptor left, else None."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
            return errno.errorcode[exc.errno]
        exc = exc.__cause__ or exc.__context__
    return None


def _detail(response: httpx.Response) -> str:
    """The server's error message in one line, without the request's bearer token."""
    try:
        said = _message(json.loads(response.content))
    except ValueError:
        said = None
    text = said or response.content[:2000].decode("utf-8", "replace")
    token = response.request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if token:  # scrubbed before trimming, so no part of the token can survive
        text = text.replace(token, "***")
    return _one_line(text) or response.reason_phrase


def _message(body: Any) -> str | None:
    """The message of an OpenAI (`error.message`), Ollama (`error`) or FastAPI error body."""
    if not isinstance(body, dict):
        return None
    for key in ("error", "detail", "message"):
        value = body.get(key)
        if isinstance(value, dict):
            value = value.get("message")
        if value:
            return str(value)
    return None


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"
