"""A pipeline as a diagram: Mermaid (for Markdown and `GET /pipelines/{name}`) or Graphviz
dot. Shared by the CLI's `graph` command and the server."""

from __future__ import annotations

import re

from llmkit.core.pipeline import Pipeline

__all__ = ["dot", "mermaid"]

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
