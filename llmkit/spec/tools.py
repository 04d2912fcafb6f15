"""The agent's tools as resources of a pipeline file (`pipeline_tool`, `node_tool`,
`function_tool`): built here, where pipeline files are read and type names looked up.

A pipeline tool's file is relative to the file that names it, reads the same environment
variables (its `env=`), and may import code only when that file may (`--allow-import`); so
may a node tool's `module:Class` type and a function tool's `module:function`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmkit.core.node import FunctionNode, Node
from llmkit.errors import PipelineError
from llmkit.nodes.agent import tools
from llmkit.spec.catalog import imports_allowed, lookup
from llmkit.spec.load import load_pipeline, loading_env

__all__ = ["function_tool", "node_tool", "pipeline_tool"]


def pipeline_tool(path: str, name: str | None = None, description: str | None = None,
                  parameters: Mapping[str, Any] | None = None) -> tools.Tool:
    """The pipeline file `path` as a tool: its inputs are the arguments, its outputs the
    result; named and described like the pipeline unless given."""
    try:
        p = load_pipeline(path, allow_import=imports_allowed(), env=loading_env())
    except OSError as exc:
        raise PipelineError(f"cannot read the tool's pipeline {path}: {exc.strerror}") from None
    return tools.pipeline_tool(p, name, description, parameters)


pipeline_tool.path_params = ("path",)  # type: ignore[attr-defined]


def node_tool(node: str, params: Mapping[str, Any] | None = None, name: str | None = None,
              description: str | None = None,
              parameters: Mapping[str, Any] | None = None) -> tools.Tool:
    """A node of type `node` built with `params` as a tool: its input ports without a default
    are the arguments; named like the type unless given."""
    made = lookup(node, allow_import=imports_allowed())(**dict(params or {}))
    if not isinstance(made, Node):
        raise PipelineError(f"node type '{node}' did not build a node")
    return tools.node_tool(made, name or node.rpartition(":")[2], description, parameters)


def function_tool(function: str, name: str | None = None, description: str | None = None,
                  parameters: Mapping[str, Any] | None = None) -> tools.Tool:
    """The Python function `module:function` as a tool (only with `--allow-import`)."""
    if ":" not in function:
        raise PipelineError(f"function '{function}' must be an import path module:function")
    made = lookup(function, allow_import=imports_allowed())()
    if not isinstance(made, FunctionNode):
        raise PipelineError(f"'{function}' is not a function")
    return tools.function_tool(made, name, description, parameters)
