"""A diagram as text: a Mermaid flowchart (for Markdown and `GET /pipelines/{name}`) or a
Graphviz digraph."""

from __future__ import annotations

import re

from llmkit.draw.model import Box, Diagram

__all__ = ["dot", "mermaid"]


def _label(box: Box) -> str:
    return f"{box.title}\n({box.type})" if box.type else box.title


def mermaid(d: Diagram) -> str:
    """A Mermaid flowchart: inputs and outputs as rounded boxes, nodes as boxes."""
    ids: dict[str, str] = {}
    for box in d.boxes:
        base = re.sub(r"\W", "_", box.id.replace(":", "_"))
        ids[box.id] = base if base not in ids.values() else f"{base}_{len(ids)}"

    def text(label: str) -> str:
        return label.replace('"', "#quot;").replace("\n", "<br/>")

    lines = ["flowchart LR"]
    for box in d.boxes:
        shape = ('["', '"]') if box.kind == "node" else ('(["', '"])')
        lines.append(f"    {ids[box.id]}{shape[0]}{text(_label(box))}{shape[1]}")
    for e in d.edges:
        arrow = "-.->" if e.style == "dashed" else "-->"
        lines.append(f'    {ids[e.source]} {arrow}|"{text(e.label)}"| {ids[e.target]}')
    return "\n".join(lines)


def dot(d: Diagram) -> str:
    """A Graphviz digraph: inputs and outputs as ovals, nodes as boxes."""

    def quote(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    lines = [f"digraph {quote(d.title)} {{", "    rankdir=LR;", "    node [shape=box];"]
    for box in d.boxes:
        shape = "" if box.kind == "node" else ", shape=oval"
        lines.append(f"    {quote(box.id)} [label={quote(_label(box))}{shape}];")
    for e in d.edges:
        style = ", style=dashed" if e.style == "dashed" else ""
        lines.append(f"    {quote(e.source)} -> {quote(e.target)} [label={quote(e.label)}"
                     f"{style}];")
    lines.append("}")
    return "\n".join(lines)
