"""The pipelines' endpoints: describe one, run it once, run it over a list (or NDJSON
streamed in and out, in input order, with memory bounded by the runner's window), and
stream one run as Server-Sent Events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from llmkit.core.pipeline import Pipeline
from llmkit.core.runner import input_mismatch
from llmkit.serve.bodies import Streamed, dumps, json_response, sse
from llmkit.serve.errors import ApiError, endpoint, error_body
from llmkit.serve.limits import parse_json, read_body
from llmkit.serve.observe import PIPELINE_KEY
from llmkit.serve.service import Service
from llmkit.spec.draw import mermaid

__all__ = ["NDJSON", "STREAMED_EVENTS", "check_inputs", "routes"]

NDJSON = "application/x-ndjson"
STREAMED_EVENTS = ("node_started", "node_finished", "token")  # then `result` or `error`


def check_inputs(p: Pipeline, value: Any) -> dict[str, Any]:
    """A request's inputs object, or a 422 saying what is wrong with it."""
    if not isinstance(value, dict):
        raise ApiError(422, "input_error", "expected a JSON object of the pipeline's inputs "
                                           f"({', '.join(p.inputs) or 'none'})")
    problem = input_mismatch(p.inputs, value)
    if problem:
        raise ApiError(422, "input_error", problem)
    return value


def _target(request: Request) -> tuple[Service, str, Pipeline]:
    service: Service = request.app.state.service
    name = request.path_params["name"]
    p = service.pipeline(name)
    request.scope[PIPELINE_KEY] = name
    return service, name, p


async def _json_body(request: Request, service: Service) -> Any:
    return parse_json(await read_body(request, service.max_body))


@endpoint
async def describe(request: Request) -> Any:
    _, name, p = _target(request)
    return json_response({"name": name, "description": p.description,
                          "inputs": {k: getattr(v, "__name__", str(v)) for k, v in
                                     p.inputs.items()},
                          "outputs": list(p.output_map), "mermaid": mermaid(p)})


@endpoint
async def run(request: Request) -> Any:
    service, name, p = _target(request)
    inputs = check_inputs(p, await _json_body(request, service))
    try:
        outputs = await p.arun(inputs, cache=service.cache)
    finally:
        service.metrics.ran(name)
    return json_response({"outputs": outputs})


def _outcome(result: Any, service: Service) -> dict[str, Any]:
    """One run's entry in a run_many answer."""
    if isinstance(result, BaseException):
        return error_body(result, service.scrub)
    return {"outputs": result}


@endpoint
async def run_many(request: Request) -> Any:
    service, name, p = _target(request)
    if request.headers.get("content-type", "").split(";")[0].strip() == NDJSON:
        return Streamed(_ndjson(request, service, name, p), NDJSON)
    items = await _json_body(request, service)
    if not isinstance(items, list):
        raise ApiError(422, "input_error", "expected a JSON list of inputs objects (or "
                                           f"Content-Type: {NDJSON}, one object per line)")
    try:
        results = await p.arun_many(items, on_error="return", cache=service.cache)
    finally:
        service.metrics.ran(name)
    return json_response({"results": [_outcome(r, service) for r in results]})


class _BadLine:
    """Stands for an NDJSON line that is not a JSON value: the runner fails its run."""


async def _ndjson(request: Request, service: Service, name: str,
                  p: Pipeline) -> AsyncIterator[bytes]:
    """One result line per non-blank input line, in order, each sent as soon as it and those
    before it are done; the runner reads lines only as its window has room. Errors name the
    run by its place among the results (`run 0: ...`), as in a JSON list."""
    problems: dict[int, tuple[int, str, str]] = {}  # run index -> why its line is no run

    async def inputs() -> AsyncIterator[Any]:
        index = 0
        async for line in _lines(request, service.max_body):
            if line is not None and not line.strip():
                continue
            try:
                if line is None:
                    raise ApiError(413, "body_too_large", f"longer than {service.max_body:,} "
                                                          "bytes (--max-body)")
                yield parse_json(line)
            except ApiError as exc:
                problems[index] = (exc.status, exc.kind, f"run {index}: {exc}")
                yield _BadLine()
            index += 1

    index = 0
    try:
        async with p.astream_many(inputs(), ordered=True, on_error="return",
                                  cache=service.cache) as results:
            async for result in results:
                problem = problems.pop(index, None)
                if problem is not None:
                    result = ApiError(*problem)
                yield dumps(_outcome(result, service)) + b"\n"
                index += 1
    finally:
        service.metrics.ran(name)


async def _lines(request: Request, max_line: int) -> AsyncIterator[bytes | None]:
    """The request body's lines; a line longer than `max_line` bytes is read past without
    being held, and given as None."""
    pending, skipping = b"", False
    async for chunk in request.stream():
        pending += chunk
        *whole, pending = pending.split(b"\n")
        for line in whole:
            yield None if skipping else line
            skipping = False
        if len(pending) > max_line:
            pending, skipping = b"", True
    if pending or skipping:
        yield None if skipping else pending


@endpoint
async def stream(request: Request) -> Any:
    service, name, p = _target(request)
    inputs = check_inputs(p, await _json_body(request, service))
    return Streamed(_events(service, name, p, inputs), "text/event-stream")


async def _events(service: Service, name: str, p: Pipeline,
                  inputs: dict[str, Any]) -> AsyncIterator[bytes]:
    """The run's events as SSE: node_started, node_finished, token, then result or error."""
    try:
        async for event in p.astream(inputs, cache=service.cache):
            if event.kind == "token":
                yield sse({"node": event.node, "text": event.data}, "token")
            elif event.kind in STREAMED_EVENTS:
                yield sse({"node": event.node, "size": event.size, "seconds": event.seconds,
                           "errors": event.errors}, event.kind)
            elif event.kind == "result":
                yield sse({"outputs": event.data}, "result")
    except Exception as exc:
        yield sse(error_body(exc, service.scrub), "error")
    finally:
        service.metrics.ran(name)


def routes() -> list[Route]:
    return [Route("/pipelines/{name}", describe, methods=["GET"]),
            Route("/pipelines/{name}/run", run, methods=["POST"]),
            Route("/pipelines/{name}/run_many", run_many, methods=["POST"]),
            Route("/pipelines/{name}/stream", stream, methods=["POST"])]
