"""What every HTTP model backend shares; vendors (nodes/backends/openai.py, .../ollama.py)
add only where their server and key come from, and their wire format.

- The constructors: the model, the server (`base_url`, else the vendor's default), the key
  (`api_key`, else the vendor's `key_env`) and `HttpApi`'s limits, the same for every vendor.

- `HttpEmbedder.aembed(texts)`: requests of at most `max_inputs_per_request` texts, up to
  `concurrency` of them in flight per call, rows in input order, float32. Vectors of the
  wrong shape are a `BackendError` (a retry gets the same); per-token vectors (llama.cpp's
  server without pooling) are averaged with `pooling="mean"`.
- `HttpChat.agenerate(prompt, schema=)` / `astream(prompt)`: a prompt string or a list of
  messages, and for `agenerate` a JSON Schema the reply must follow (`_structured`);
  `system_prompt`, when set, is prepended unless the messages start with a system message.
  The model defaults to $LLMKIT_MODEL. A stream that ends before its end marker raises a
  `RetryableError` after its pieces: a cut-off answer is never returned as whole.
- Token usage: each response's `usage` (the vendor's `_usage` reads it) counts towards the
  node call it was made in (`llmkit.core.usage`), priced with `price` ({"prompt": ...,
  "completion": ...} per 1M tokens) when given; the price is not in the fingerprint.
- `llmkit_fingerprint()` names everything that changes the output (model, base URL, sampling
  options), never the key. `deterministic` is True for embedders and for chat at
  temperature 0: a seed alone does not make a server reproducible, but it is part of the
  fingerprint, so a cache asked to keep sampled answers keys them per seed.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from typing import Any, ClassVar, Literal

import anyio
import httpx
import numpy as np

from llmkit.core.usage import price_of, record_usage
from llmkit.errors import BackendError, LlmkitError
from llmkit.http.api import HttpApi
from llmkit.http.client import TransportChoice
from llmkit.http.errors import stream_cut_short
from llmkit.http.limits import DEFAULT_MAX_RESPONSE_BYTES
from llmkit.secrets import redact

__all__ = ["HttpChat", "HttpEmbedder", "HttpModel", "HttpResource", "Messages", "given",
           "token_count"]

Messages = str | Sequence[Mapping[str, Any]]


def given(**options: Any) -> dict[str, Any]:
    """The options that are not None (a request body leaves the others to the server)."""
    return {name: value for name, value in options.items() if value is not None}


def token_count(usage: Mapping[str, Any], name: str) -> int:
    """A token count of a response's usage fields (0 when missing or not a count)."""
    value = usage.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class HttpResource(ABC):
    """A client of one HTTP API: close it with `aclose()` or `async with`."""

    api: ClassVar[str]  # the wire protocol, part of the fingerprint: "openai", "ollama", ...
    http: HttpApi

    @abstractmethod
    def llmkit_fingerprint(self) -> dict[str, Any]:
        """What determines this resource's results, for cache keys (never a secret)."""

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> HttpResource:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        shown = redact({**self.llmkit_fingerprint(), "api_key": self.http.api_key})
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


class HttpModel(HttpResource):
    """A model behind a vendor's HTTP API: the vendor names where its server is and which
    environment variable holds its key."""

    key_env: ClassVar[str]
    price: Mapping[str, float] | None = None  # per 1M tokens: {"prompt": ., "completion": .}

    @staticmethod
    @abstractmethod
    def server_url(base_url: str | None) -> str:
        """The base URL to use: `base_url`, else the vendor's environment or default."""

    @classmethod
    def connect(cls, base_url: str | None, api_key: str | None, **limits: Any) -> HttpApi:
        """The `HttpApi` of the vendor's server, with `api_key` or the one in `key_env`."""
        return HttpApi(cls.server_url(base_url), api_key=api_key or os.environ.get(cls.key_env),
                       api_key_env=cls.key_env, **limits)

    def _priced(self, price: Mapping[str, float] | None) -> None:
        """Keep `price`, refusing keys other than prompt/completion and values that are not
        non-negative numbers."""
        if price is None:
            return
        if not isinstance(price, Mapping) or not set(price) <= {"prompt", "completion"} or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0
                for v in price.values()):
            raise ValueError(f"price must map prompt and/or completion to a price per 1M "
                             f"tokens (a number >= 0), not {price!r}")
        self.price = dict(price)

    def _usage(self, body: Any) -> tuple[int, int] | None:
        """(prompt, completion) tokens a response body reports, or None."""
        return None

    def _meter(self, body: Any) -> None:
        """Count the tokens `body` reports towards the node call it was made in."""
        used = self._usage(body)
        if used is not None:
            record_usage(used[0], used[1], price_of(self.price, *used))


