"""A pipeline as Mermaid (for Markdown and `GET /pipelines/{name}`) or Graphviz dot text:
`Pipeline.draw` in the formats the server and `llmkit graph` print."""

from __future__ import annotations

from llmkit.core.pipeline import Pipeline

__all__ = ["dot", "mermaid"]


def mermaid(p: Pipeline) -> str:
    """A Mermaid flowchart: inputs and outputs as rounded boxes, nodes as boxes."""
    return p.draw(format="mermaid")  # type: ignore[return-value]


def dot(p: Pipeline) -> str:
    """A Graphviz digraph: inputs and outputs as ovals, nodes as boxes."""
    return p.draw(format="dot")  # type: ignore[return-value]
