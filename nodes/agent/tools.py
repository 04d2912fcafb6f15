"""Tools an agent offers its model: each is a small pipeline run through the engine, so its
nodes batch with the other agents' calls and cache with the run's cache store.

A tool has a name, a description and a JSON Schema of its arguments (from the pipeline's input
ports unless given). Made from a pipeline (`pipeline_tool`: its inputs are the arguments, its
outputs the result), a node (`node_tool`: its required input ports are the arguments) or a
Python function (`function_tool`: its parameters).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

from llmkit.core.node import Node, node
from llmkit.core.pipeline import Pipeline

__all__ = ["Tool", "function_tool", "node_tool", "pipeline_tool"]

_JSON_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean",
                               list: "array", tuple: "array", dict: "object"}


class Tool:
    """A pipeline offered to a model as a function: `spec` is what the model sees, `call` runs
    the pipeline on the model's arguments."""

    def __init__(self, pipeline: Pipeline, name: str, description: str | None = None,
                 parameters: Mapping[str, Any] | None = None) -> None:
        if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"a tool name is letters, digits, _ and -, not {name!r}")
        pipeline.validate()
        self.pipeline, self.name = pipeline, name
        self.description = description or pipeline.description or name
        self.parameters = dict(parameters) if parameters is not None else _schema(pipeline)

    def spec(self) -> dict[str, Any]:
        """The OpenAI-style function entry offered to the model."""
        return {"type": "function", "function": {"name": self.name,
                                                 "description": self.description,
                                                 "parameters": self.parameters}}

    async def call(self, arguments: Mapping[str, Any], cache: Any = None) -> dict[str, Any]:
        """The pipeline's outputs for `arguments` (unknown ones are refused, as a model that
        invents one must learn)."""
        unknown = set(arguments) - set(self.pipeline.inputs)
        if unknown:
            raise ValueError(f"unknown argument(s) {', '.join(sorted(unknown))}; "
                             f"{self.name} takes {', '.join(self.pipeline.inputs) or 'none'}")
        return await self.pipeline.arun(dict(arguments), cache=cache)

    def llmkit_fingerprint(self) -> dict[str, Any]:
        """What the model is offered and what the tool computes (each node's fingerprint)."""
        p = self.pipeline
        return {"tool": self.spec(), "nodes": {n: p.nodes[n] for n in sorted(p.nodes)},
                "wiring": p.wiring, "outputs": dict(p.output_map)}

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"


def pipeline_tool(pipeline: Pipeline, name: str | None = None, description: str | None = None,
                  parameters: Mapping[str, Any] | None = None) -> Tool:
    """A pipeline as a tool, named like the pipeline unless `name` is given."""
    return Tool(pipeline, name or pipeline.name, description, parameters)


def node_tool(tool_node: Node, name: str, description: str | None = None,
              parameters: Mapping[str, Any] | None = None) -> Tool:
    """A node as a tool: its input ports without a default are the arguments, all its
    outputs the result; described by the first line of its class's docstring by default."""
    ports = [port for port in tool_node.inputs if port not in tool_node.defaults]
    p = Pipeline(name=name, inputs={port: tool_node.inputs[port] for port in ports})
    p.add(name, tool_node, **{port: port for port in ports})
    p.outputs(**{out: f"{name}.{out}" for out in tool_node.outputs})
    return Tool(p, name, description or _first_line(type(tool_node).__doc__), parameters)


def function_tool(fn: Callable[..., Any], name: str | None = None,
                  description: str | None = None,
                  parameters: Mapping[str, Any] | None = None) -> Tool:
    """A Python function as a tool: its parameters are the arguments, its return value the
    result (`output`); described by its docstring's first line by default."""
    made = fn if isinstance(fn, Node) else node(fn)
    if isinstance(fn, Node):
        fn = getattr(fn, "fn", fn)
    return node_tool(made, name or fn.__name__, description or _first_line(fn.__doc__),
                     parameters)


def _first_line(doc: str | None) -> str | None:
    return inspect.cleandoc(doc).splitlines()[0] if doc and doc.strip() else None


def _schema(p: Pipeline) -> dict[str, Any]:
    """The JSON Schema of a pipeline's inputs, each typed by its port type where JSON has it."""
    return {"type": "object", "properties": {name: _json_type(kind)
                                             for name, kind in p.inputs.items()},
            "required": list(p.inputs), "additionalProperties": False}


def _json_type(kind: Any) -> dict[str, Any]:
    base = typing.get_origin(kind) or kind
    return {"type": _JSON_TYPES[base]} if base in _JSON_TYPES else {}