class HttpEmbedder(HttpModel):
    """Embeds texts through `path` of an HTTP API; subclasses build the body and read vectors.

    `dim`, when given, is sent as `dimensions` (for models that can shorten their vectors)
    and checked; `pooling="mean"` averages per-token vectors (llama.cpp's server started
    without pooling). `deadline`, `max_response_bytes`, `max_connections`, `transport` and
    `retries` are `HttpApi`'s.
    """

    path: ClassVar[str]
    deterministic: ClassVar[bool] = True

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
        pooling: Literal["mean"] | None = None,
        deadline: float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_connections: int | None = None,
        transport: TransportChoice = "auto",
        retries: int = 0,
        price: Mapping[str, float] | None = None,
    ) -> None:
        http = self.connect(base_url, api_key, timeout=timeout, deadline=deadline,
                            max_response_bytes=max_response_bytes,
                            max_connections=max_connections, transport=transport,
                            retries=retries)
        self._priced(price)
        if max_inputs_per_request < 1 or concurrency < 1:
            raise ValueError("max_inputs_per_request and concurrency must be at least 1")
        if pooling not in (None, "mean"):
            raise ValueError(f"pooling must be 'mean' or None, not {pooling!r}")
        self.model, self.http, self.dim, self.pooling = model, http, dim, pooling
        self.max_inputs_per_request = max_inputs_per_request
        self.concurrency = concurrency
        self._url = http.url(self.path)
        # The body's fixed part; a subclass adds its own options (OpenAI's encoding_format).
        self._options: dict[str, Any] = {"model": model}
        if dim is not None:
            self._options["dimensions"] = dim

    def _payload(self, texts: Sequence[str]) -> dict[str, Any]:
        """The request body for one request."""
        return {**self._options, "input": list(texts)}

    @abstractmethod
    def _vectors(self, body: Any, n: int) -> np.ndarray:
        """The (n, dim) float32 rows of a response, in input order; a RetryableError for a
        body that is not an answer, a BackendError (`_shape_error`) for vectors of the wrong
        shape."""

    def _matrix(self, rows: Sequence[Any], n: int) -> np.ndarray:
        """The (n, dim) float32 matrix of `n` rows of floats, or of per-token vectors to pool."""
        if rows and isinstance(rows[0], list) and rows[0] and isinstance(rows[0][0], list):
            return self._pooled(rows, n)
        try:
            vectors = np.array(rows, dtype=np.float32)
        except (ValueError, TypeError):
            raise self._shape_error(f"rows of different sizes for {n} texts") from None
        if vectors.ndim != 2 or len(vectors) != n:
            raise self._shape_error(f"an array of shape {vectors.shape} for {n} texts")
        return vectors

    def _pooled(self, rows: Sequence[Any], n: int) -> np.ndarray:
        """One unit-length mean per text of its per-token vectors (like a server's mean
        pooling), or the error that says how to get one vector per text."""
        if self.pooling != "mean":
            raise BackendError(
                f"{self.model} at {self.http.base_url} returned one vector per token, not one "
                "per text: start the server with pooling (llama.cpp: llama-server --pooling "
                "mean), or set pooling: mean on the embedder to average them here")
        try:
            means = np.stack([np.asarray(tokens, np.float32).mean(axis=0) for tokens in rows])
        except (ValueError, TypeError):
            raise self._shape_error(f"per-token vectors of different sizes for {n} "
                                    "texts") from None
        if means.ndim != 2 or len(means) != n:
            raise self._shape_error(f"per-token vectors of shape {means.shape} for {n} texts")
        norms = np.linalg.norm(means, axis=1, keepdims=True)
        return means / np.where(norms == 0, 1, norms)

    def _shape_error(self, got: str) -> BackendError:
        return BackendError(f"{self.model} at {self.http.base_url} returned {got}; expected "
                            "one vector per text, all of one size")

    def llmkit_fingerprint(self) -> dict[str, Any]:
        fingerprint = {"api": self.api, "model": self.model, "base_url": self.http.base_url,
                       "dim": self.dim}
        if self.pooling is not None:  # only when set: older fingerprints stay valid
            fingerprint["pooling"] = self.pooling
        return fingerprint

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` into an (n, dim) float32 array, row i for text i."""
        size = self.max_inputs_per_request
        if len(texts) <= size:  # the common case: one request, no task group
            return await self._embed(texts) if texts else np.empty((0, self.dim or 0), np.float32)
        parts: list[np.ndarray] = [np.empty(0, np.float32)] * -(-len(texts) // size)
        errors: list[Exception] = []
        limiter = anyio.CapacityLimiter(self.concurrency)

        async def embed_part(i: int) -> None:
            try:
                async with limiter:
                    parts[i] = await self._embed(texts[i * size:(i + 1) * size])
            except Exception as exc:  # first failure wins and stops the rest (no ExceptionGroup)
                errors.append(exc)
                tg.cancel_scope.cancel()

        async with anyio.create_task_group() as tg:
            for i in range(len(parts)):
                tg.start_soon(embed_part, i)
        if errors:
            raise errors[0]
        return np.concatenate(parts)

    async def _embed(self, texts: Sequence[str]) -> np.ndarray:
        body = await self.http.post_json(self._url, self._payload(texts), model=self.model)
        vectors = self._vectors(body, len(texts))
        self._meter(body)
        if self.dim is not None and vectors.shape[1] != self.dim:
            raise BackendError(f"{self.model} at {self.http.base_url} returned "
                               f"{vectors.shape[1]}-d vectors, expected dim={self.dim}")
        return vectors


class HttpChat(HttpModel):
    """A chat model behind an HTTP API; subclasses build the body and read replies/chunks.

    `deadline`, `max_response_bytes`, `max_connections`, `transport` and `retries` are
    `HttpApi`'s.
    """

    path: ClassVar[str]
    end_marker: ClassVar[str]  # what ends a whole stream, named when one is cut short

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        seed: int | None = None,
        system_prompt: str | None = None,
        timeout: float | httpx.Timeout = 120.0,
        *,
        deadline: float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_connections: int | None = None,
        transport: TransportChoice = "auto",
        retries: int = 0,
        price: Mapping[str, float] | None = None,
    ) -> None:
        http = self.connect(base_url, api_key, timeout=timeout, deadline=deadline,
                            max_response_bytes=max_response_bytes,
                            max_connections=max_connections, transport=transport,
                            retries=retries)
        self._priced(price)
        model = model or os.environ.get("LLMKIT_MODEL")
        if not model:
            raise LlmkitError(f"{type(self).__name__} needs a model: pass model= or set "
                              "LLMKIT_MODEL")
        self.model, self.http = model, http
        self.temperature, self.max_tokens, self.seed = temperature, max_tokens, seed
        self.stop = [stop] if isinstance(stop, str) else (list(stop) if stop else None)
        self.system_prompt = system_prompt
        self._system = {"role": "system", "content": system_prompt}
        self._url = http.url(self.path)
        self._options = self._fixed_options()

    @abstractmethod
    def _fixed_options(self) -> dict[str, Any]:
        """The body's options that are the same for every request (model, sampling)."""

    @abstractmethod
    def _payload(self, messages: list[Mapping[str, Any]], stream: bool) -> dict[str, Any]:
        """The request body."""

    @abstractmethod
    def _reply(self, body: Any) -> str:
        """The answer text of a non-streamed response."""

    @abstractmethod
    def _piece(self, line: bytes) -> tuple[str, bool]:
        """The text of one streamed line ("" for none), and whether the line says the answer
        is complete (its end marker, or a finish reason); a line that reports usage is
        `_meter`ed."""

    def _structured(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """The body's fields that ask for a reply following the JSON Schema `schema`."""
        raise BackendError(f"{type(self).__name__} does not support structured output "
                           "(schema:): use openai_chat or ollama_chat")

    @property
    def deterministic(self) -> bool:
        return self.temperature == 0

    def llmkit_fingerprint(self) -> dict[str, Any]:
        return {"api": self.api, "model": self.model, "base_url": self.http.base_url,
                "temperature": self.temperature, "max_tokens": self.max_tokens,
                "stop": self.stop, "seed": self.seed, "system_prompt": self.system_prompt}

    async def agenerate(self, messages_or_prompt: Messages, *,
                        schema: Mapping[str, Any] | None = None) -> str:
        """The model's whole answer; with `schema` (a JSON Schema) the server is asked for
        JSON that follows it (checking the reply is the caller's: see `generate`)."""
        payload = self._payload(self._messages(messages_or_prompt), False)
        if schema is not None:
            payload.update(self._structured(schema))
        body = await self.http.post_json(self._url, payload, model=self.model)
        reply = self._reply(body)
        self._meter(body)
        return reply

    async def astream(self, messages_or_prompt: Messages) -> AsyncIterator[str]:
        """The model's answer, piece by piece as the server sends it; a stream that ends
        before the answer is complete raises a `RetryableError` after its last piece."""
        payload = self._payload(self._messages(messages_or_prompt), True)
        complete = False
        async with aclosing(self.http.stream_lines(self._url, payload, model=self.model)) as lines:
            async for line in lines:  # read to the end, so the connection can be reused
                piece, ends = self._piece(line)
                if piece:
                    yield piece
                if ends:
                    complete = True
        if not complete:
            raise stream_cut_short(self._url, self.end_marker)

    def _messages(self, messages_or_prompt: Messages) -> list[Mapping[str, Any]]:
        if isinstance(messages_or_prompt, str):
            messages: list[Mapping[str, Any]] = [{"role": "user", "content": messages_or_prompt}]
        else:
            messages = list(messages_or_prompt)
        if self.system_prompt is not None and (not messages
                                               or messages[0].get("role") != "system"):
            messages.insert(0, self._system)
        return messages
