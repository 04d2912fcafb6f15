"""Operations endpoints: `/health` (up), `/ready` (resources prepared), `/metrics`
(Prometheus), `/openapi.json`, and `/pipelines` (the names)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmkit.serve.bodies import json_response
from llmkit.serve.errors import endpoint
from llmkit.serve.metrics import CONTENT_TYPE
from llmkit.serve.openai_compat import chat_models
from llmkit.serve.schema import openapi
from llmkit.serve.service import Service

__all__ = ["routes"]


def _service(request: Request) -> Service:
    return request.app.state.service


@endpoint
async def health(request: Request) -> Any:
    return json_response({"status": "ok"})


@endpoint
async def ready(request: Request) -> Any:
    service = _service(request)
    if service.ready:
        return json_response({"status": "ready"})
    return json_response({"status": "not ready",
                          "reason": service.problem or "preparing resources"}, 503)


@endpoint
async def metrics(request: Request) -> Any:
    return Response(_service(request).metrics.exposition(), media_type=CONTENT_TYPE)


@endpoint
async def openapi_json(request: Request) -> Any:
    service = _service(request)
    return json_response(openapi(service.pipelines, chat_models(service.pipelines)))


@endpoint
async def pipelines(request: Request) -> Any:
    return json_response({"pipelines": list(_service(request).pipelines)})


def routes() -> list[Route]:
    return [Route("/health", health, methods=["GET"]), Route("/ready", ready, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/openapi.json", openapi_json, methods=["GET"]),
            Route("/pipelines", pipelines, methods=["GET"])]
