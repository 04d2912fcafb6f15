"""Per request: the Prometheus counters and one structured access-log line, JSON on the
`llmkit.serve.access` logger: method, path (without the query string), status, ms, route
and pipeline (status 499 for a request whose client left before its answer). Never a header
nor a body, so no token or input reaches the log."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmkit.serve.metrics import Metrics

__all__ = ["CLIENT_LEFT", "LEFT_STATUS", "PIPELINE_KEY", "Observe", "access_line", "route_of"]

PIPELINE_KEY = "llmkit.pipeline"  # set in the scope by a handler that runs a pipeline
CLIENT_LEFT = "llmkit.client_left"  # set in the scope when the client left mid-request
LEFT_STATUS = 499  # what a request whose client left counts as (nginx's "client closed")
log = logging.getLogger("llmkit.serve.access")


def route_of(routes: Sequence[BaseRoute], scope: Scope) -> tuple[str, str | None]:
    """The route template a request matches (`other` for none: labels stay few) and the
    `{name}` in its path."""
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            return getattr(route, "path", "other"), child.get("path_params", {}).get("name")
    return "other", None


def access_line(method: str, path: str, status: int, ms: float, route: str,
                pipeline: str | None) -> str:
    """One access-log line as JSON."""
    return json.dumps({"method": method, "path": path, "status": status, "ms": round(ms, 2),
                       "route": route, "pipeline": pipeline}, ensure_ascii=False)


class Observe:
    """ASGI middleware, outermost: times every request and records its outcome."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Sequence[BaseRoute],
                 pipelines: Sequence[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self.pipelines = frozenset(pipelines)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            seconds = time.perf_counter() - start
            if scope.get(CLIENT_LEFT):
                status = LEFT_STATUS
            route, name = route_of(self.routes, scope)
            pipeline = scope.get(PIPELINE_KEY, name)
            self.metrics.observe(route, status, seconds)
            if log.isEnabledFor(logging.INFO):
                log.info(access_line(scope["method"], scope["path"], status, seconds * 1e3,
                                     route, pipeline if pipeline in self.pipelines else None))
