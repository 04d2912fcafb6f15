"""The OpenAPI document: each pipeline's request and response schemas come from its declared
inputs (`Pipeline.inputs`, name → type) and the types of the node ports its outputs read."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

from llmkit.core.pipeline import Pipeline

__all__ = ["json_schema", "openapi", "pipeline_schemas"]

_JSON_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean",
                               list: "array", tuple: "array", dict: "object"}
_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["type", "message"],
    "properties": {"type": {"type": "string"}, "message": {"type": "string"}}}}}


def json_schema(kind: Any) -> dict[str, Any]:
    """The JSON schema of a Python type: `str` → string, `list[str]` → array of strings;
    anything JSON has no name for (`Any`, a numpy array) → `{}`, any value."""
    origin = typing.get_origin(kind) or kind
    name = _JSON_TYPES.get(origin)
    if name is None:
        return {}
    schema: dict[str, Any] = {"type": name}
    args = typing.get_args(kind)
    if name == "array" and len(args) == 1:
        schema["items"] = json_schema(args[0])
    return schema


def pipeline_schemas(p: Pipeline) -> tuple[dict[str, Any], dict[str, Any]]:
    """The schemas of one run's inputs object and outputs object."""
    inputs = {"type": "object", "additionalProperties": False, "required": list(p.inputs),
              "properties": {name: json_schema(kind) for name, kind in p.inputs.items()}}
    outputs: dict[str, Any] = {}
    for name, source in p.output_map.items():
        node, dot, port = source.partition(".")
        kind = p.nodes[node].outputs.get(port, Any) if dot else p.inputs.get(source, Any)
        outputs[name] = json_schema(kind)
    return inputs, {"type": "object", "required": list(outputs), "properties": outputs}


def _body(schema: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    return {"content": {media: {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/Error"}
    return {str(s): {"description": "an error", **_body(ref)} for s in statuses}


def _pipeline_paths(name: str, p: Pipeline) -> dict[str, Any]:
    ref_in = {"$ref": f"#/components/schemas/{name}.inputs"}
    ref_out = {"$ref": f"#/components/schemas/{name}.outputs"}
    run_errors = _errors(400, 401, 413, 422, 429, 500, 502, 504)
    outcome = {"oneOf": [{"type": "object", "properties": {"outputs": ref_out}}, _ERROR]}
    return {
        f"/pipelines/{name}": {"get": {
            "summary": f"{name}: inputs, outputs and the graph as mermaid",
            "responses": {"200": {"description": "the pipeline", **_body({"type": "object"})}}}},
        f"/pipelines/{name}/run": {"post": {
            "summary": p.description or f"run {name} once",
            "requestBody": {"required": True, **_body(ref_in)},
            "responses": {"200": {"description": "the run's outputs", **_body({
                "type": "object", "properties": {"outputs": ref_out}})}, **run_errors}}},
        f"/pipelines/{name}/run_many": {"post": {
            "summary": f"run {name} on a list of inputs (or NDJSON in and out, in order)",
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"type": "array", "items": ref_in}},
                "application/x-ndjson": {"schema": ref_in}}},
            "responses": {"200": {"description": "one result per input, in order", "content": {
                "application/json": {"schema": {"type": "object", "properties": {
                    "results": {"type": "array", "items": outcome}}}},
                "application/x-ndjson": {"schema": outcome}}}, **run_errors}}},
        f"/pipelines/{name}/stream": {"post": {
            "summary": f"run {name} once, streaming node events, tokens and the result",
            "requestBody": {"required": True, **_body(ref_in)},
            "responses": {"200": {"description": "Server-Sent Events: node_started, "
                                  "node_finished, token, then result or error",
                                  **_body({"type": "string"}, "text/event-stream")},
                          **run_errors}}},
    }


def openapi(pipelines: Mapping[str, Pipeline], chat_models: list[str]) -> dict[str, Any]:
    """The whole document: the pipelines' endpoints, the OpenAI-compatible ones, operations."""
    paths: dict[str, Any] = {"/pipelines": {"get": {
        "summary": "the pipelines' names", "responses": {"200": {
            "description": "names", **_body({"type": "object", "properties": {
                "pipelines": {"type": "array", "items": {"type": "string"}}}})}}}}}
    schemas: dict[str, Any] = {"Error": _ERROR}
    for name, p in pipelines.items():
        paths.update(_pipeline_paths(name, p))
        schemas[f"{name}.inputs"], schemas[f"{name}.outputs"] = pipeline_schemas(p)
    if chat_models:
        paths["/v1/chat/completions"] = {"post": {
            "summary": "OpenAI-compatible chat: `model` is a pipeline taking `question` and "
                       f"giving `answer` ({', '.join(chat_models)})",
            "requestBody": {"required": True, **_body({"type": "object"})},
            "responses": {"200": {"description": "a chat.completion, or with stream: true "
                                                 "chat.completion.chunk events",
                                  **_body({"type": "object"})}, **_errors(400, 404, 422)}}}
        paths["/v1/models"] = {"get": {"summary": "the pipelines usable as chat models",
                                       "responses": {"200": {"description": "a model list"}}}}
    for path, summary in (("/health", "200 while the server is up"),
                          ("/ready", "200 once every pipeline's resources are prepared, "
                                     "else 503"),
                          ("/metrics", "Prometheus metrics")):
        paths[path] = {"get": {"summary": summary, "responses": {"200": {"description": "ok"}}}}
    return {"openapi": "3.1.0", "info": {"title": "llmkit serve", "version": version("llmkit")},
            "paths": paths, "components": {"schemas": schemas}}
