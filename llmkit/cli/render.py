"""Text renderings for the CLI: a pipeline as a Mermaid or Graphviz (dot) diagram, and the
registered node and resource types with their ports and params."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from llmkit.core.pipeline import Pipeline
from llmkit.secrets import REDACTED, is_secret_name
from llmkit.spec.format import parameters

__all__ = ["dot", "mermaid", "node_types"]

Edge = tuple[str, str, str]  # (source id, target id, label)


def _parts(p: Pipeline) -> tuple[dict[str, str], list[Edge]]:
    """Every box (id → label) and every edge, with ids `input:x`, `node:x`, `output:x`."""
    p.validate()
    boxes = {f"input:{name}": name for name in p.inputs}
    boxes.update({f"node:{name}": f"{name}\n({node.type_name})"
                  for name, node in p.nodes.items()})
    boxes.update({f"output:{name}": name for name in p.output_map})

    def source_id(source: str) -> tuple[str, str]:
        node, dot, port = source.partition(".")
        return (f"node:{node}", port) if dot else (f"input:{source}", source)

    edges = []
    for name, wiring in p.wiring.items():
        for port, source in wiring.items():
            src, src_port = source_id(source)
            edges.append((src, f"node:{name}", port if port == src_port else
                          f"{src_port} → {port}"))
    for name, source in p.output_map.items():
        src, src_port = source_id(source)
        edges.append((src, f"output:{name}", src_port))
    return boxes, edges


def mermaid(p: Pipeline) -> str:
    """A Mermaid flowchart: inputs and outputs as rounded boxes, nodes as boxes."""
    boxes, edges = _parts(p)
    ids: dict[str, str] = {}
    for box in boxes:
        base = re.sub(r"\W", "_", box.replace(":", "_"))
        ids[box] = base if base not in ids.values() else f"{base}_{len(ids)}"

    def text(label: str) -> str:
        return label.replace('"', "#quot;").replace("\n", "<br/>")

    lines = ["flowchart LR"]
    for box, label in boxes.items():
        shape = ('["', '"]') if box.startswith("node:") else ('(["', '"])')
        lines.append(f"    {ids[box]}{shape[0]}{text(label)}{shape[1]}")
    lines += [f'    {ids[a]} -->|"{text(label)}"| {ids[b]}' for a, b, label in edges]
    return "\n".join(lines)


def dot(p: Pipeline) -> str:
    """A Graphviz digraph: inputs and outputs as ovals, nodes as boxes."""
    boxes, edges = _parts(p)

    def quote(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    lines = [f"digraph {quote(p.name)} {{", "    rankdir=LR;", "    node [shape=box];"]
    for box, label in boxes.items():
        shape = "" if box.startswith("node:") else ", shape=oval"
        lines.append(f"    {quote(box)} [label={quote(label)}{shape}];")
    lines += [f"    {quote(a)} -> {quote(b)} [label={quote(label)}];" for a, b, label in edges]
    lines.append("}")
    return "\n".join(lines)


def node_types() -> str:
    """Every registered node type (ports, params) and resource type (params)."""
    from llmkit.spec.catalog import available, available_resources

    lines = []
    for name, cls in available().items():
        lines += [*_heading(name, cls),
                  f"  inputs:  {_ports(cls, 'inputs')}",
                  f"  outputs: {_ports(cls, 'outputs')}",
                  f"  params:  {_params(cls)}"]
    resources = available_resources()
    if resources:
        lines.append("\nresource types (declare under resources:, use as $name):")
        for name, factory in resources.items():
            lines += [*_heading(name, factory), f"  params:  {_params(factory)}"]
    return "\n".join(lines).lstrip("\n")


def _heading(name: str, obj: Callable[..., Any]) -> Iterator[str]:
    yield f"\n{name}  ({obj.__module__}:{obj.__qualname__})"
    summary = (inspect.getdoc(obj) or "").strip().partition("\n")[0]
    if summary:
        yield f"  {summary}"


def _ports(cls: type, which: str) -> str:
    ports = inspect.getattr_static(cls, which)
    if isinstance(ports, property):  # ports set per instance: the property says how
        return f"({(ports.__doc__ or 'set per instance').strip().rstrip('.').lower()})"
    defaults: Mapping[str, Any] = cls.defaults if which == "inputs" else {}  # type: ignore[attr-defined]
    return ", ".join(f"{port}={defaults[port]!r}" if port in defaults else port
                     for port in ports) or "none"


def _params(factory: Callable[..., Any]) -> str:
    known = parameters(factory)
    if known is None:
        return "(unknown)"
    shown = []
    for param in known[0]:
        if param.default is param.empty:
            shown.append(f"{param.name} (required)")
        else:
            default = REDACTED if is_secret_name(param.name) and param.default is not None \
                else repr(param.default)
            shown.append(f"{param.name}={default}")
    return ", ".join(shown) or "none"
