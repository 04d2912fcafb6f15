"""`app(pipelines, ...)`: the ASGI app that serves pipelines, for `llmkit serve` or any ASGI
server. Outermost first, a request meets `Observe` (metrics, access log), `Auth` (bearer
token), `Limits` (in-flight bound, timeout), then Starlette's router. The lifespan prepares
the pipelines' resources in the background (`/ready` says when they are), and on shutdown
waits for the requests running pipelines, then closes the cache."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp

from llmkit.core.pipeline import Pipeline
from llmkit.serve import openai_compat, ops, routes
from llmkit.serve.auth import Auth
from llmkit.serve.errors import ApiError, error_response
from llmkit.serve.limits import Limits
from llmkit.serve.observe import Observe
from llmkit.serve.service import Service

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_MAX_IN_FLIGHT", "DEFAULT_TIMEOUT", "app"]

DEFAULT_MAX_IN_FLIGHT = 1024  # requests running pipelines at once, per process
DEFAULT_TIMEOUT = 60.0  # seconds per request
DEFAULT_MAX_BODY = 2**20  # bytes of a request body (of one line, for NDJSON)


def app(pipelines: Iterable[Pipeline] | Mapping[str, Pipeline], *, cache: Any = None,
        token: str | None = None, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        timeout: float | None = DEFAULT_TIMEOUT, max_body: int = DEFAULT_MAX_BODY) -> ASGIApp:
    """The ASGI app serving `pipelines` (each under its `name`, or a mapping's keys) with an
    optional result `cache` store, bearer `token`, and limits: requests running pipelines at
    once (beyond them 429), seconds per request (504; None for no limit), body bytes (413).
    """
    named = _by_name(pipelines)
    service = Service(named, cache=cache, max_in_flight=max_in_flight, max_body=max_body,
                      token=token)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tg:
            tg.start_soon(service.prepare)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()
        with anyio.CancelScope(shield=True):
            await service.in_flight.drained()
            if cache is not None:
                cache.close()

    async def http_error(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, HTTPException)
        kind = "not_found" if exc.status_code == 404 else "method_not_allowed" \
            if exc.status_code == 405 else "http_error"
        message = f"no endpoint {request.method} {request.url.path}" if \
            exc.status_code in (404, 405) else str(exc.detail)
        return error_response(ApiError(exc.status_code, kind, message, exc.headers),
                              service.scrub)

    table = [*routes.routes(), *openai_compat.routes(), *ops.routes()]
    router = Starlette(routes=table, lifespan=lifespan,
                       exception_handlers={HTTPException: http_error})
    router.state.service = service
    inner: ASGIApp = Limits(router, service.in_flight, timeout)
    if token:
        inner = Auth(inner, token)
    return Observe(inner, service.metrics, table, list(named))


def _by_name(pipelines: Iterable[Pipeline] | Mapping[str, Pipeline]) -> dict[str, Pipeline]:
    """The pipelines by name, each validated; two of one name are refused."""
    if isinstance(pipelines, Mapping):
        named = dict(pipelines)
    else:
        named = {}
        for p in pipelines:
            if p.name in named:
                raise ValueError(f"two pipelines are named '{p.name}': give each its own "
                                 "name: (or pass a mapping of names to pipelines)")
            named[p.name] = p
    for p in named.values():
        p.validate()
    return named
