"""HTTP plumbing shared by every model backend.

- `make_client`, `LoopLocalClient`, `split_credentials` (client.py): one `httpx.AsyncClient`
  per resource and per event loop, over `AiohttpTransport` (transport.py) where it can run;
  a user and password in a base URL become a Basic auth header.
- `raise_for_status`, `transport_error` (errors.py): HTTP failures as llmkit errors, with the
  table of what is retryable; the API key never reaches a message.
- `with_retries` (retry.py): the engine's retry policy (`llmkit.core.retry.Retry`) for HTTP
  calls made outside the engine (the engine retries nodes itself).
- `HttpApi` (api.py): the JSON and streaming calls every backend makes, each body read
  within a deadline and `max_response_bytes` (`BoundedStream`, limits.py).
- `HttpModel`, `HttpEmbedder`, `HttpChat` (backends.py): what the vendors in
  `llmkit.nodes.backends` share: constructors, batching, streaming, fingerprints.
"""

from llmkit.http.api import HttpApi
from llmkit.http.backends import HttpChat, HttpEmbedder, HttpResource, Messages
from llmkit.http.client import LoopLocalClient, TransportChoice, make_client, split_credentials
from llmkit.http.errors import (
    parse_json,
    parse_retry_after,
    raise_for_status,
    safe_url,
    transport_error,
    unexpected_body,
)
from llmkit.http.limits import DEFAULT_MAX_RESPONSE_BYTES, BoundedStream
from llmkit.http.retry import with_retries

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "BoundedStream",
    "HttpApi",
    "HttpChat",
    "HttpEmbedder",
    "HttpResource",
    "LoopLocalClient",
    "Messages",
    "TransportChoice",
    "make_client",
    "parse_json",
    "parse_retry_after",
    "raise_for_status",
    "safe_url",
    "split_credentials",
    "transport_error",
    "unexpected_body",
    "with_retries",
]
